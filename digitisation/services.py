"""Every write to digitisation batches."""

import datetime as dt

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from institutions.models import Institution

from .models import DEFAULT_STAGES, Batch, BatchSpecimen, DailyStat, DigitisationEvent, Project, Watermark, WeeklyStat

BATCH_NAME_TAKEN = "{institution} already has a batch called '{name}'."
BATCH_OTHER_INSTITUTION = "Only {institution}'s records can go into this batch; {n} selected record(s) belong elsewhere."


@transaction.atomic
def batch_create(*, institution, name: str, kind: str = Batch.Kind.TRAY, user=None) -> Batch:
    name = " ".join((name or "").split())
    if Batch.objects.filter(institution=institution, name=name).exists():
        raise ValidationError({"name": BATCH_NAME_TAKEN.format(institution=institution.code, name=name)})
    batch = Batch(institution=institution, name=name, kind=kind, created_by=user)
    batch.full_clean(validate_constraints=False)
    with pghistory.context(user=getattr(user, "pk", None), action="batch_create"):
        batch.save()
    return batch


@transaction.atomic
def batch_assign_specimens(*, batch: Batch, specimens, user=None) -> int:
    """Add the selected records to the batch, set-based; ones already in it are left alone.

    Every added membership is an audit row (who, when, which batch). Returns how many were added.
    """
    foreign = specimens.exclude(institution_id=batch.institution_id).count()
    if foreign:
        raise ValidationError({"batch": BATCH_OTHER_INSTITUTION.format(institution=batch.institution.code, n=foreign)})
    existing = set(BatchSpecimen.objects.filter(batch=batch).values_list("specimen_id", flat=True))
    new = [BatchSpecimen(batch=batch, specimen_id=pk, added_by=user)
           for pk in specimens.values_list("pk", flat=True) if pk not in existing]
    with pghistory.context(user=getattr(user, "pk", None), action="batch_assign_specimens", source="bulk"):
        BatchSpecimen.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


# --- Projects ------------------------------------------------------------------------------------

PROJECT_END_BEFORE_START = "The end date must be after the start date."
PROJECT_TARGET_IN_PAST = "The target date {end} has already passed; choose a date in the future."
PROJECT_TARGET_NEGATIVE = "The target must be a positive number of specimens."
PROJECT_OVERLAPS = "{name} already covers {scope} from {start} to {end}; projects for one collection may not overlap."
PROJECT_OTHER_INSTITUTION = "That collection belongs to {owner}, not {institution}."
PROJECT_UNKNOWN_STAGE = "'{stage}' is not one of this project's stages ({stages})."
PROJECT_PERT_ORDER = "Planned weekly rates must run optimistic ≥ most likely ≥ pessimistic."


