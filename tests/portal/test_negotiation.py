"""The Accept header → representation, by RFC 9110's rules (portal.negotiation, a pure function)."""

import pytest

from portal.negotiation import accept_parse, representation_choose


@pytest.mark.parametrize("header, expected", [
    (None, "html"),
    ("", "html"),
    ("*/*", "html"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "html"),  # a browser
    ("application/ld+json", "jsonld"),
    ("application/json", "jsonld"),
    ("text/turtle", "ttl"),
    ("application/rdf+xml", "rdf"),
    ("APPLICATION/RDF+XML", "rdf"),  # media types are case-insensitive
    ("text/turtle;q=0.5, application/rdf+xml;q=0.9", "rdf"),
    ("text/turtle; q=1.0, application/ld+json; q=0.999", "ttl"),
    ("text/*", "html"),  # ties go to the server's order
    ("text/*;q=0.5, text/turtle", "ttl"),
    ("*/*;q=0.1, application/ld+json;q=0.2", "jsonld"),
    ("text/html;q=0, */*", "jsonld"),  # html refused, the rest equal: the next in our order
    ("text/turtle;q=0.8, */*;q=0", "ttl"),
    ("application/rdf+xml;q=bogus, text/turtle;q=0.3", "ttl"),  # a malformed q drops only its range
    ("application/rdf+xml;q=1.5, text/turtle;q=0.3", "ttl"),  # q above 1 is malformed
    ("text/turtle;charset=utf-8;q=0.7, application/ld+json;q=0.6", "ttl"),  # other parameters ignored
    ("garbage, text/turtle", "ttl"),
    (" application/ld+json ;  q=0.4 ,text/turtle;q=0.3", "jsonld"),
])
def test_representation_follows_q_values_and_wildcards(header, expected):
    assert representation_choose(header) == expected


@pytest.mark.parametrize("header", ["image/png", "application/pdf, image/*", "text/html;q=0, application/*;q=0, text/*;q=0",
                                    "*/*;q=0", "application/rdf+xml;q=7", "garbage"])
def test_nothing_acceptable_gives_none(header):
    assert representation_choose(header) is None


def test_the_most_specific_range_decides_even_with_a_lower_q():
    # text/turtle;q=0.1 is more specific than */*;q=1: turtle gets 0.1, html gets 1.
    assert representation_choose("text/turtle;q=0.1, */*") == "html"
    assert [r.quality for r in accept_parse("a/b;q=0.25, c/d")] == [0.25, 1.0]
