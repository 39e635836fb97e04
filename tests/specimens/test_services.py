import datetime as dt
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from collections_portal.common.errors import ConflictError
from specimens.dates import EventDateError, parse_event_date
from django.apps import apps

from specimens.models import Identification, Specimen
from specimens.services import (
    CATALOG_NUMBER_REQUIRED,
    CATALOG_NUMBER_TAKEN,
    COORDINATES_PAIR,
    DELETE_ONLY_DRAFTS,
    EVENT_DATE_IN_FUTURE,
    LATITUDE_RANGE,
    LONGITUDE_RANGE,
    PUBLISH_NEEDS_NAME,
    PUBLISH_WRONG_STATUS,
    TAXON_UNKNOWN,
    WITHDRAW_NEEDS_REASON,
    WITHDRAW_NOT_PUBLISHED,
    specimen_create,
    specimen_delete,
    specimen_publish,
    specimen_update,
    specimen_withdraw,
    taxon_ensure_path,
)

from ..factories.institutions import CollectionFactory, UserFactory
from ..factories.specimens import SpecimenFactory

SpecimenEvent = apps.get_model("specimens", "SpecimenEvent")
IdentificationEvent = apps.get_model("specimens", "IdentificationEvent")

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="BOT", name="Herbarium")


@pytest.fixture
def bellis(db):
    return taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("family", "Asteraceae"), ("genus", "Bellis"),
                                    ("species", "Bellis perennis")], authorship="L.")


@pytest.fixture
def taraxacum(bellis):
    return taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("family", "Asteraceae"), ("genus", "Taraxacum"),
                                    ("species", "Taraxacum officinale")], authorship="F.H.Wigg.")


def counts() -> dict:
    return {
        "specimens": Specimen.objects.count(), "identifications": Identification.objects.count(),
        "specimen_events": SpecimenEvent.objects.count(), "identification_events": IdentificationEvent.objects.count(),
    }


def messages_of(exc_info, field: str) -> list[str]:
    return exc_info.value.message_dict[field]


# --- create: field-level errors, nothing written -----------------------------------------------


@pytest.mark.parametrize("data, field, message", [
    ({"catalog_number": "  "}, "catalog_number", CATALOG_NUMBER_REQUIRED),
    ({"catalog_number": "E1", "scientific_name": "Nonexistia imaginaria"}, "scientific_name",
     TAXON_UNKNOWN.format(value="Nonexistia imaginaria")),
    ({"catalog_number": "E1", "event_date": "2999-06-14"}, "event_date", EVENT_DATE_IN_FUTURE.format(value="2999-06-14")),
    ({"catalog_number": "E1", "event_date": "14/06/1898"}, "event_date", "is not an ISO 8601 date"),
    ({"catalog_number": "E1", "decimal_latitude": "91", "decimal_longitude": "0"}, "decimal_latitude", LATITUDE_RANGE),
    ({"catalog_number": "E1", "decimal_latitude": "-90.5", "decimal_longitude": "0"}, "decimal_latitude", LATITUDE_RANGE),
    ({"catalog_number": "E1", "decimal_latitude": "51", "decimal_longitude": "180.01"}, "decimal_longitude", LONGITUDE_RANGE),
    ({"catalog_number": "E1", "decimal_latitude": "51.5"}, "decimal_longitude", COORDINATES_PAIR),
    ({"catalog_number": "E1", "decimal_longitude": "-0.1"}, "decimal_latitude", COORDINATES_PAIR),
    ({"catalog_number": "E1", "decimal_latitude": "north", "decimal_longitude": "0"}, "decimal_latitude", LATITUDE_RANGE),
])
def test_specimen_create_reports_field_errors_and_writes_nothing(collection, bellis, data, field, message):
    before = counts()

    with pytest.raises(ValidationError) as exc_info:
        specimen_create(collection=collection, data=data)

    assert any(message in m for m in messages_of(exc_info, field)), exc_info.value.message_dict
    assert counts() == before


