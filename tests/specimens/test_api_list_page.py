"""The unfiltered API list reads its page with one precomposed statement (specimen_list_page);
it must answer exactly as the filtered (QuerySet) path answers, for every kind of viewer."""

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.db import connection

from collections_portal.common.pagination import CURSOR_SALT
from specimens.models import Taxon
from specimens.services import taxon_create

from ..factories.institutions import CollectionFactory
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/specimens/"
NO_OP_FILTER = {"modified_since": "1900-01-01T00:00:00Z"}  # narrows nothing, but takes the QuerySet path


@pytest.fixture
def records(institution, other_institution):
    """Own and other institutions' records in every state, with sensitive places (the record's own
    level and its taxon's), missing coordinates, and update times with and without microseconds."""
    sensitive_genus = taxon_create(name="Cypripedium", rank="genus")
    Taxon.objects.filter(pk=sensitive_genus.pk).update(locality_sensitivity="100km")  # its trigger sets the effective level
    made = []
    for n in range(24):
        collection = CollectionFactory(institution=institution if n % 2 else other_institution)
        kwargs = {
            "collection": collection, "catalog_number": f"L{n:03d}",
            "status": ["published", "draft", "in_review", "published"][n % 4],
            "decimal_latitude": Decimal("51.478712") + n, "decimal_longitude": Decimal("-0.295634") - n,
            "locality_sensitivity": ["none", "10km", "100km", "withhold"][n // 6],
            "year": None if n % 5 == 0 else 1900 + n, "event_date": "" if n % 5 == 0 else f"{1900 + n}-05-01",
        }
        if n % 7 == 0:
            kwargs.update(decimal_latitude=None, decimal_longitude=None)
        if n % 3 == 0:
            kwargs["taxon"] = sensitive_genus
        made.append(SpecimenFactory(**kwargs))
    with connection.cursor() as cursor:  # whole seconds on some rows: isoformat() then has no fraction
        cursor.execute("UPDATE specimens_specimen SET updated_at = %s WHERE id = ANY(%s)",
                       [dt.datetime(2026, 12, 7, 10, 0, 0, tzinfo=dt.UTC), [s.pk for s in made[::4]]])
    return made


def _walk(client, params):
    """Every page of 5, following the next cursors: (results, the ids the cursors point below)."""
    results, cursors, query = [], [], {"page_size": 5, **params}
    while True:
        response = client.get(LIST, query)
        assert response.status_code == 200
        body = response.json()
        results.extend(body["results"])
        if not body["next"]:
            return results, cursors
        cursor = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
        cursors.append(signing.loads(cursor, salt=CURSOR_SALT))
        query = {**query, "cursor": cursor}


@pytest.mark.parametrize("viewer", ["public", "curator", "other_curator", "programme_manager"])
def test_unfiltered_list_answers_as_the_queryset_path(records, viewer, public_client, curator_client,
                                                      client_for, other_institution, programme_manager_client):
    client = {"public": public_client, "curator": curator_client, "programme_manager": programme_manager_client,
              "other_curator": client_for("curator", other_institution) if viewer == "other_curator" else None}[viewer]

    fast, fast_cursors = _walk(client, {})
    slow, slow_cursors = _walk(client, NO_OP_FILTER)

    assert fast == slow and fast_cursors == slow_cursors
    assert len(fast) == (12 if viewer == "public" else 18 if "curator" in viewer else 24)
    modified = {row["modified"] for row in fast}
    assert "2026-12-07T10:00:00+00:00" in modified and any("." in m for m in modified)


def test_generalised_coordinates_in_the_unfiltered_list(records, public_client, curator_client):
    by_number = lambda rows: {r["catalog_number"]: r for r in rows}  # noqa: E731
    public = by_number(_walk(public_client, {})[0])
    own = by_number(_walk(curator_client, {})[0])

    # L003: the curator's institution, no level of its own but its taxon's 100 km: outsiders see whole degrees
    assert (public["L003"]["decimal_latitude"], public["L003"]["decimal_longitude"]) == (54.0, -3.0)
    assert (own["L003"]["decimal_latitude"], own["L003"]["decimal_longitude"]) == (54.478712, -3.295634)
    # L008: another institution's, 10 km: one decimal for everyone outside it
    assert (own["L008"]["decimal_latitude"], own["L008"]["decimal_longitude"]) == (59.5, -8.3)
    assert public["L019"]["decimal_latitude"] is None and own["L019"]["decimal_latitude"] == 70.478712  # withheld


def test_the_page_statement_is_prepared_once_per_connection_and_still_reads_current_levels(public_client):
    genus = taxon_create(name="Ophrys", rank="genus")
    specimen = SpecimenFactory(collection=CollectionFactory(), catalog_number="P1", status="published", taxon=genus,
                               decimal_latitude=Decimal("51.478712"), decimal_longitude=Decimal("-0.295634"))

    def shown():
        rows = public_client.get(LIST, {"page_size": 5}).json()["results"]
        return [(row["decimal_latitude"], row["decimal_longitude"]) for row in rows if row["uuid"] == str(specimen.uuid)]

    for _ in range(3):
        assert shown() == [(51.478712, -0.295634)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
                       "WHERE statement LIKE %s", ["%FROM specimens_specimen s JOIN institutions_institution%"])
        prepared = cursor.fetchall()
    assert len(prepared) == 1 and "LIMIT 6" in prepared[0][0] and prepared[0][1] >= 1

    # The plan is kept, the data is not: a taxon made sensitive now is generalised on the next page.
    Taxon.objects.filter(pk=genus.pk).update(locality_sensitivity="100km")
    assert shown() == [(51.0, -0.0)]
