"""Manager reporting (issue 13): projects, events, watermarked ingestion, rollups, the dashboard."""

import csv
import datetime as dt
import io
import threading

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from digitisation.forecast import CONTINGENCY, pert_forecast
from digitisation.models import Batch, DailyStat, DigitisationEvent, MidsSnapshot, RecordSnapshot, Watermark
from digitisation.services import (
    EVENT_COUNT_OVER_BATCH,
    daily_stats_rebuild,
    daily_stats_update,
    event_log,
    events_ingest,
    project_create,
    snapshots_take,
)
from digitisation.views import csv_safe
from institutions.models import CollectionMetric, Role
from specimens.models import Specimen
from specimens.services import specimen_publish
from tests.conftest import worker_database_url
from tests.factories.institutions import CollectionFactory, CollectionMetricFactory
from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 7)


def _project(institution, **kwargs):
    values = dict(institution=institution, name="Herbarium 2027", start_date=TODAY, end_date=TODAY + dt.timedelta(days=700),
                  target_count=100_000, today=TODAY)
    return project_create(**{**values, **kwargs})


@pytest.mark.parametrize("change, field, message", [
    ({"end_date": TODAY - dt.timedelta(days=400), "start_date": TODAY - dt.timedelta(days=800)}, "end_date", "already passed"),
    ({"target_count": -5}, "target_count", "positive number"),
    ({"target_count": 0}, "target_count", "positive number"),
    ({"end_date": TODAY - dt.timedelta(days=1)}, "end_date", "must be after the start"),
])
def test_project_create_refuses_bad_dates_and_targets(institution, change, field, message):
    with pytest.raises(ValidationError) as caught:
        _project(institution, **change)
    assert message in " ".join(caught.value.message_dict[field])


def test_projects_for_one_collection_may_not_overlap(institution):
    herbarium = CollectionFactory(institution=institution, code="HERB")
    _project(institution, collection=herbarium)
    with pytest.raises(ValidationError, match="projects for one collection may not overlap"):
        _project(institution, collection=herbarium, name="Second", start_date=TODAY + dt.timedelta(days=300),
                 end_date=TODAY + dt.timedelta(days=900))
    with pytest.raises(ValidationError, match="may not overlap"):  # an institution-wide one covers it too
        _project(institution, name="Everything")
    _project(institution, collection=CollectionFactory(institution=institution, code="ENT"), name="Insects")  # another collection


def test_a_project_cannot_take_another_institutions_collection(institution, other_institution):
    with pytest.raises(ValidationError, match="belongs to OTHER, not OWN"):
        _project(institution, collection=CollectionFactory(institution=other_institution))


def test_hand_logged_counts_may_not_exceed_the_batch(institution, user_with_role):
    digitiser = user_with_role("digitiser", institution)
    tray = Batch.objects.create(institution=institution, name="Tray 14", size=400)
    event_log(user=digitiser, institution=institution, batch=tray, stage="imaged", count=350)
    with pytest.raises(ValidationError) as caught:
        event_log(user=digitiser, institution=institution, batch=tray, stage="imaged", count=51)
    assert caught.value.messages == [EVENT_COUNT_OVER_BATCH.format(batch="Tray 14", size=400, done=350, stage="imaged", count=51)]
    event_log(user=digitiser, institution=institution, batch=tray, stage="imaged", count=50)  # exactly full
    event_log(user=digitiser, institution=institution, batch=tray, stage="databased", count=400)  # another stage
    assert DigitisationEvent.objects.filter(batch=tray, stage="imaged").aggregate(n=Sum("count"))["n"] == 400


