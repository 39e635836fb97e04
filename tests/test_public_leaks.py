"""No exact sensitive value leaks: every GET route in the URL conf × every kind of outside viewer.

The routes come from the URL conf (a new page or API endpoint joins the matrix by itself); the
secrets come from specimens.public's own lists of what each level hides, so a field added there is
planted and looked for here. Each sensitive record has a history with an edit of its locality, so
the history diffs hold exact values too. The owning institution's curator is the control: the same
routes show them the exact values, so a check that finds nothing is a check that could have.
"""

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from institutions.models import Role
from specimens.models import Specimen
from specimens.public import GENERALISED_FIELDS, HIDDEN_NUMBERS, HIDDEN_TEXT
from specimens.services import (
    SPECIMEN_EDITABLE_FIELDS,
    specimen_create,
    specimen_publish,
    specimen_update,
    taxon_create,
    taxon_sensitivity_set,
)

from .factories.institutions import CollectionFactory

pytestmark = pytest.mark.django_db

# Location fields that are public at every level (the country is what GBIF generalises to).
PUBLIC_AT_EVERY_LEVEL = {"country", "country_code", "water_body", "geodetic_datum"}
LOCATION_GROUPS = ("Collecting event", "Locality")

# Per record: its level (own or through its taxon), exact coordinates and the digits that betray them.
RECORDS = {
    "10km": {"own": "10km", "taxon": "none", "lat": "51.478712", "lon": "-0.295634"},
    "100km": {"own": "100km", "taxon": "none", "lat": "54.123456", "lon": "-2.345678"},
    "withhold": {"own": "withhold", "taxon": "none", "lat": "56.777777", "lon": "-4.888888"},
    "taxon": {"own": "none", "taxon": "10km", "lat": "57.111111", "lon": "-5.222222"},
}
ELEVATION = 1234.5


def _marker(record: str, field: str, edit: int) -> str:
    return f"zq{record}{field.replace('_', '')}{edit}x".lower()


def test_every_location_field_is_classified_as_generalised_or_public():
    """A location field the public model does not know about would reach everyone unchanged."""
    from specimens.forms import FIELD_GROUPS

    location = {name for group, names in FIELD_GROUPS if group in LOCATION_GROUPS for name in names}
    unclassified = location - set(GENERALISED_FIELDS) - PUBLIC_AT_EVERY_LEVEL - {"event_date", "verbatim_event_date",
                                                                                  "recorded_by", "recorded_by_id"}
    assert unclassified == set()
    assert set(GENERALISED_FIELDS) <= set(SPECIMEN_EDITABLE_FIELDS)


@pytest.fixture
def sensitive_records(institution, user_with_role):
    """Published records at `institution`, one per level, each created then edited (two history versions)."""
    curator = user_with_role(Role.CURATOR, institution)
    collection = CollectionFactory(institution=institution, code="BOT")
    records = {}
    for key, spec in RECORDS.items():
        genus = taxon_create(name=f"Secretgenus{key}", rank="genus")
        taxon_sensitivity_set(taxon=genus, level=spec["taxon"])
        species = taxon_create(name=f"Secretgenus{key} rara", rank="species", parent=genus)
        level = spec["own"] if spec["own"] != "none" else spec["taxon"]
        hidden = [*HIDDEN_TEXT[level], *HIDDEN_NUMBERS[level]]

        def values(edit: int) -> dict:
            data = {name: _marker(key, name, edit) for name in HIDDEN_TEXT[level]}
            data.update({name: ELEVATION + edit for name in HIDDEN_NUMBERS[level]})
            return data

        specimen = specimen_create(collection=collection, user=curator, data={
            "catalog_number": f"SENS-{key}", "scientific_name": species.name, "locality_sensitivity": spec["own"],
            "decimal_latitude": Decimal("1.234567"), "decimal_longitude": Decimal("2.345678"), **values(1)})
        specimen = specimen_update(specimen=specimen, expected_version=specimen.version, user=curator, data={
            "decimal_latitude": Decimal(spec["lat"]), "decimal_longitude": Decimal(spec["lon"]), **values(2)})
        specimen_publish(specimen=specimen, user=curator)
        secrets = [_marker(key, name, edit) for name in HIDDEN_TEXT[level] for edit in (1, 2)]
        secrets += [spec["lat"].split(".")[1], spec["lon"].split(".")[1], "234567", "345678"]
        if HIDDEN_NUMBERS[level]:
            secrets += ["1235.5", "1236.5"]
        records[key] = (Specimen.objects.get(pk=specimen.pk), secrets, hidden)
    return records


def _get_routes():
    """(pattern text, kwargs names) of every route in the URL conf."""
    routes = []

    def walk(patterns, prefix):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                routes.append(prefix + str(entry.pattern))

    walk(get_resolver().url_patterns, "")
    return routes


ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def _urls_for(route: str, specimen: Specimen, institution_code: str) -> list[str]:
    """Concrete URLs for a route: the specimen's uuid, the institution's code, IIIF defaults."""
    if route.startswith("admin/") or route.startswith("^") or "(?P" in route:
        return []  # the Django admin is for administrators, who see everything
    fill = {"uuid": str(specimen.uuid), "code": institution_code, "region": "full", "size": "max",
            "rotation": "0", "filename": "default.jpg", "pk": str(specimen.pk)}
    url, missing = "/" + route, []
    for converter, name in ARGUMENT.findall(route):
        if name not in fill:
            missing.append(name)
        url = url.replace(f"<{converter + ':' if converter else ''}{name}>", fill.get(name, "x"))
    if missing:
        return []
    urls = [url]
    if "autocomplete" in url:
        urls += [f"{url}?q=zq", f"{url}?q=Secret", f"{url}?term=zq"]
    if url.rstrip("/").endswith("/api/v1/specimens"):
        urls += [f"{url}?format=json", f"{url}?institution={institution_code}", f"{url}?has_coordinates=true",
                 f"{url}?page_size=100"]
    return urls


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


OUTSIDERS = ["anonymous", Role.CURATOR, Role.COLLECTION_MANAGER, Role.DIGITISER, Role.PROGRAMME_MANAGER]


@pytest.mark.parametrize("viewer", OUTSIDERS)
def test_no_output_shows_an_outsider_an_exact_sensitive_value(viewer, sensitive_records, client_for, other_institution,
                                                              institution):
    client = Client() if viewer == "anonymous" else client_for(viewer, other_institution)
    routes = _get_routes()
    checked, leaks = 0, []
    for key, (specimen, secrets, _) in sensitive_records.items():
        for route in routes:
            for url in _urls_for(route, specimen, institution.code):
                response = client.get(url, HTTP_ACCEPT="text/html,application/json;q=0.9,*/*;q=0.8")
                assert response.status_code < 500, url
                body = _body(response).lower()
                checked += 1
                leaks += [(url, secret) for secret in secrets if secret.lower() in body]

    assert leaks == []
    assert checked > 4 * 20  # every record against a few dozen routes (about 30 today)


def test_the_owning_curator_sees_the_exact_values_the_others_do_not(sensitive_records, curator_client):
    """The control: the same planted values are on the owner's pages, so the matrix can find them."""
    for key, (specimen, secrets, _) in sensitive_records.items():
        detail = _body(curator_client.get(f"/api/v1/specimens/{specimen.uuid}/"))
        history = _body(curator_client.get(f"/curate/specimens/{specimen.uuid}/history/"))
        found = {secret for secret in secrets if secret in detail or secret in history}
        assert found == set(secrets), (key, set(secrets) - found)
