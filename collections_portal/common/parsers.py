"""The API's JSON parser: DRF's, but a body nested too deep is a 400, not a 500.

json.loads recurses once per level of nesting, so 5,000 opening brackets end in a RecursionError
(a 500). The depth is measured first, without recursion. (DRF hands JSON parsers request.body,
so DATA_UPLOAD_MAX_MEMORY_SIZE already caps the size.)
"""

import re
from itertools import accumulate

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

JSON_MAX_DEPTH = 100
JSON_TOO_DEEP = "JSON parse error - nested deeper than {limit} levels."

# A JSON string, its closing quote optional so an unterminated one is still read once, in linear
# time. Strings go first, so brackets inside them are never counted.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, counted without recursion or decoding."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


class JSONParser(parsers.JSONParser):
    max_depth = JSON_MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})  # text charsets only
        try:
            text = stream.read().decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        # Most bodies have too few brackets to go that deep; only the others are scanned.
        brackets = text.count("[") + text.count("{")
        if brackets > self.max_depth and json_nesting_depth(text) > self.max_depth:
            raise ParseError(JSON_TOO_DEEP.format(limit=self.max_depth))
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:  # cannot happen below the depth limit; never a 500 if it does
            raise ParseError(JSON_TOO_DEEP.format(limit=self.max_depth)) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
