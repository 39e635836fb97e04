"""Sampling-event archives (issue 10): an Event core with an Occurrence extension, as IPT writes
them for surveys that also keep vouchers. The event's fields (date, place, protocol) are joined to
each occurrence as GBIF does, parent events filling what their children leave empty; rows whose
basisOfRecord is a specimen kind are imported, the rest reported as not specimens."""

import datetime as dt

import pytest

from specimens.models import ImportBatch, ImportRowError, Specimen

from .archives import EVENT, MULTIMEDIA, OCCURRENCE, Table, dwca_write

pytestmark = pytest.mark.django_db
EVENTS = Table(EVENT, "event.txt", ["id", "eventID", "parentEventID", "eventDate", "locality", "decimalLatitude",
                                    "decimalLongitude", "countryCode", "habitat"], [
    ["site-1", "site-1", "", "2019-06", "Loch Lomond", "56.1", "-4.6", "GB", "lake shore"],
    ["ev-1", "ev-1", "site-1", "2019-06-14 00:00:00", "", "", "", "", ""],
    ["ev-2", "ev-2", "site-1", "2019-06-15T10:30", "Loch Lomond, north bay", "56.2", "-4.6", "GB", ""],
])
OCCURRENCES = Table(OCCURRENCE, "occurrence.txt", ["id", "occurrenceID", "catalogNumber", "basisOfRecord",
                                                   "scientificName", "locality"], [
    ["ev-1", "urn:occ:1", "V-1", "PreservedSpecimen", "Esox lucius", ""],
    ["ev-1", "urn:occ:2", "V-2", "HumanObservation", "Perca fluviatilis", ""],
    ["ev-2", "urn:occ:3", "V-3", "PRESERVED_SPECIMEN", "Salmo trutta", "jetty"],
    ["ev-2", "urn:occ:4", "V-4", "MachineObservation", "Salmo trutta", ""],
    ["ev-9", "urn:occ:5", "V-5", "FossilSpecimen", "Salmo trutta", ""],
])


def test_occurrences_of_an_event_core_import_with_their_events_fields(run_import, tmp_path):
    batch = run_import(dwca_write(tmp_path / "survey.zip", core=EVENTS, extensions=[OCCURRENCES]))

    assert batch.status == ImportBatch.Status.DONE
    assert (batch.rows_total, batch.inserted_count, batch.rejected_count) == (5, 3, 2)
    v1, v3, v5 = (Specimen.objects.get(catalog_number=n) for n in ("V-1", "V-3", "V-5"))
    # ev-1 has no place of its own: its parent site gives it; its own date (a midnight timestamp) wins.
    assert (v1.event_date, v1.event_date_start, v1.locality, v1.country_code) == ("2019-06-14", dt.date(2019, 6, 14), "Loch Lomond", "GB")
    assert (str(v1.decimal_latitude), v1.habitat) == ("56.100000", "lake shore")
    # An occurrence's own value wins over its event's.
    assert (v3.locality, v3.event_date, v3.event_time, str(v3.decimal_latitude)) == ("jetty", "2019-06-15", "10:30", "56.200000")
    assert (v5.event_date, v5.locality) == ("", "")  # its event is not in the file
    assert any("1 occurrence row(s) name an event that is not in event.txt" in w for w in batch.file_warnings)


def test_rows_that_are_not_specimens_are_reported_as_such(run_import, tmp_path):
    batch = run_import(dwca_write(tmp_path / "survey.zip", core=EVENTS, extensions=[OCCURRENCES]))

    refused = dict(ImportRowError.objects.filter(batch=batch, severity="error").values_list("line", "value"))
    assert refused == {3: "HumanObservation", 5: "MachineObservation"}
    assert ImportRowError.objects.filter(batch=batch, message__startswith="Not a specimen").count() == 2
    assert not Specimen.objects.filter(catalog_number__in=["V-2", "V-4"]).exists()


def test_an_event_core_without_occurrences_is_refused_naming_what_is_missing(run_import, tmp_path):
    batch = run_import(dwca_write(tmp_path / "events.zip", core=EVENTS))

    assert batch.status == ImportBatch.Status.REJECTED
    assert "sampling events" in batch.file_errors[0] and "no Occurrence extension" in batch.file_errors[0]


def test_extensions_of_events_are_left_out_with_a_warning(run_import, tmp_path):
    media = Table(MULTIMEDIA, "multimedia.txt", ["id", "identifier"], [["ev-1", "https://example.org/site.jpg"]])

    batch = run_import(dwca_write(tmp_path / "survey.zip", core=EVENTS, extensions=[OCCURRENCES, media]))

    assert batch.inserted_count == 3
    assert any("multimedia.txt" in w and "describes events" in w for w in batch.file_warnings)
    assert not Specimen.objects.exclude(external_media=[]).exists()
