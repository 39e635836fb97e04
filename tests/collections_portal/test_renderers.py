"""The API's orjson renderer writes the bytes DRF's own JSON renderer writes."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from collections_portal.common.renderers import JSONRenderer

SAMPLES = [
    {"next": None, "results": [{"uuid": uuid.UUID(int=7), "scientific_name": "Bellis perennis L.", "year": 1887,
                                "decimal_latitude": 51.4967, "mids_level": None, "media_count": 0}]},
    {"when": dt.datetime(2024, 3, 1, 12, 30, 5, 120000, tzinfo=dt.UTC), "day": dt.date(1999, 6, 18),
     "time": dt.time(8, 15), "naive": dt.datetime(2001, 1, 1, 0, 0)},
    {"amount": Decimal("12.50"), "lazy": gettext_lazy("This field is required."),
     "error": [ErrorDetail("Ungültig: “Größe”", code="invalid")]},
    {"separators": "line\u2028para\u2029end", "quote": 'a "b" \\ c\n\t', "emoji": "🦋", "control": "\x00\x1f"},
    {1: "int key", None: "none key", 2.5: "float key"},
    {True: "bool key", False: "other bool key"},  # apart: True == 1 would overwrite the int key
    [1, 2.5, -0.0, 10**18, True, False, None, (3, 4), []],
    "just a string",
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_bytes_are_drfs(data):
    assert JSONRenderer().render(data, "application/json") == DRFJSONRenderer().render(data, "application/json")


def test_indented_output_is_drfs_and_nothing_renders_empty():
    data = {"a": [1, {"b": None}]}
    assert JSONRenderer().render(data, "application/json; indent=4") == DRFJSONRenderer().render(data, "application/json; indent=4")
    assert b"\n    " in JSONRenderer().render(data, "application/json; indent=4")
    assert JSONRenderer().render(None) == b""


def test_what_orjson_refuses_goes_the_stock_way():
    assert JSONRenderer().render({"big": 10**30}) == b'{"big":1000000000000000000000000000000}'
    with pytest.raises(TypeError):
        JSONRenderer().render({"thing": object()})


@pytest.mark.django_db
def test_the_api_answers_with_it(client):
    response = client.get("/api/v1/specimens/")
    assert response.status_code == 200 and isinstance(response.accepted_renderer, JSONRenderer)
