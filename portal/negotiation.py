"""HTTP content negotiation for the stable URI: which representation an `Accept` header asks for.

A pure function, by the rules of RFC 9110 §12.5.1: each media range carries a quality (q, 0 to 1,
default 1); an offered type takes the quality of the most specific range that matches it
(`text/turtle` beats `text/*` beats `*/*`); the offer with the highest quality above 0 wins, ties
going to the server's order. No header at all means `*/*`. A range with a malformed q-value is
ignored rather than guessed at.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Offered media types → representation, in the server's order of preference for ties.
OFFERS: tuple[tuple[str, str], ...] = (
    ("text/html", "html"),
    ("application/ld+json", "jsonld"),
    ("text/turtle", "ttl"),
    ("application/rdf+xml", "rdf"),
    ("application/json", "jsonld"),  # JSON-LD is JSON: a plain JSON client gets it too
)
MEDIA_TYPE = {"html": "text/html; charset=utf-8", "jsonld": "application/ld+json", "ttl": "text/turtle; charset=utf-8",
              "rdf": "application/rdf+xml; charset=utf-8"}
_Q = re.compile(r"^(0(\.\d{0,3})?|1(\.0{0,3})?)$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class MediaRange(NamedTuple):
    type: str
    subtype: str
    quality: float

    def specificity(self, media_type: str) -> int:
        """-1 when the range does not match `media_type`, else 0 (*/*), 1 (type/*) or 2 (exact)."""
        kind, _, sub = media_type.partition("/")
        if self.type == "*":
            return 0
        if self.type != kind:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else -1


def accept_parse(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header; malformed ones (no slash, `*/html`, bad q) are left out."""
    if header is None or not header.strip():
        return [MediaRange("*", "*", 1.0)]
    ranges = []
    for part in header.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        kind, slash, sub = media.lower().partition("/")
        if not slash or not _TOKEN.match(kind or "-") or not _TOKEN.match(sub or "-") or (kind == "*" and sub != "*"):
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _Q.match(value) else -1.0
                break  # RFC 9110: q separates media-type parameters from accept extensions
        if quality >= 0:
            ranges.append(MediaRange(kind, sub, quality))
    return ranges


def representation_choose(header: str | None, offers=OFFERS) -> str | None:
    """The representation the client prefers among `offers`, or None (answer 406)."""
    ranges = accept_parse(header)
    best, best_quality = None, 0.0
    for media_type, representation in offers:
        matches = [(r.specificity(media_type), r.quality) for r in ranges]
        matches = [m for m in matches if m[0] >= 0]
        if not matches:
            continue
        quality = max(matches)[1]  # the most specific range decides; among equals, the higher q
        if quality > best_quality:
            best, best_quality = representation, quality
    return best