def test_specimen_create_refuses_a_catalogue_number_already_used_in_the_collection(collection, bellis):
    specimen_create(collection=collection, data={"catalog_number": "E00012345", "scientific_name": "Bellis perennis"})
    before = counts()

    with pytest.raises(ValidationError, match=re.escape(
        CATALOG_NUMBER_TAKEN.format(value="E00012345", collection=collection)
    )):
        specimen_create(collection=collection, data={"catalog_number": "E00012345", "scientific_name": "Bellis perennis"})

    assert counts() == before


def test_the_same_catalogue_number_is_allowed_in_another_collection(collection, institution):
    specimen_create(collection=collection, data={"catalog_number": "E00012345"})
    zoology = CollectionFactory(institution=institution, code="ZOO")

    specimen = specimen_create(collection=zoology, data={"catalog_number": "E00012345"})

    assert specimen.pk and Specimen.objects.filter(catalog_number="E00012345").count() == 2


def test_specimen_create_reports_every_field_error_at_once(collection):
    with pytest.raises(ValidationError) as exc_info:
        specimen_create(collection=collection, data={
            "catalog_number": "", "event_date": "2999", "decimal_latitude": "95", "decimal_longitude": "200",
        })

    assert set(exc_info.value.message_dict) == {"catalog_number", "event_date", "decimal_latitude", "decimal_longitude"}


def test_specimen_create_mints_ids_derives_fields_and_records_the_identification(collection, bellis):
    user = UserFactory()

    specimen = specimen_create(collection=collection, user=user, data={
        "catalog_number": " E 000123 ", "scientific_name": "bellis perennis", "event_date": "1898-06",
        "decimal_latitude": "51.4787", "decimal_longitude": "-0.2956", "country_code": "gb",
    })

    specimen.refresh_from_db()
    assert specimen.occurrence_id.endswith(f"/specimen/{specimen.uuid}")
    assert specimen.catalog_number == "E 000123" and specimen.catalog_number_normalised == "E123"
    assert specimen.scientific_name == "Bellis perennis L." and specimen.taxon == bellis
    assert (specimen.event_date_start, specimen.event_date_end) == (dt.date(1898, 6, 1), dt.date(1898, 6, 30))
    assert (specimen.year, specimen.month, specimen.day) == (1898, 6, None)
    assert specimen.country_code == "GB" and specimen.status == Specimen.Status.DRAFT and specimen.version == 1
    assert specimen.created_by == user
    identification = specimen.identifications.get()
    assert identification.is_current and identification.taxon == bellis


def test_specimen_create_refuses_fields_set_only_by_workflow(collection):
    with pytest.raises(ValidationError) as exc_info:
        specimen_create(collection=collection, data={"catalog_number": "E1", "status": "published"})

    assert "status" in exc_info.value.message_dict
    assert not Specimen.objects.exists()


# --- update: errors, optimistic locking ----------------------------------------------------------


def test_specimen_update_error_writes_nothing(collection, bellis):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "scientific_name": "Bellis perennis"})
    specimen_create(collection=collection, data={"catalog_number": "E2"})
    before = counts()

    with pytest.raises(ValidationError) as exc_info:
        specimen_update(specimen=specimen, expected_version=1, data={
            "catalog_number": "E2", "scientific_name": "Nonexistia", "decimal_latitude": "12",
        })

    assert "catalog_number" in exc_info.value.message_dict or "scientific_name" in exc_info.value.message_dict
    assert counts() == before
    specimen.refresh_from_db()
    assert (specimen.catalog_number, specimen.version, specimen.scientific_name) == ("E1", 1, "Bellis perennis L.")


