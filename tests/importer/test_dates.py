"""Dates as institutions write them (issue 10, part 1).

The fixtures copy the shapes of real exports: an IPT herbarium archive whose eventDates are
database timestamps (`1999-06-18 00:00:00.0`), a Specify export writing `11/30/2014` and
`02/1994`, spreadsheets with stray spaces (`1986 -06-22`), and GBIF downloads that carry
year/month/day beside (or instead of) eventDate.
"""

import datetime as dt

import pytest

from specimens.dates import EventDateError, parse_event_date, slash_order_detect
from specimens.models import ImportBatch, ImportRowError, Specimen

from .archives import csv_write, dwca_write, occurrences

pytestmark = pytest.mark.django_db


def _errors(batch, severity="error"):
    return {(line, column, value): message for line, column, value, message in ImportRowError.objects.filter(
        batch=batch, severity=severity).values_list("line", "column", "value", "message")}


def _specimen(number):
    return Specimen.objects.get(catalog_number=number)


# --- the reader ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, order, iso, start, end, time", [
    ("1999-06-18 00:00:00.0", None, "1999-06-18", "1999-06-18", "1999-06-18", ""),
    ("1999-06-18T00:00:00Z", None, "1999-06-18", "1999-06-18", "1999-06-18", ""),
    ("2001-05-02 14:30:00", None, "2001-05-02", "2001-05-02", "2001-05-02", "14:30:00"),
    ("1963-03-08T14:07-0600", None, "1963-03-08", "1963-03-08", "1963-03-08", "14:07-0600"),
    ("2007-03-01T13:00:00Z/2007-03-02T15:30:00Z", None, "2007-03-01/2007-03-02", "2007-03-01", "2007-03-02",
     "13:00:00Z/15:30:00Z"),
    ("1986 -06-22", None, "1986-06-22", "1986-06-22", "1986-06-22", ""),
    ("2007-11-13/15", None, "2007-11-13/15", "2007-11-13", "2007-11-15", ""),
    ("11/30/2014", "mdy", "2014-11-30", "2014-11-30", "2014-11-30", ""),
    ("30/11/2014", "dmy", "2014-11-30", "2014-11-30", "2014-11-30", ""),
    ("02/1994", "unknown", "1994-02", "1994-02-01", "1994-02-28", ""),
    ("6/6/2009", "unknown", "2009-06-06", "2009-06-06", "2009-06-06", ""),
])
def test_event_date_forms_are_read_with_midnight_as_no_time(text, order, iso, start, end, time):
    parsed = parse_event_date(text, order=order)

    assert (parsed.text, parsed.start.isoformat(), parsed.end.isoformat(), parsed.time) == (iso, start, end, time)


@pytest.mark.parametrize("text, order, message", [
    ("2009-02-30 00:00:00", None, "'2009-02-30 00:00:00' is not a real calendar date"),
    ("1999-13-01T00:00", None, "'1999-13-01T00:00' is not a real calendar date"),
    ("2009-06-18T25:10", None, "'2009-06-18T25:10' has a time that does not exist"),
    ("06/20/1990", "unknown", "'06/20/1990' could be day/month/year or month/day/year"),
    ("6/7/2009", "unknown", "'6/7/2009' could be"),
    ("11/30/2014", "dmy", "'11/30/2014' is not a real calendar date"),
    ("2011-06-23/1990", None, "'2011-06-23/1990' ends before it starts"),
    ("6/16/2009", None, "'6/16/2009' is not an ISO 8601 date"),  # the form reads ISO 8601 only
])
def test_unreadable_dates_quote_the_whole_value(text, order, message):
    with pytest.raises(EventDateError, match=message.replace("/", "/").replace("(", r"\(")):
        parse_event_date(text, order=order)


def test_slash_order_comes_from_the_file_only_when_the_file_proves_it():
    assert slash_order_detect(["11/30/2014", "02/1994", "1/2/2000"]).order == "mdy"
    assert slash_order_detect(["30/11/2014", "1/2/2000"]).order == "dmy"
    undecided = slash_order_detect(["1/2/2000", "3/4/2001"])
    assert undecided.order == "unknown" and undecided.ambiguous == 2 and "choose the order" in undecided.note
    assert slash_order_detect(["1/2/2000"], chosen="dmy").order == "dmy"
    both = slash_order_detect(["30/11/2014", "11/30/2014"])
    assert both.order == "unknown" and "both ways" in both.note
    contradicted = slash_order_detect(["11/30/2014"], chosen="dmy")
    assert contradicted.order == "mdy" and "contradicts" in contradicted.note