@transaction.atomic
def project_create(*, institution, name: str, start_date: dt.date, end_date: dt.date, target_count: int,
                   collection=None, target_mids_level: int = 1, stages: list[str] | None = None,
                   counted_stage: str = "databased", pert: tuple[int, int, int] | None = None, user=None,
                   today: dt.date | None = None) -> Project:
    """A funded project. Dates, targets and overlaps are checked here, under a lock on the institution."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    if target_count is None or target_count <= 0:
        errors.setdefault("target_count", []).append(PROJECT_TARGET_NEGATIVE)
    if start_date and end_date and end_date <= start_date:
        errors.setdefault("end_date", []).append(PROJECT_END_BEFORE_START)
    elif end_date and end_date < today:
        errors.setdefault("end_date", []).append(PROJECT_TARGET_IN_PAST.format(end=end_date.isoformat()))
    if collection is not None and collection.institution_id != institution.pk:
        errors.setdefault("collection", []).append(
            PROJECT_OTHER_INSTITUTION.format(owner=collection.institution.code, institution=institution.code))
    stages = [s.strip().lower() for s in (stages or DEFAULT_STAGES) if s.strip()]
    if counted_stage not in stages:
        errors.setdefault("counted_stage", []).append(PROJECT_UNKNOWN_STAGE.format(stage=counted_stage, stages=", ".join(stages)))
    if pert and not (pert[0] >= pert[1] >= pert[2] >= 0):
        errors.setdefault("pert_most_likely", []).append(PROJECT_PERT_ORDER)
    if errors:
        raise ValidationError(errors)
    # Two managers creating projects at once: the second waits here and then sees the first.
    Institution.objects.select_for_update().get(pk=institution.pk)
    overlapping = Project.objects.filter(institution=institution, start_date__lte=end_date, end_date__gte=start_date)
    if collection is not None:
        overlapping = overlapping.filter(Q(collection__isnull=True) | Q(collection=collection))
    clash = overlapping.select_related("collection").first()
    if clash is not None:
        scope = clash.collection.name if clash.collection_id else f"all of {institution.code}"
        raise ValidationError({"start_date": [PROJECT_OVERLAPS.format(
            name=clash.name, scope=scope, start=clash.start_date.isoformat(), end=clash.end_date.isoformat())]})
    project = Project(
        institution=institution, collection=collection, name=" ".join((name or "").split()), start_date=start_date,
        end_date=end_date, target_count=target_count, target_mids_level=target_mids_level, stages=stages,
        counted_stage=counted_stage, created_by=user,
        pert_optimistic=pert[0] if pert else None, pert_most_likely=pert[1] if pert else None,
        pert_pessimistic=pert[2] if pert else None,
    )
    project.full_clean()
    project.save()
    return project


# --- Events --------------------------------------------------------------------------------------
# Every writer of DigitisationEvent holds this lock shared for its transaction; the rollup holds it
# exclusively for the instant it reads the highest id, so no lower id can commit after that read.
EVENT_WRITE_LOCK = 0x64696769  # "digi"

EVENT_COUNT_NOT_POSITIVE = "Enter how many specimens, 1 or more."
EVENT_IN_FUTURE = "Work cannot be logged for a day that has not come yet ({day})."
EVENT_UNKNOWN_STAGE = "'{stage}' is not a stage of this batch's workflow ({stages})."
EVENT_COUNT_OVER_BATCH = ("{batch} holds {size} objects and {done} are already logged as {stage}; "
                          "{count} more would be more than the batch.")
EVENT_OTHER_INSTITUTION = "{n} of these specimens belong to another institution; work is logged for {institution}'s own."
EVENT_BATCH_OTHER_INSTITUTION = "Batch {batch} belongs to {owner}, not {institution}."


def _events_lock_shared(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [EVENT_WRITE_LOCK])


def _project_for(*, institution_id: int, collection_id: int | None, on: dt.date) -> int | None:
    project = (Project.objects.filter(institution_id=institution_id, start_date__lte=on, end_date__gte=on)
               .filter(Q(collection__isnull=True) | Q(collection_id=collection_id))
               .order_by(F("collection_id").asc(nulls_last=True)).values_list("pk", flat=True).first())
    return project


@transaction.atomic
def event_log(*, user, institution, stage: str, count: int, batch: Batch | None = None, collection=None,
              occurred_on: dt.date | None = None, minutes: int | None = None, note: str = "",
              specimens=None) -> list[DigitisationEvent]:
    """Work logged by hand: "tray 14: 350 sheets imaged today" (a count, no specimen), or a stage
    reached by named specimens (one event each, counted once per stage)."""
    today = timezone.localdate()
    occurred_on = occurred_on or today
    stage = (stage or "").strip().lower()
    if occurred_on > today:
        raise ValidationError({"occurred_on": [EVENT_IN_FUTURE.format(day=occurred_on.isoformat())]})
    if batch is not None:
        # Locked: two people logging the same tray at once cannot both squeeze past its size.
        batch = Batch.objects.select_for_update(of=("self",)).select_related("project", "institution").get(pk=batch.pk)
        if batch.institution_id != institution.pk:
            raise ValidationError({"batch": [EVENT_BATCH_OTHER_INSTITUTION.format(
                batch=batch.name, owner=batch.institution.code, institution=institution.code)]})
    project = batch.project if batch is not None and batch.project_id else None
    stages = project.stages if project else DEFAULT_STAGES
    if stage not in stages:
        raise ValidationError({"stage": [EVENT_UNKNOWN_STAGE.format(stage=stage, stages=", ".join(stages))]})
    if collection is not None and collection.institution_id != institution.pk:
        raise ValidationError({"collection": [PROJECT_OTHER_INSTITUTION.format(
            owner=collection.institution.code, institution=institution.code)]})
    occurred_at = timezone.make_aware(dt.datetime.combine(occurred_on, dt.time(12))) if occurred_on != today else timezone.now()
    project_id = project.pk if project else _project_for(
        institution_id=institution.pk, collection_id=getattr(collection, "pk", None), on=occurred_on)
    common = dict(institution=institution, project_id=project_id, batch=batch, stage=stage,
                  minutes=minutes, user=user, occurred_at=occurred_at, source=DigitisationEvent.Source.MANUAL,
                  note=(note or "").strip()[:300])

    if specimens is not None:
        foreign = specimens.exclude(institution_id=institution.pk).count()
        if foreign:
            raise ValidationError({"specimens": [EVENT_OTHER_INSTITUTION.format(n=foreign, institution=institution.code)]})
        rows = [DigitisationEvent(**common, collection_id=collection_id, specimen_id=pk, count=1)
                for pk, collection_id in specimens.values_list("pk", "collection_id")]
        with connection.cursor() as cursor:
            _events_lock_shared(cursor)
        return DigitisationEvent.objects.bulk_create(rows, ignore_conflicts=True)

    if count is None or count < 1:
        raise ValidationError({"count": [EVENT_COUNT_NOT_POSITIVE]})
    if batch is not None:
        size = batch.size or batch.members.count()
        done = (DigitisationEvent.objects.filter(batch=batch, stage=stage).aggregate(n=Sum("count"))["n"] or 0)
        if size and done + count > size:
            raise ValidationError({"count": [EVENT_COUNT_OVER_BATCH.format(
                batch=batch.name, size=size, done=done, stage=stage, count=count)]})
    event = DigitisationEvent(**common, collection=collection, count=count)
    event.full_clean()
    with connection.cursor() as cursor:
        _events_lock_shared(cursor)
    event.save()
    return [event]


# --- Facts from lower tables → events (watermarked, idempotent) ------------------------------------

INGEST_CHUNK = 200_000

# Specimen history rows: which stage each row shows the record has reached.
_SPECIMEN_STAGES_SQL = """
WITH src AS (
    SELECT e.pgh_id, e.pgh_obj_id AS specimen_id, e.institution_id, e.collection_id, e.pgh_created_at AS occurred_at,
           e.status, e.scientific_name, e.recorded_by, e.event_date, e.locality, e.verbatim_locality, e.decimal_latitude,
           CASE WHEN c.metadata->>'user' ~ '^[0-9]{1,18}$' THEN (c.metadata->>'user')::bigint END AS user_id
    FROM specimens_specimenevent e
    LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id
    WHERE e.pgh_id > %(lo)s AND e.pgh_id <= %(hi)s AND e.pgh_label IN ('insert', 'update')
), reached AS (
    SELECT DISTINCT ON (src.specimen_id, s.stage) src.*, s.stage
    FROM src CROSS JOIN LATERAL (VALUES
        ('databased', true),
        ('transcribed', src.scientific_name <> '' AND (src.recorded_by <> '' OR src.event_date <> ''
                                                       OR src.locality <> '' OR src.verbatim_locality <> '')),
        ('georeferenced', src.decimal_latitude IS NOT NULL),
        ('verified', src.status IN ('in_review', 'published')),
        ('published', src.status = 'published')
    ) AS s(stage, ok)
    WHERE s.ok
    ORDER BY src.specimen_id, s.stage, src.pgh_id
)
"""

_IMAGE_STAGES_SQL = """
WITH reached AS (
    SELECT DISTINCT ON (e.specimen_id) e.specimen_id, sp.institution_id, sp.collection_id, e.pgh_created_at AS occurred_at,
           'imaged'::text AS stage,
           CASE WHEN c.metadata->>'user' ~ '^[0-9]{1,18}$' THEN (c.metadata->>'user')::bigint END AS user_id
    FROM imaging_imageassetevent e
    JOIN specimens_specimen sp ON sp.id = e.specimen_id
    LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id
    WHERE e.pgh_id > %(lo)s AND e.pgh_id <= %(hi)s AND e.specimen_id IS NOT NULL AND e.status IN ('linked', 'done')
    ORDER BY e.specimen_id, e.pgh_id
)
"""

# The batch a specimen was put in first, and the project of that batch or of its collection that day.
_EVENTS_INSERT_SQL = """
INSERT INTO digitisation_digitisationevent
    (institution_id, collection_id, project_id, batch_id, stage, specimen_id, count, minutes, user_id,
     occurred_at, source, note, recorded_at)