@pytest.mark.parametrize("data, field, message", [
    ({"catalog_number": "E2"}, "catalog_number", "already used in collection"),
    ({"event_date": "2999-01-01"}, "event_date", "is in the future"),
    ({"decimal_latitude": "-91", "decimal_longitude": "1"}, "decimal_latitude", LATITUDE_RANGE),
    ({"decimal_latitude": "10"}, "decimal_longitude", COORDINATES_PAIR),
])
def test_specimen_update_reports_field_errors(collection, data, field, message):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1"})
    specimen_create(collection=collection, data={"catalog_number": "E2"})
    before = counts()

    with pytest.raises(ValidationError) as exc_info:
        specimen_update(specimen=specimen, expected_version=1, data=data)

    assert any(message in m for m in messages_of(exc_info, field))
    assert counts() == before


def test_specimen_update_bumps_the_version_and_a_no_change_save_does_not(collection):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "locality": "Kew"})

    same = specimen_update(specimen=specimen, expected_version=1, data={"locality": "Kew"})
    changed = specimen_update(specimen=specimen, expected_version=1, data={"locality": "Kew Gardens"})

    assert same.version == 1
    assert changed.version == 2 and Specimen.objects.get(pk=specimen.pk).locality == "Kew Gardens"


def test_second_save_of_the_same_version_is_a_conflict_naming_the_changed_fields(collection):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "locality": "Kew", "habitat": "lawn"})
    specimen_update(specimen=specimen, expected_version=1, data={"locality": "Wakehurst"})
    before = counts()

    with pytest.raises(ConflictError) as exc_info:
        specimen_update(specimen=specimen, expected_version=1, data={"habitat": "meadow"})

    assert exc_info.value.current.version == 2
    assert exc_info.value.changed_fields == {"locality": ("Kew", "Wakehurst")}
    assert "version 2" in exc_info.value.message and "version 1" in exc_info.value.message
    assert counts() == before
    assert Specimen.objects.get(pk=specimen.pk).habitat == "lawn"


def test_api_answers_409_with_changed_fields_on_a_stale_version(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="BOT")
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "locality": "Kew"})
    url = reverse("specimens_api:specimen_detail", args=[specimen.uuid])
    first = curator_client.patch(url, data=json.dumps({"version": 1, "locality": "Wakehurst"}), content_type="application/json")

    second = curator_client.patch(url, data=json.dumps({"version": 1, "habitat": "meadow"}), content_type="application/json")

    assert first.status_code == 200 and first["ETag"] == '"2"'
    assert second.status_code == 409
    body = second.json()
    assert body["current_version"] == 2
    assert body["changed_fields"] == {"locality": {"yours": "Kew", "theirs": "Wakehurst"}}
    assert Specimen.objects.get(pk=specimen.pk).habitat == ""


def test_api_accepts_if_match_instead_of_a_version_field(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="BOT")
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1"})
    url = reverse("specimens_api:specimen_detail", args=[specimen.uuid])

    missing = curator_client.patch(url, data=json.dumps({"habitat": "bog"}), content_type="application/json")
    stale = curator_client.patch(url, data=json.dumps({"habitat": "bog"}), content_type="application/json", HTTP_IF_MATCH='"7"')
    fresh = curator_client.patch(url, data=json.dumps({"habitat": "bog"}), content_type="application/json", HTTP_IF_MATCH='"1"')

    assert missing.status_code == 400 and "version" in missing.json()
    assert stale.status_code == 409
    assert fresh.status_code == 200 and fresh.json()["habitat"] == "bog"


def test_api_validation_error_is_a_400_per_field(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="BOT")
    before = counts()

    response = curator_client.post(reverse("specimens_api:specimen_list"), content_type="application/json", data=json.dumps({
        "collection": "OWN:BOT", "catalog_number": "E1", "decimal_latitude": "45", "event_date": "2999-01-01",
    }))

    assert response.status_code == 400
    body = response.json()
    assert body["event_date"] == [EVENT_DATE_IN_FUTURE.format(value="2999-01-01")]
    assert body["decimal_longitude"] == [COORDINATES_PAIR]
    assert counts() == before
    assert collection.specimens.count() == 0


# --- identification history ----------------------------------------------------------------------