# --- the importer -------------------------------------------------------------------------------

def test_ipt_timestamps_import_with_midnight_as_no_time_and_other_times_in_event_time(run_import, tmp_path):
    archive = dwca_write(tmp_path / "herbarium.zip", core=occurrences([
        {"catalogNumber": "H1", "eventDate": "1999-06-18 00:00:00.0", "basisOfRecord": "PreservedSpecimen"},
        {"catalogNumber": "H2", "eventDate": "2001-05-02 14:30:00.0", "basisOfRecord": "PreservedSpecimen"},
        {"catalogNumber": "H3", "eventDate": "2003-07-01", "basisOfRecord": "PreservedSpecimen"},
    ]))

    batch = run_import(archive)

    assert (batch.status, batch.inserted_count, batch.rejected_count) == (ImportBatch.Status.DONE, 3, 0)
    h1, h2, h3 = _specimen("H1"), _specimen("H2"), _specimen("H3")
    assert (h1.event_date, h1.event_time, h1.verbatim_event_date) == ("1999-06-18", "", "1999-06-18 00:00:00.0")
    assert (h1.year, h1.month, h1.day, h1.event_date_start) == (1999, 6, 18, dt.date(1999, 6, 18))
    assert (h2.event_date, h2.event_time, h2.verbatim_event_date) == ("2001-05-02", "14:30:00.0", "2001-05-02 14:30:00.0")
    assert (h3.event_date, h3.verbatim_event_date) == ("2003-07-01", "")  # already ISO: nothing to keep
    assert any("were written in another form" in w and "2 value(s)" in w for w in batch.file_warnings)


def test_reimporting_timestamps_changes_nothing(run_import, tmp_path):
    archive = dwca_write(tmp_path / "herbarium.zip", core=occurrences([
        {"catalogNumber": "H1", "eventDate": "1999-06-18 00:00:00.0"}]))
    run_import(archive)

    again = run_import(archive)

    assert (again.inserted_count, again.updated_count, again.unchanged_count) == (0, 0, 1)


def test_specify_slash_dates_are_read_in_the_order_the_file_proves(run_import, tmp_path):
    source = csv_write(tmp_path / "specify.txt", [
        {"catalogNumber": "S1", "eventDate": "11/30/2014"},
        {"catalogNumber": "S2", "eventDate": "02/1994"},
        {"catalogNumber": "S3", "eventDate": "06/20/1990"},
        {"catalogNumber": "S4", "eventDate": "1/2/2000"},  # ambiguous alone; the file shows month first
    ])

    batch = run_import(source)

    assert (batch.inserted_count, batch.rejected_count) == (4, 0)
    assert [_specimen(n).event_date for n in ("S1", "S2", "S3", "S4")] == ["2014-11-30", "1994-02", "1990-06-20", "2000-01-02"]
    assert _specimen("S2").event_date_end == dt.date(1994, 2, 28)
    assert _specimen("S1").verbatim_event_date == "11/30/2014"
    assert any("Slash dates were read as month/day/year, as the file shows" in w for w in batch.file_warnings)


def test_ambiguous_slash_dates_are_row_errors_unless_the_order_is_chosen(run_import, tmp_path):
    rows = [{"catalogNumber": "A1", "eventDate": "6/7/2009"}, {"catalogNumber": "A2", "eventDate": "5/5/2010"}]

    guessed = run_import(csv_write(tmp_path / "a.txt", rows), dry_run=True)

    assert (guessed.inserted_count, guessed.rejected_count) == (1, 1)  # 5/5/2010 reads the same either way
    assert "'6/7/2009' could be day/month/year or month/day/year" in _errors(guessed)[(2, "eventDate", "6/7/2009")]
    assert any("choose the order for this import" in w for w in guessed.file_warnings)

    from imports.services import import_batch_create, import_batch_run

    chosen = import_batch_run(batch_id=import_batch_create(
        collection=guessed.collection, path=tmp_path / "a.txt", date_order="dmy").pk)

    assert (chosen.inserted_count, chosen.rejected_count) == (2, 0)
    assert _specimen("A1").event_date == "2009-07-06"