def test_events_for_another_institutions_specimens_or_batch_are_refused(institution, other_institution, user_with_role):
    digitiser = user_with_role("digitiser", institution)
    own = SpecimenFactory(collection__institution=institution)
    foreign = SpecimenFactory(collection__institution=other_institution)
    with pytest.raises(ValidationError, match="1 of these specimens belong to another institution"):
        event_log(user=digitiser, institution=institution, stage="georeferenced", count=2,
                  specimens=Specimen.objects.filter(pk__in=[own.pk, foreign.pk]))
    other_tray = Batch.objects.create(institution=other_institution, name="Their tray")
    with pytest.raises(ValidationError, match="belongs to OTHER, not OWN"):
        event_log(user=digitiser, institution=institution, batch=other_tray, stage="imaged", count=1)
    with pytest.raises(ValidationError, match="has not come yet"):
        event_log(user=digitiser, institution=institution, stage="imaged", count=1,
                  occurred_on=timezone.localdate() + dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="1 or more"):
        event_log(user=digitiser, institution=institution, stage="imaged", count=0)
    assert not DigitisationEvent.objects.exists()


def test_specimen_history_becomes_stage_events_once_each(institution, user_with_role):
    curator = user_with_role("curator", institution)
    tray = Batch.objects.create(institution=institution, name="Tray 1")
    specimen = SpecimenFactory(collection__institution=institution, recorded_by="J. Smith", decimal_latitude=51.5,
                               decimal_longitude=-0.1)
    tray.members.create(specimen=specimen)
    SpecimenFactory(collection__institution=institution, scientific_name="")  # databased only

    assert events_ingest() == 4  # databased, transcribed, georeferenced; the second: databased
    specimen_publish(specimen=specimen, user=curator)
    assert events_ingest() == 2  # verified and published, attributed to the curator
    assert events_ingest() == 0  # rows read again change nothing

    stages = dict(DigitisationEvent.objects.filter(specimen=specimen).values_list("stage", "user_id"))
    assert set(stages) == {"databased", "transcribed", "georeferenced", "verified", "published"}
    assert stages["published"] == curator.pk
    assert set(DigitisationEvent.objects.filter(specimen=specimen).values_list("batch_id", flat=True)) == {tray.pk}


def test_daily_stats_increment_and_rebuild_agree(institution, user_with_role):
    digitiser = user_with_role("digitiser", institution)
    for days_ago, n in ((3, 120), (2, 80), (2, 40), (0, 7)):
        event_log(user=digitiser, institution=institution, stage="imaged", count=n,
                  occurred_on=timezone.localdate() - dt.timedelta(days=days_ago))
    assert daily_stats_update() == 4
    before = sorted(DailyStat.objects.values_list("date", "stage", "user_id", "n"))
    assert sum(r[3] for r in before) == 247
    daily_stats_rebuild(date_from=timezone.localdate() - dt.timedelta(days=10), date_to=timezone.localdate())
    assert sorted(DailyStat.objects.values_list("date", "stage", "user_id", "n")) == before
    assert daily_stats_update() == 0
    with pytest.raises(ValidationError, match="start on or before its end"):
        daily_stats_rebuild(date_from=timezone.localdate(), date_to=timezone.localdate() - dt.timedelta(days=1))


@pytest.mark.django_db(transaction=True)
def test_rollup_rebuilds_during_concurrent_writers_lose_no_event(institution, user_with_role):
    """Four threads log work on their own connections while the rollup is updated and rebuilt."""
    from django.db import connections

    digitiser = user_with_role("digitiser", institution)
    stop, errors, written = threading.Event(), [], [0] * 4
    today = timezone.localdate()

    def writer(i):
        try:
            while not stop.is_set():
                event_log(user=digitiser, institution=institution, stage="imaged", count=i + 1,
                          occurred_on=today - dt.timedelta(days=i))
                written[i] += i + 1
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(15):
            daily_stats_update()
            daily_stats_rebuild(date_from=today - dt.timedelta(days=2), date_to=today)
    finally:
        stop.set()
        for t in threads:
            t.join()
    daily_stats_update()
    assert not errors
    assert sum(written) > 50, "the writers barely ran; the test proved nothing"
    assert DailyStat.objects.aggregate(n=Sum("n"))["n"] == sum(written)
    per_day = dict(DailyStat.objects.values_list("date").annotate(n=Sum("n")).values_list("date", "n"))
    assert per_day == {today - dt.timedelta(days=i): written[i] for i in range(4) if written[i]}