def test_changing_the_name_adds_a_current_identification_and_keeps_the_old_one(collection, bellis, taraxacum):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "scientific_name": "Bellis perennis"})
    first = specimen.identifications.get()

    updated = specimen_update(specimen=specimen, expected_version=1, data={
        "scientific_name": "Taraxacum officinale", "identified_by": "A. Botanist",
    })

    rows = list(Identification.objects.filter(specimen=specimen).order_by("id"))
    assert [r.pk for r in rows][0] == first.pk and len(rows) == 2
    assert [r.is_current for r in rows] == [False, True]
    assert rows[0].taxon == bellis and rows[0].verbatim_identification == "Bellis perennis L."
    assert rows[1].taxon == taraxacum and rows[1].identified_by == "A. Botanist"
    assert updated.taxon == taraxacum and updated.scientific_name == "Taraxacum officinale F.H.Wigg."


def test_exactly_one_current_identification_after_several_changes(collection, bellis, taraxacum):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "scientific_name": "Bellis perennis"})
    version = 1
    for name in ("Taraxacum officinale", "Bellis perennis", "Taraxacum officinale"):
        version = specimen_update(specimen=specimen, expected_version=version, data={"scientific_name": name}).version

    assert Identification.objects.filter(specimen=specimen).count() == 4
    assert Identification.objects.filter(specimen=specimen, is_current=True).count() == 1


def test_database_refuses_a_second_current_identification(collection, bellis):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "scientific_name": "Bellis perennis"})

    with pytest.raises(IntegrityError, match="identification_one_current"), transaction.atomic():
        Identification.objects.create(specimen=specimen, verbatim_identification="Bellis sp.", is_current=True)

    Identification.objects.create(specimen=specimen, verbatim_identification="Bellis sp.", is_current=False)
    assert specimen.identifications.filter(is_current=True).count() == 1


# --- publish, withdraw, delete -------------------------------------------------------------------


def test_publish_then_withdraw_then_publish_again(collection):
    specimen = SpecimenFactory(collection=collection)

    published = specimen_publish(specimen=specimen)
    assert published.status == Specimen.Status.PUBLISHED and published.published_at is not None
    with pytest.raises(ValidationError, match=re.escape(PUBLISH_WRONG_STATUS.format(status="published"))):
        specimen_publish(specimen=specimen)

    with pytest.raises(ValidationError, match=re.escape(WITHDRAW_NEEDS_REASON)):
        specimen_withdraw(specimen=specimen, reason="  ")
    withdrawn = specimen_withdraw(specimen=specimen, reason="Duplicate of E2")
    assert (withdrawn.status, withdrawn.withdrawn_reason) == (Specimen.Status.WITHDRAWN, "Duplicate of E2")
    with pytest.raises(ValidationError, match=re.escape(WITHDRAW_NOT_PUBLISHED)):
        specimen_withdraw(specimen=specimen, reason="again")

    again = specimen_publish(specimen=specimen)
    assert again.status == Specimen.Status.PUBLISHED and again.withdrawn_reason == "" and again.withdrawn_at is None
    assert again.version == specimen.version + 3  # every transition is a versioned write


def test_publish_needs_a_scientific_name(collection):
    specimen = SpecimenFactory(collection=collection, scientific_name="")

    with pytest.raises(ValidationError, match=re.escape(PUBLISH_NEEDS_NAME)):
        specimen_publish(specimen=specimen)

    assert Specimen.objects.get(pk=specimen.pk).status == Specimen.Status.DRAFT


def test_a_draft_can_be_deleted_with_its_identifications(collection, bellis):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "scientific_name": "Bellis perennis"})

    specimen_delete(specimen=specimen)

    assert not Specimen.objects.filter(pk=specimen.pk).exists()
    assert not Identification.objects.filter(specimen_id=specimen.pk).exists()
    assert SpecimenEvent.objects.filter(pgh_obj_id=specimen.pk, pgh_label="delete").count() == 1