SELECT r.institution_id, r.collection_id, COALESCE(b.project_id, p.id), b.id, r.stage, r.specimen_id, 1, NULL,
       u.id, r.occurred_at, 'auto', '', now()
FROM reached r
LEFT JOIN LATERAL (
    SELECT bt.id, bt.project_id FROM digitisation_batchspecimen bs JOIN digitisation_batch bt ON bt.id = bs.batch_id
    WHERE bs.specimen_id = r.specimen_id ORDER BY bs.id LIMIT 1
) b ON true
LEFT JOIN LATERAL (
    SELECT pr.id FROM digitisation_project pr
    WHERE pr.institution_id = r.institution_id AND (pr.collection_id IS NULL OR pr.collection_id = r.collection_id)
      AND (r.occurred_at AT TIME ZONE %(tz)s)::date BETWEEN pr.start_date AND pr.end_date
    ORDER BY pr.collection_id NULLS LAST LIMIT 1
) p ON true
LEFT JOIN auth_user u ON u.id = r.user_id
ON CONFLICT (specimen_id, stage) WHERE specimen_id IS NOT NULL DO NOTHING
"""

EVENT_SOURCES = {
    "specimen_history": ("specimens_specimenevent", _SPECIMEN_STAGES_SQL),
    "image_links": ("imaging_imageassetevent", _IMAGE_STAGES_SQL),
}


def _ingest_source(*, name: str, table: str, stages_sql: str, chunk: int) -> int:
    """Turn one source table's new rows into events; returns the events written.

    Another transaction may still commit a row with an id below ones already seen, so rows
    between `position` and `pending_position` are read again (ON CONFLICT makes that harmless)
    until every transaction that was running at the last read has ended.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        Watermark.objects.get_or_create(name=name)
        mark = Watermark.objects.select_for_update().get(name=name)
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
                       "pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        xmin, xmax = cursor.fetchone()
        cursor.execute(f"SELECT max(pgh_id) FROM {table}")  # noqa: S608 (a table name of ours, not input)
        newest = cursor.fetchone()[0] or 0
        # Read on past the unsettled window, so a long transaction elsewhere delays settling, not reading.
        hi = min(newest, max(mark.position, mark.pending_position) + chunk)
        written = 0
        if hi > mark.position:
            _events_lock_shared(cursor)
            cursor.execute(stages_sql + _EVENTS_INSERT_SQL, {"lo": mark.position, "hi": hi, "tz": settings.TIME_ZONE})
            written = cursor.rowcount
        # Every transaction that could hold an id up to the last run's pending position has ended
        # before this run's snapshot, and this run has just read those ids again: they are settled.
        if mark.pending_xmax <= xmin:
            mark.position = min(mark.pending_position, hi)
        mark.pending_position, mark.pending_xmax = hi, xmax
        mark.save(update_fields=["position", "pending_position", "pending_xmax", "updated_at"])
        return written


