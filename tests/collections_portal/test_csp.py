"""Our CSP middleware writes what django-csp's would, building the site policy once."""

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware as StockCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from collections_portal.common.csp import CSPMiddleware


def headers(middleware_class, path="/api/v1/specimens/", *, read_nonce=False, **response_attrs):
    request = RequestFactory().get(path)
    middleware = middleware_class(lambda request: HttpResponse("ok"))
    middleware.process_request(request)
    nonce = str(request.csp_nonce) if read_nonce else None
    response = HttpResponse("ok")
    for name, value in response_attrs.items():
        setattr(response, name, value)
    response = middleware.process_response(request, response)
    return response.get(HEADER), response.get(HEADER_REPORT_ONLY), nonce, request


@pytest.mark.parametrize("case", [
    {},
    {"path": "/specimen/x"},
    {"read_nonce": True},
    {"_csp_update": {"img-src": ["https://images.example.org"]}},
    {"_csp_replace": {"script-src": None}},
    {"_csp_exempt": True},
])
def test_the_headers_are_django_csps(case):
    ours, stock = headers(CSPMiddleware, **case), headers(StockCSPMiddleware, **case)
    # (a nonce read goes the stock way; our policy asks for none, so neither header carries it)
    assert ours[:2] == stock[:2]
    assert ours[0] is None if case.get("_csp_exempt") else "default-src 'self'" in ours[0]


def test_a_nonce_asked_for_after_the_header_is_an_error():
    *_, request = headers(CSPMiddleware)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_excluded_prefixes_and_report_only_settings_are_kept():
    policy = {"EXCLUDE_URL_PREFIXES": ["/iiif/"], "DIRECTIVES": {"default-src": ["'self'"]}}
    report = {"DIRECTIVES": {"default-src": ["'none'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy, CONTENT_SECURITY_POLICY_REPORT_ONLY=report):
        excluded, report_only, *_ = headers(CSPMiddleware, "/iiif/3/x/info.json")
        kept, *_ = headers(CSPMiddleware, "/specimen/x")
    assert excluded is None and report_only == "default-src 'none'" and kept == "default-src 'self'"