@pytest.mark.parametrize("value, message", [
    ("2009-02-30 00:00:00", "'2009-02-30 00:00:00' is not a real calendar date."),
    ("1999-13-01T00:00", "'1999-13-01T00:00' is not a real calendar date."),
    ("3000", "eventDate '3000' is in the future."),
    ("1990-06-20/1990-06-01", "'1990-06-20/1990-06-01' ends before it starts."),
])
def test_bad_dates_are_row_errors_quoting_the_whole_value(run_import, tmp_path, value, message):
    source = csv_write(tmp_path / "bad.txt", [{"catalogNumber": "B1", "eventDate": value},
                                              {"catalogNumber": "B2", "eventDate": "1990"}])

    batch = run_import(source)

    assert (batch.inserted_count, batch.rejected_count) == (1, 1)
    assert message in _errors(batch)[(2, "eventDate", value)]


def test_stray_spaces_inside_a_date_are_removed(run_import, tmp_path):
    batch = run_import(csv_write(tmp_path / "s.txt", [{"catalogNumber": "X1", "eventDate": "1986 -06-22"}]))

    assert batch.inserted_count == 1
    assert (_specimen("X1").event_date, _specimen("X1").event_date_start) == ("1986-06-22", dt.date(1986, 6, 22))


def test_year_month_day_give_the_event_date_and_its_range_when_event_date_is_empty(run_import, tmp_path):
    source = csv_write(tmp_path / "ymd.txt", [
        {"catalogNumber": "Y1", "eventDate": "", "year": "1921", "month": "7", "day": "4"},
        {"catalogNumber": "Y2", "eventDate": "", "year": "1921", "month": "2"},
        {"catalogNumber": "Y3", "eventDate": "", "year": "1921"},
        {"catalogNumber": "Y4", "eventDate": "", "year": "1921", "month": "2", "day": "30"},
        {"catalogNumber": "Y5", "eventDate": "1950-03-01", "year": "1921", "month": "2", "day": "3"},
    ])

    batch = run_import(source)

    assert (batch.inserted_count, batch.rejected_count) == (5, 0)
    y1, y2, y3, y4, y5 = (_specimen(f"Y{n}") for n in range(1, 6))
    assert (y1.event_date, y1.event_date_start, y1.event_date_end) == ("1921-07-04", dt.date(1921, 7, 4), dt.date(1921, 7, 4))
    assert (y2.event_date, y2.event_date_start, y2.event_date_end) == ("1921-02", dt.date(1921, 2, 1), dt.date(1921, 2, 28))
    assert (y3.event_date, y3.event_date_end) == ("1921", dt.date(1921, 12, 31))
    assert (y4.event_date, y4.event_date_start, y4.year, y4.month, y4.day) == ("", None, 1921, 2, 30)
    assert "1921-2-30 is not a real calendar date" in _errors(batch, "warning")[(5, "year", "1921-2-30")]
    assert (y5.event_date, y5.year, y5.month, y5.day) == ("1950-03-01", 1950, 3, 1)  # eventDate wins


def test_year_month_day_columns_alone_date_a_gbif_style_file(run_import, tmp_path):
    batch = run_import(csv_write(tmp_path / "ymd.txt", [{"catalogNumber": "G1", "year": "1880", "month": "10"}]))

    assert batch.inserted_count == 1
    assert (_specimen("G1").event_date, _specimen("G1").event_date_start) == ("1880-10", dt.date(1880, 10, 1))


def test_an_event_time_column_wins_over_the_time_in_event_date(run_import, tmp_path):
    run_import(csv_write(tmp_path / "t.txt", [
        {"catalogNumber": "T1", "eventDate": "2001-05-02T14:30", "eventTime": "14:30:00+01:00"},
        {"catalogNumber": "T2", "eventDate": "2001-05-02T09:15", "eventTime": ""},
    ]))

    assert (_specimen("T1").event_time, _specimen("T2").event_time) == ("14:30:00+01:00", "09:15")