@pytest.mark.parametrize("status, published_at", [
    (Specimen.Status.PUBLISHED, timezone.now()),
    (Specimen.Status.WITHDRAWN, timezone.now()),
    (Specimen.Status.IN_REVIEW, None),
    (Specimen.Status.DRAFT, timezone.now()),  # back to draft after being public: still refused
])
def test_only_a_never_published_draft_can_be_deleted(collection, status, published_at):
    specimen = SpecimenFactory(collection=collection, status=status, published_at=published_at)

    with pytest.raises(ValidationError, match=re.escape(DELETE_ONLY_DRAFTS)):
        specimen_delete(specimen=specimen)

    assert Specimen.objects.filter(pk=specimen.pk).exists()


def test_api_delete_of_a_published_record_is_a_400_and_keeps_it(curator_client, institution):
    specimen = SpecimenFactory(collection__institution=institution, status=Specimen.Status.PUBLISHED,
                               published_at=timezone.now())

    response = curator_client.delete(reverse("specimens_api:specimen_detail", args=[specimen.uuid]))

    assert response.status_code == 400
    assert response.json() == {"status": [DELETE_ONLY_DRAFTS]}
    assert Specimen.objects.filter(pk=specimen.pk).exists()


# --- event dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, start, end, ymd", [
    ("1898", "1898-01-01", "1898-12-31", (1898, None, None)),
    ("1898-06", "1898-06-01", "1898-06-30", (1898, 6, None)),
    ("2020-02", "2020-02-01", "2020-02-29", (2020, 2, None)),
    ("1898-06-14", "1898-06-14", "1898-06-14", (1898, 6, 14)),
    ("1898-6-4", "1898-06-04", "1898-06-04", (1898, 6, 4)),
    (" 1898-06-14T10:30:00Z ", "1898-06-14", "1898-06-14", (1898, 6, 14)),
    ("1963-03-08T14:07-0600", "1963-03-08", "1963-03-08", (1963, 3, 8)),
    ("1898-06-01/1898-06-20", "1898-06-01", "1898-06-20", (1898, 6, None)),
    ("2007-11-13/15", "2007-11-13", "2007-11-15", (2007, 11, None)),
    ("2011-06/07", "2011-06-01", "2011-07-31", (2011, None, None)),
    ("2008-02-15/03-14", "2008-02-15", "2008-03-14", (2008, None, None)),
    ("1900/1909", "1900-01-01", "1909-12-31", (None, None, None)),
    ("1900-01/1901", "1900-01-01", "1901-12-31", (None, None, None)),
    ("2007-03-01T13:00:00Z/2008-05-11T15:30:00Z", "2007-03-01", "2008-05-11", (None, None, None)),
    ("1898-06-14/1898-06-14", "1898-06-14", "1898-06-14", (1898, 6, 14)),
])
def test_parse_event_date_reads_iso_dates_partial_dates_and_ranges(text, start, end, ymd):
    parsed = parse_event_date(text)

    assert (parsed.start.isoformat(), parsed.end.isoformat()) == (start, end)
    assert (parsed.year, parsed.month, parsed.day) == ymd


@pytest.mark.parametrize("text, message", [
    ("6/16/2009", "is not an ISO 8601 date"),
    ("14 June 1898", "is not an ISO 8601 date"),
    ("1898-02-30", "is not a real calendar date"),
    ("1898-13", "is not a real calendar date"),
    ("1898-06-20/1898-06-01", "ends before it starts"),
    ("1898-06-20/", "is not an ISO 8601 date"),
])
def test_parse_event_date_refuses_what_it_cannot_read(text, message):
    with pytest.raises(EventDateError, match=message):
        parse_event_date(text)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_parse_event_date_of_nothing_is_none(text):
    assert parse_event_date(text) is None


def test_this_year_as_a_partial_date_is_not_in_the_future(collection):
    """'2026' ends on 31 December, but it starts in the past: only the start must not be in the future."""
    year = timezone.localdate().year

    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "event_date": str(year)})

    assert specimen.event_date_start == dt.date(year, 1, 1) and specimen.year == year
