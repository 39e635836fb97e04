"""Refuse a path or query string holding characters no address of ours can mean.

A NUL reaching PostgreSQL is a DataError (a 500) wherever a view filters on the text, so it is
refused once, here, before any view or middleware reads the path or query: a 400 with our page.
Bodies are left alone: form fields refuse NUL themselves (ProhibitNullCharactersValidator, also
in DRF's CharField), and upload views choose their own upload handlers before the body is read.
"""

import re
from urllib.parse import unquote_to_bytes

from django.core.exceptions import SuspiciousOperation

INVALID_CHARACTERS = (
    "The address contains characters that are not allowed (control characters or invalid UTF-8)."
)

# C0 control characters except tab, LF and CR; and lone surrogates (strict UTF-8 decoding cannot
# produce one, but an ASGI server's own decoding might).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


class InvalidRequestCharacters(SuspiciousOperation):
    """Django answers SuspiciousOperation with a 400 through handler400 (templates/400.html)."""


def _query_bytes(request) -> bytes:
    query = request.META.get("QUERY_STRING", "")
    try:
        return query.encode("latin-1")  # WSGI carries the bytes as sent, as Latin-1 text (PEP 3333)
    except UnicodeEncodeError:
        return query.encode("utf-8", "surrogatepass")  # text a server has already decoded


def _query_is_clean(request) -> bool:
    try:  # still percent-encoded here; these are the values views will see
        text = unquote_to_bytes(_query_bytes(request)).decode("utf-8")  # strict: no broken UTF-8
    except UnicodeDecodeError:
        return False
    return _FORBIDDEN.search(text) is None


class RequestCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Django has already re-percent-encoded broken UTF-8 in the path (it arrives at views as
        # inert text such as "%ED%A0%80"), so only the characters themselves are checked there.
        if _FORBIDDEN.search(request.path_info) or not _query_is_clean(request):
            raise InvalidRequestCharacters(INVALID_CHARACTERS)
        return self.get_response(request)