def events_ingest(*, chunk: int = INGEST_CHUNK, max_rounds: int = 50) -> int:
    """Read specimen history and image links above their watermarks into DigitisationEvent rows."""
    total = 0
    for name, (table, stages_sql) in EVENT_SOURCES.items():
        for _ in range(max_rounds):
            before = Watermark.objects.filter(name=name).values_list("pending_position", flat=True).first() or 0
            total += _ingest_source(name=name, table=table, stages_sql=stages_sql, chunk=chunk)
            after = Watermark.objects.filter(name=name).values_list("pending_position", flat=True).first() or 0
            if after == before:
                break
    return total


# --- Rollups -------------------------------------------------------------------------------------

DAILY_STAT_MARK = "daily_stat"
ROLLUP_BAD_RANGE = "The rebuild range must start on or before its end."

_DAILY_STAT_INSERT_SQL = """
INSERT INTO digitisation_dailystat (date, institution_id, collection_id, project_id, stage, user_id, n, minutes)
SELECT (occurred_at AT TIME ZONE %(tz)s)::date, institution_id, collection_id, project_id, stage, user_id,
       sum(count), COALESCE(sum(minutes), 0)
FROM digitisation_digitisationevent
WHERE id > %(lo)s AND id <= %(hi)s {extra}
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT daily_stat_unique
DO UPDATE SET n = digitisation_dailystat.n + EXCLUDED.n, minutes = digitisation_dailystat.minutes + EXCLUDED.minutes
"""


_WEEKLY_STAT_INSERT_SQL = """
INSERT INTO digitisation_weeklystat (week, institution_id, collection_id, project_id, stage, n)
SELECT date_trunc('week', (occurred_at AT TIME ZONE %(tz)s))::date, institution_id, collection_id, project_id, stage, sum(count)
FROM digitisation_digitisationevent
WHERE id > %(lo)s AND id <= %(hi)s {extra}
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ON CONSTRAINT weekly_stat_unique DO UPDATE SET n = digitisation_weeklystat.n + EXCLUDED.n
"""


def _events_high_water(cursor) -> int:
    """The highest event id below which every writer has committed (or rolled back)."""
    cursor.execute("SELECT pg_advisory_lock(%s)", [EVENT_WRITE_LOCK])
    try:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM digitisation_digitisationevent")
        return cursor.fetchone()[0]
    finally:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [EVENT_WRITE_LOCK])