@pytest.mark.django_db(transaction=True)
def test_ingestion_waits_for_a_transaction_that_commits_a_lower_id_late(institution):
    """A writer holds a specimen event with a low id open while a later one commits: nothing is skipped."""
    collection = CollectionFactory(institution=institution)
    late = psycopg.connect(worker_database_url(), autocommit=False)
    try:
        with late.cursor() as cursor:  # a plain insert: the history trigger writes its event now, uncommitted
            cursor.execute("""
                INSERT INTO specimens_specimen (created_at, updated_at, uuid, collection_id, institution_id, status, version,
                    media_count, media, external_media, quality_flags, license, rights_holder, basis_of_record,
                    information_withheld, data_generalizations, occurrence_id, catalog_number, catalog_number_normalised,
                    other_catalog_numbers, record_number, recorded_by, recorded_by_id, sex, life_stage, preparations,
                    disposition, event_date, event_time, verbatim_event_date, field_number, habitat, country, country_code,
                    state_province, county, locality, verbatim_locality, water_body, geodetic_datum, location_id,
                    locality_sensitivity, scientific_name, identified_by, date_identified, identification_qualifier,
                    type_status, verbatim_identification, withdrawn_reason)
                VALUES (now(), now(), gen_random_uuid(), %s, %s, 'draft', 1, 0, '[]', '[]', '[]', 'x', '', 'PreservedSpecimen',
                    '', '', 'urn:late', 'LATE1', 'LATE1', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '',
                    '', '', '', '', '', 'none', '', '', '', '', '', '', '')""", [collection.pk, institution.pk])
        early_committed = SpecimenFactory(collection=collection)  # a higher event id, committed first
        events_ingest()
        assert DigitisationEvent.objects.filter(specimen=early_committed, stage="databased").exists()
        late.commit()
        events_ingest()
        late_id = Specimen.objects.get(catalog_number="LATE1").pk
        assert DigitisationEvent.objects.filter(specimen_id=late_id, stage="databased").exists()
    finally:
        late.close()


def test_pert_forecast_uses_recent_weeks_and_adds_contingency():
    forecast = pert_forecast(remaining=12_000, today=TODAY, weekly=[1000, 1200, 0, 800, 1000, 1500])
    # rates: optimistic 1500, most likely median 1000, pessimistic (slowest week with work) 800
    weeks = (12_000 / 1500 + 4 * 12_000 / 1000 + 12_000 / 800) / 6 * (1 + CONTINGENCY)
    assert forecast.basis == "recent weekly rates" and forecast.rates == (1500.0, 1000.0, 800.0)
    assert forecast.expected_weeks == pytest.approx(weeks)
    assert forecast.spread_weeks == pytest.approx((12_000 / 800 - 12_000 / 1500) / 6)
    assert forecast.earliest < forecast.finish < forecast.latest
    planned = pert_forecast(remaining=1000, today=TODAY, weekly=[0, 5], planned=(200, 100, 50))
    assert planned.basis == "planned rates"
    assert pert_forecast(remaining=1000, today=TODAY, weekly=[0, 5]) is None


def _activity(institution, user, days=30):
    event_log(user=user, institution=institution, stage="databased", count=500,
              occurred_on=timezone.localdate() - dt.timedelta(days=days))
    for i in range(days):
        event_log(user=user, institution=institution, stage="databased", count=300 + i,
                  occurred_on=timezone.localdate() - dt.timedelta(days=i))
    daily_stats_update()


