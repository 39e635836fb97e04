"""django-csp's middleware, with the site policy built once.

django-csp rebuilds the policy for every response (two dataclass copies and two header builds):
a tenth of a millisecond, a few per cent of an API list request. A response that asks for
nothing of its own (no nonce read, no decorator's config, update, replace or exemption) gets the
site's two headers, built on first use; anything else goes through django-csp unchanged.
"""

from functools import cached_property

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as StockCSPMiddleware
from csp.utils import build_policy
from django.conf import settings

_RESPONSE_OVERRIDES = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt",
                       "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro")
_HEADERS = ((HEADER, "CONTENT_SECURITY_POLICY", False), (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True))


class CSPMiddleware(StockCSPMiddleware):
    @cached_property
    def _site_headers(self) -> list[tuple[str, str, tuple[str, ...]]]:
        headers = []
        for header, setting, report_only in _HEADERS:
            prefixes = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())
            headers.append((header, build_policy(report_only=report_only), prefixes))
        return headers

    def process_response(self, request, response):
        if (getattr(request, "_csp_nonce", None) is not None
                or any(hasattr(response, name) for name in _RESPONSE_OVERRIDES)
                or (settings.DEBUG and response.status_code in (404, 500))):
            return super().process_response(request, response)
        for header, policy, excluded_prefixes in self._site_headers:
            if policy and header not in response and not request.path_info.startswith(excluded_prefixes):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error, not a
        # nonce the header does not carry.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