def daily_stats_update() -> int:
    """Add the events above the watermark to DailyStat (every few minutes); returns events added."""
    with transaction.atomic(), connection.cursor() as cursor:
        Watermark.objects.get_or_create(name=DAILY_STAT_MARK)
        mark = Watermark.objects.select_for_update().get(name=DAILY_STAT_MARK)
        hi = _events_high_water(cursor)
        if hi <= mark.position:
            return 0
        cursor.execute("SELECT count(*) FROM digitisation_digitisationevent WHERE id > %s AND id <= %s", [mark.position, hi])
        added = cursor.fetchone()[0]
        params = {"lo": mark.position, "hi": hi, "tz": settings.TIME_ZONE}
        cursor.execute(_DAILY_STAT_INSERT_SQL.format(extra=""), params)
        cursor.execute(_WEEKLY_STAT_INSERT_SQL.format(extra=""), params)
        mark.position = hi
        mark.save(update_fields=["position", "updated_at"])
        return added


def daily_stats_rebuild(*, date_from: dt.date, date_to: dt.date) -> int:
    """Recompute DailyStat for a date range from the events, in one transaction.

    It holds the watermark row, so the incremental job waits, and counts exactly the events at or
    below the watermark: newer ones, still being written, are added by the next increment.
    """
    if date_from > date_to:
        raise ValidationError({"date_from": [ROLLUP_BAD_RANGE]})
    # Whole weeks, so WeeklyStat is rebuilt from the same events as DailyStat.
    date_from = date_from - dt.timedelta(days=date_from.weekday())
    date_to = date_to + dt.timedelta(days=6 - date_to.weekday())
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(dt.datetime.combine(date_from, dt.time.min), tz)
    end = timezone.make_aware(dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min), tz)
    with transaction.atomic(), connection.cursor() as cursor:
        Watermark.objects.get_or_create(name=DAILY_STAT_MARK)
        mark = Watermark.objects.select_for_update().get(name=DAILY_STAT_MARK)
        DailyStat.objects.filter(date__gte=date_from, date__lte=date_to).delete()
        WeeklyStat.objects.filter(week__gte=date_from, week__lte=date_to).delete()
        in_range = "AND occurred_at >= %(start)s AND occurred_at < %(end)s"
        params = {"lo": 0, "hi": mark.position, "tz": settings.TIME_ZONE, "start": start, "end": end}
        cursor.execute(_DAILY_STAT_INSERT_SQL.format(extra=in_range), params)
        rows = cursor.rowcount
        cursor.execute(_WEEKLY_STAT_INSERT_SQL.format(extra=in_range), params)
        return rows


_SNAPSHOT_SQL = """
DROP TABLE IF EXISTS snapshot_counts;
CREATE TEMP TABLE snapshot_counts ON COMMIT DROP AS
SELECT institution_id, collection_id, mids_level, status, mids_assessment_id, count(*) AS n
FROM specimens_specimen GROUP BY 1, 2, 3, 4, 5;
DELETE FROM digitisation_midssnapshot WHERE date = %(day)s;
DELETE FROM digitisation_recordsnapshot WHERE date = %(day)s;
INSERT INTO digitisation_midssnapshot (date, institution_id, collection_id, level, n)
SELECT %(day)s, institution_id, collection_id, mids_level, sum(n) FROM snapshot_counts GROUP BY 2, 3, 4;
INSERT INTO digitisation_recordsnapshot (date, institution_id, collection_id, measure, key, n)
SELECT %(day)s, institution_id, collection_id, 'status', status, sum(n) FROM snapshot_counts GROUP BY 2, 3, 5;
INSERT INTO digitisation_recordsnapshot (date, institution_id, collection_id, measure, key, n)
SELECT %(day)s, s.institution_id, s.collection_id, 'failing', f.element, sum(s.n)
FROM snapshot_counts s JOIN specimens_midsassessment a ON a.id = s.mids_assessment_id
CROSS JOIN LATERAL unnest(a.failing) AS f(element)
GROUP BY 2, 3, 5;
"""


@transaction.atomic
def snapshots_take(*, day: dt.date | None = None) -> None:
    """Nightly: specimens per MIDS level, per status and per failing element, per collection.

    One pass over the specimen table (the only job that reads it whole); pages read these rows.
    """
    with connection.cursor() as cursor:
        for statement in filter(str.strip, _SNAPSHOT_SQL.split(";")):
            cursor.execute(statement, {"day": day or timezone.localdate()})


def rollups_refresh() -> dict:
    """The beat job: facts → events → DailyStat."""
    ingested = events_ingest()
    return {"ingested": ingested, "rolled_up": daily_stats_update()}