def test_dashboard_reads_only_rollups_in_a_fixed_number_of_queries(client_for, institution, other_institution,
                                                                   user_with_role, django_assert_max_num_queries):
    digitiser = user_with_role("digitiser", institution)
    _project(institution, start_date=timezone.localdate() - dt.timedelta(days=60), today=timezone.localdate())
    _activity(institution, digitiser)
    SpecimenFactory.create_batch(3, collection__institution=institution)
    snapshots_take()
    client = client_for(Role.PROGRAMME_MANAGER)

    with django_assert_max_num_queries(30) as first:
        response = client.get(reverse("digitisation:dashboard"))
    assert response.status_code == 200
    _activity(other_institution, user_with_role("digitiser", other_institution), days=60)
    SpecimenFactory.create_batch(5, collection__institution=other_institution)
    snapshots_take()
    with django_assert_max_num_queries(len(first.captured_queries)):  # more data, no more queries
        assert client.get(reverse("digitisation:dashboard")).status_code == 200
    sql = " ".join(q["sql"] for q in first.captured_queries)
    assert 'FROM "specimens_specimen"' not in sql
    assert "digitisation_digitisationevent" not in sql  # pages read rollups, never the events


def test_a_collection_manager_sees_only_their_institution(client_for, institution, other_institution, user_with_role):
    _activity(other_institution, user_with_role("digitiser", other_institution), days=3)
    response = client_for(Role.COLLECTION_MANAGER, institution).get(reverse("digitisation:dashboard"),
                                                                    {"institution": "OTHER"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "No institution &#x27;OTHER&#x27; that you may see" in page
    assert "OTHER" not in page.split("No institution")[1].split("</main>")[0].replace("&#x27;OTHER&#x27;", "")
    assert client_for(None).get(reverse("digitisation:dashboard")).status_code == 302


def test_institutions_without_a_figure_say_so_instead_of_zero(client_for, institution, other_institution):
    CollectionMetricFactory(collection__institution=institution, value=1000, measured_on=TODAY)
    reported = CollectionMetricFactory(collection__institution=other_institution, value=2000, measured_on=TODAY)
    CollectionMetricFactory(collection=reported.collection, value=500, measured_on=TODAY,
                            measurement_type=CollectionMetric.MeasurementType.DIGITISED)
    response = client_for(Role.PROGRAMME_MANAGER).get(reverse("digitisation:dashboard_csv", args=["figures"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1:] == [["OTHER", "Other Museum", "2000", "500", "25.0"], ["OWN", "Own Museum", "1000", "", ""]]
    page = client_for(Role.PROGRAMME_MANAGER).get(reverse("digitisation:dashboard")).content.decode()
    assert "no figure reported" in page and "0.0 %" not in page


def test_the_figures_table_lets_names_wrap_and_labels_each_value_for_a_phone(client_for, institution):
    CollectionMetricFactory(collection__institution=institution, value=1000, measured_on=TODAY)
    page = client_for(Role.PROGRAMME_MANAGER).get(reverse("digitisation:dashboard")).content.decode()
    figures = page.split('id="chart-figures"')[1].split("</figure>")[0]
    assert 'class="chart-table stacked"' in figures
    # A name is text, not a number: no right-aligned, unbreakable "num" cell (it made the table 1,165 px wide).
    name = institution.name
    assert f'<td data-value="{name}" role="cell" data-label="Name">{name}</td>' in figures
    assert '<td data-value="1000" class="num" role="cell" data-label="Estimated objects">1,000</td>' in figures


def test_each_chart_has_a_csv_of_exactly_its_numbers_and_formulas_are_defused(client_for, institution, user_with_role):
    digitiser = user_with_role("digitiser", institution)
    _project(institution, name="=HYPERLINK(\"http://evil\")", start_date=timezone.localdate() - dt.timedelta(days=60),
             today=timezone.localdate())
    _activity(institution, digitiser, days=10)
    client = client_for(Role.COLLECTION_MANAGER, institution)
    week = list(csv.reader(io.StringIO(client.get(reverse("digitisation:dashboard_csv", args=["throughput-week"])).content.decode())))
    assert week[0] == ["Week starting", "Databased"]
    assert sum(int(r[1]) for r in week[1:]) == DailyStat.objects.aggregate(n=Sum("n"))["n"]
    progress = client.get(reverse("digitisation:dashboard_csv", args=["progress"])).content.decode()
    assert "'=HYPERLINK" in progress and "\n=HYPERLINK" not in progress
    assert client.get(reverse("digitisation:dashboard_csv", args=["nope"])).status_code == 404
    assert [csv_safe(v) for v in ("+1", "-2", "@x", "\tx", "plain", 5, None)] == ["'+1", "'-2", "'@x", "'\tx", "plain", 5, ""]


def test_filters_live_in_the_url_and_bad_ones_say_why(client_for, institution):
    client = client_for(Role.COLLECTION_MANAGER, institution)
    page = client.get(reverse("digitisation:dashboard"), {"from": "2026-02-30", "to": "2026-06-01"}).content.decode()
    assert "&#x27;2026-02-30&#x27; is not a date" in page
    page = client.get(reverse("digitisation:dashboard"), {"from": "2026-06-01", "to": "2026-01-01"}).content.decode()
    assert "The start date is after the end date" in page
    page = client.get(reverse("digitisation:dashboard"), {"from": "2026-01-05", "to": "2026-03-01", "institution": "own"}).content.decode()
    assert "from=2026-01-05&amp;to=2026-03-01&amp;institution=OWN" in page  # CSV links carry the view


def test_managers_land_on_the_dashboard_and_curators_on_the_work_list(client_for, institution):
    landing = reverse("digitisation:landing")
    assert client_for(Role.PROGRAMME_MANAGER).get(landing)["Location"] == reverse("digitisation:dashboard")
    assert client_for(Role.COLLECTION_MANAGER, institution).get(landing)["Location"] == reverse("digitisation:dashboard")
    assert client_for(Role.CURATOR, institution).get(landing)["Location"] == reverse("specimens:curate_list")


def test_snapshots_count_levels_statuses_and_failing_elements(institution):
    herbarium = CollectionFactory(institution=institution)
    SpecimenFactory.create_batch(2, collection=herbarium, mids_level=1)
    SpecimenFactory(collection=herbarium, status=Specimen.Status.PUBLISHED)
    snapshots_take()
    snapshots_take()  # a rerun replaces the day's rows
    assert dict(MidsSnapshot.objects.values_list("level", "n")) == {1: 2, None: 1}
    assert dict(RecordSnapshot.objects.filter(measure="status").values_list("key", "n")) == {"draft": 2, "published": 1}


def test_batch_page_shows_where_the_batch_stands_and_logs_work(client_for, institution):
    client = client_for(Role.DIGITISER, institution)
    tray = Batch.objects.create(institution=institution, name="Tray 9", size=300)
    url = reverse("digitisation:batch_log_work", args=[tray.uuid])
    client.post(url, {"stage": "imaged", "count": 250, "occurred_on": timezone.localdate().isoformat()})
    response = client.post(url, {"stage": "imaged", "count": 60, "occurred_on": timezone.localdate().isoformat()}, follow=True)
    page = response.content.decode()
    assert "would be more than the batch" in page
    assert "83 %" in page and client.user.username in page
    assert f'name="occurred_on" value="{timezone.localdate().isoformat()}"' in page  # a date input the browser can fill
    assert DigitisationEvent.objects.filter(batch=tray).aggregate(n=Sum("count"))["n"] == 250


def test_export_collection_metrics_writes_latimer_core_and_csv(institution, tmp_path):
    from django.core.management import call_command

    herbarium = CollectionFactory(institution=institution, code="HERB", name="Herbarium")
    CollectionMetricFactory(collection=herbarium, value=400, measured_on=dt.date(2024, 1, 1))
    SpecimenFactory.create_batch(3, collection=herbarium, mids_level=1)
    SpecimenFactory(collection=herbarium, mids_level=2)
    empty = CollectionFactory(institution=institution, code="=CMD", name="=cmd|' /C calc'!A0")
    snapshots_take()

    call_command("export_collection_metrics", "--format", "latimer", "--output", str(tmp_path / "ltc.json"))
    groups = {g["ltc:collectionCode"]: g for g in __import__("json").loads((tmp_path / "ltc.json").read_text())["ltc:ObjectGroup"]}
    facts = {f["ltc:measurementType"]: f for f in groups["OWN:HERB"]["ltc:MeasurementOrFact"]}
    assert facts["object count"]["ltc:measurementValue"] == 400 and facts["object count"]["ltc:measurementMethod"] == "Reported"
    assert facts["digitised object count"]["ltc:measurementValue"] == 4
    assert facts["digitisation level percentage"]["ltc:measurementValue"] == 1.0
    assert facts["MIDS level 1 count"]["ltc:measurementValue"] == 3 and facts["MIDS level 2 count"]["ltc:measurementValue"] == 1
    # No records and no estimate: no figures at all, not zeros.
    assert groups[empty.full_code]["ltc:MeasurementOrFact"] == []

    call_command("export_collection_metrics", "--format", "csv", "--output", str(tmp_path / "metrics.csv"))
    rows = {r["collection_code"]: r for r in csv.DictReader((tmp_path / "metrics.csv").open())}
    assert (rows["HERB"]["estimated_objects"], rows["HERB"]["digitised_records"], rows["HERB"]["mids1"]) == ("400", "4", "3")
    assert rows["'=CMD"]["collection_name"].startswith("'=cmd") and rows["'=CMD"]["digitised_percent"] == ""


def test_rollups_refresh_command_rebuilds_and_refuses_bad_dates(institution, user_with_role):
    from django.core.management import CommandError, call_command

    event_log(user=user_with_role("digitiser", institution), institution=institution, stage="imaged", count=12)
    out = io.StringIO()
    call_command("rollups_refresh", "--rebuild", "2026-01-01", "2026-12-31", "--snapshots", stdout=out)
    assert "events rolled up: 1" in out.getvalue() and "snapshots taken" in out.getvalue()
    assert DailyStat.objects.aggregate(n=Sum("n"))["n"] == 12
    with pytest.raises(CommandError, match="'2026-13-01' is not a date"):
        call_command("rollups_refresh", "--rebuild", "2026-13-01", "2026-12-31")
    with pytest.raises(CommandError, match="start on or before its end"):
        call_command("rollups_refresh", "--rebuild", "2026-12-31", "2026-01-01")


def test_batch_list_shows_how_far_each_batch_has_gone(client_for, institution, user_with_role, django_assert_max_num_queries):
    digitiser = user_with_role("digitiser", institution)
    trays = [Batch.objects.create(institution=institution, name=f"Tray {i}", size=200) for i in range(5)]
    for tray in trays[:4]:
        event_log(user=digitiser, institution=institution, batch=tray, stage="databased", count=200)
        event_log(user=digitiser, institution=institution, batch=tray, stage="imaged", count=50)
    client = client_for(Role.CURATOR, institution)
    with django_assert_max_num_queries(8):  # one GROUP BY for every listed batch, not one per batch
        page = client.get(reverse("digitisation:batch_list")).content.decode()
    assert page.count("Imaged: 50 of 200") == 4 and page.count("not started") == 1


def test_ingestion_reads_on_in_chunks_while_the_window_is_unsettled(institution):
    collection = CollectionFactory(institution=institution)
    SpecimenFactory.create_batch(5, collection=collection, scientific_name="")
    with connection.cursor() as cursor:  # identities survive rolled-back tests: start just below these rows
        cursor.execute("SELECT min(pgh_id) - 1 FROM specimens_specimenevent")
        start = cursor.fetchone()[0]
    Watermark.objects.create(name="specimen_history", position=start, pending_position=start)
    for _ in range(10):  # chunks of two history rows; inside the test's transaction nothing settles
        events_ingest(chunk=2, max_rounds=1)
    assert DigitisationEvent.objects.filter(stage="databased").count() == 5
