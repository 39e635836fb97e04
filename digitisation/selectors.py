from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from institutions.models import Collection, CollectionMetric, Institution
from institutions.selectors import ALL, collection_list, collection_progress_list, institution_scope, scope_filter

from .forecast import pert_forecast
from .models import (
    DEFAULT_STAGES,
    STAGE_LABELS,
    Batch,
    DailyStat,
    DigitisationEvent,
    MidsSnapshot,
    Project,
    RecordSnapshot,
    WeeklyStat,
)


def batch_list_for(*, user, action: str = "view") -> QuerySet[Batch]:
    return (scope_filter(Batch.objects.select_related("institution"), user=user, action=action)
            .annotate(specimen_count=Count("members")).order_by("-created_at"))


# --- Manager reporting: every figure below reads the rollups, never all specimens or events ------

PLANNING_RATES = [  # DESIGN §6, specimens per person-day (DiSSCo UK, NHM)
    ("Herbarium sheets", 250, 450),
    ("Pinned insects (ALICE)", 400, 600),
    ("Pinned insects, labels removed", 80, 250),
    ("Microscope slides", 700, 700),
    ("Conveyor line, sheets", 3000, 5000),
]
MIDS_LEVEL_LABELS = {None: "Not assessed", -1: "Below MIDS-0", 0: "MIDS-0", 1: "MIDS-1", 2: "MIDS-2", 3: "MIDS-3"}
MIDS_LEVEL_ORDER = [None, -1, 0, 1, 2, 3]
STATUS_LABELS = {"draft": "Draft", "in_review": "In review", "published": "Published", "withdrawn": "Withdrawn"}
DEFAULT_RANGE_DAYS = 182
MAX_RANGE_DAYS = 3 * 366
FILTER_BAD_DATE = "'{value}' is not a date (YYYY-MM-DD); showing the last six months."
FILTER_BAD_RANGE = "The start date is after the end date; showing the last six months."
FILTER_TOO_LONG = "A range is at most three years; showing the three years up to {end}."
FILTER_UNKNOWN_INSTITUTION = "No institution '{code}' that you may see; showing all of yours."
FILTER_UNKNOWN_COLLECTION = "No collection '{code}' in {institution}; showing the whole institution."


@dataclass(frozen=True)
class DashboardFilter:
    """Who is looking and what they asked for: scope, date range, institution and collection."""

    scope: Any  # ALL or a set of institution ids
    date_from: dt.date
    date_to: dt.date
    institution: Institution | None = None
    collection: Collection | None = None
    messages: tuple[str, ...] = ()

    def institution_ids(self) -> Any:
        if self.institution is not None:
            return {self.institution.pk}
        return self.scope

    def query(self) -> dict[str, str]:
        """The URL parameters that reproduce this view (links, CSV downloads)."""
        params = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        if self.institution is not None:
            params["institution"] = self.institution.code
        if self.collection is not None:
            params["collection"] = self.collection.code
        return params


def dashboard_filter_parse(*, user, params, today: dt.date | None = None) -> DashboardFilter:
    """Read `from`, `to`, `institution`, `collection` from the URL; bad values fall back with a message."""
    today = today or timezone.localdate()
    messages: list[str] = []
    default_from = today - dt.timedelta(days=DEFAULT_RANGE_DAYS)

    def parse_date(name: str, default: dt.date) -> dt.date:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            messages.append(FILTER_BAD_DATE.format(value=raw[:40]))
            return default

    date_to = parse_date("to", today)
    date_from = parse_date("from", date_to - dt.timedelta(days=DEFAULT_RANGE_DAYS) if params.get("to") else default_from)
    if date_from > date_to:
        messages.append(FILTER_BAD_RANGE)
        date_from, date_to = default_from, today
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        messages.append(FILTER_TOO_LONG.format(end=date_to.isoformat()))
        date_from = date_to - dt.timedelta(days=MAX_RANGE_DAYS)

    scope = institution_scope(user=user, action="view")
    institution = collection = None
    code = (params.get("institution") or "").strip().upper()
    if not code and scope != ALL and len(scope) == 1:
        code = Institution.objects.filter(pk=next(iter(scope))).values_list("code", flat=True).first() or ""
    if code:
        institution = scope_filter(Institution.objects.all(), user=user, action="view", field="id").filter(code=code).first()
        if institution is None:
            messages.append(FILTER_UNKNOWN_INSTITUTION.format(code=code[:40]))
    coll_code = (params.get("collection") or "").strip().upper()
    if institution is not None and coll_code:
        collection = Collection.objects.filter(institution=institution, code=coll_code).first()
        if collection is None:
            messages.append(FILTER_UNKNOWN_COLLECTION.format(code=coll_code[:40], institution=institution.code))
    return DashboardFilter(scope=scope, date_from=date_from, date_to=date_to, institution=institution,
                           collection=collection, messages=tuple(messages))


def _scoped(queryset: QuerySet, filters: DashboardFilter, field: str = "institution_id") -> QuerySet:
    ids = filters.institution_ids()
    if ids != ALL:
        queryset = queryset.filter(**{f"{field}__in": ids})
    if filters.collection is not None:
        queryset = queryset.filter(collection_id=filters.collection.pk)
    return queryset


def _daily(filters: DashboardFilter) -> QuerySet[DailyStat]:
    return _scoped(DailyStat.objects.filter(date__gte=filters.date_from, date__lte=filters.date_to), filters)


def _weekly(filters: DashboardFilter) -> QuerySet[WeeklyStat]:
    """Whole weeks overlapping the range (a week is counted whole if any of its days is in it)."""
    return _scoped(WeeklyStat.objects.filter(week__gte=_week_start(filters.date_from), week__lte=filters.date_to), filters)


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def throughput_by_week(*, filters: DashboardFilter) -> dict:
    """Specimens per stage per week (Mondays) in the range: rows are weeks, columns stages."""
    rows = _weekly(filters).values("week", "stage").annotate(n=Sum("n")).order_by("week")
    pivot = _pivot(rows, row_key="week", col_key="stage", col_order=DEFAULT_STAGES, labels=STAGE_LABELS,
                   first_header="Week starting", fill_rows=_weeks(filters))
    if pivot["rows"] and pivot["rows"][-1][0] + dt.timedelta(days=6) > filters.date_to:
        # A week still running reads as a drop on the chart unless it says so.
        pivot["rows"][-1][0] = f"{pivot['rows'][-1][0].isoformat()} (to {filters.date_to.isoformat()})"
    return pivot


def throughput_by_day(*, filters: DashboardFilter, days: int = 42) -> dict:
    """Specimens per stage per day over the last `days` days of the range."""
    start = max(filters.date_from, filters.date_to - dt.timedelta(days=days - 1))
    rows = (_daily(filters).filter(date__gte=start).values("date", "stage").annotate(n=Sum("n")).order_by("date"))
    fill = [start + dt.timedelta(days=i) for i in range((filters.date_to - start).days + 1)]
    return _pivot(rows, row_key="date", col_key="stage", col_order=DEFAULT_STAGES, labels=STAGE_LABELS,
                  first_header="Day", fill_rows=fill)


def _weeks(filters: DashboardFilter) -> list[dt.date]:
    week, last, weeks = _week_start(filters.date_from), _week_start(filters.date_to), []
    while week <= last:
        weeks.append(week)
        week += dt.timedelta(days=7)
    return weeks


def _pivot(rows, *, row_key: str, col_key: str, col_order, labels: dict, first_header: str, fill_rows=None,
           value: str = "n") -> dict:
    table: dict = {}
    seen_cols = set()
    for r in rows:
        key = r[row_key].date() if isinstance(r[row_key], dt.datetime) else r[row_key]
        table.setdefault(key, {})[r[col_key]] = (table.get(key, {}).get(r[col_key]) or 0) + (r[value] or 0)
        seen_cols.add(r[col_key])
    cols = [c for c in col_order if c in seen_cols] + sorted((c for c in seen_cols if c not in col_order), key=str)
    keys = list(fill_rows) if fill_rows is not None else sorted(table)
    return {
        "columns": [first_header, *[labels.get(c, str(c)) for c in cols]],
        "rows": [[k, *[table.get(k, {}).get(c, 0) for c in cols]] for k in keys],
    }


def throughput_by_institution(*, filters: DashboardFilter) -> dict:
    """Per institution (or per collection once an institution is chosen): specimens per stage."""
    if filters.institution is None:
        rows = (_weekly(filters).values("institution__code", "stage").annotate(n=Sum("n")))
        header, key = "Institution", "institution__code"
    else:
        rows = (_weekly(filters).values("collection__code", "stage").annotate(n=Sum("n")))
        header, key = "Collection", "collection__code"
    pivot = _pivot([{**r, key: r[key] or "(not set)"} for r in rows], row_key=key, col_key="stage",
                   col_order=DEFAULT_STAGES, labels=STAGE_LABELS, first_header=header)
    pivot["rows"].sort(key=lambda r: -sum(r[1:]))
    return pivot


def throughput_by_person(*, filters: DashboardFilter, limit: int = 15, weeks: int = 8) -> dict:
    """Per person and stage over the last `weeks` weeks of the range: specimens, days worked,
    specimens per person-day, per hour where minutes were logged (the recent rate, as planning asks)."""
    start = max(filters.date_from, filters.date_to - dt.timedelta(weeks=weeks) + dt.timedelta(days=1))
    rows = (_daily(filters).filter(user__isnull=False, date__gte=start).values("user__username", "user__first_name", "user__last_name", "stage")
            .annotate(n=Sum("n"), days=Count("date", distinct=True), minutes=Sum("minutes")).order_by("-n")[:limit])
    out = []
    for r in rows:
        name = " ".join(filter(None, [r["user__first_name"], r["user__last_name"]])) or r["user__username"]
        per_day = round(r["n"] / r["days"], 1) if r["days"] else None
        per_hour = round(r["n"] * 60 / r["minutes"], 1) if r["minutes"] else None
        out.append([name, STAGE_LABELS.get(r["stage"], r["stage"]), r["n"], r["days"], per_day, per_hour])
    return {"columns": ["Person", "Stage", "Specimens", "Days worked", "Per person-day", "Per hour"], "rows": out}


def mids_over_time(*, filters: DashboardFilter) -> dict:
    """Specimens by MIDS level at each weekly snapshot (Sundays, plus the latest) in the range."""
    snapshots = _scoped(MidsSnapshot.objects.filter(date__gte=filters.date_from, date__lte=filters.date_to), filters)
    latest = snapshots.aggregate(d=Max("date"))["d"]
    rows = (snapshots.filter(Q(date__week_day=1) | Q(date=latest)).values("date", "level").annotate(n=Sum("n"))
            .order_by("date")) if latest else []
    pivot = _pivot(rows, row_key="date", col_key="level", col_order=MIDS_LEVEL_ORDER, labels=MIDS_LEVEL_LABELS,
                   first_header="Snapshot")
    levels = [lvl for lvl in MIDS_LEVEL_ORDER if MIDS_LEVEL_LABELS[lvl] in pivot["columns"]]
    pivot["share_mids1"] = None
    if pivot["rows"]:
        last = dict(zip(levels, pivot["rows"][-1][1:]))
        total = sum(last.values())
        pivot["share_mids1"] = round(100 * sum(v for lvl, v in last.items() if lvl is not None and lvl >= 1) / total, 1) if total else None
        pivot["latest"] = pivot["rows"][-1][0]
    return pivot


def _latest_record_snapshot(filters: DashboardFilter, measure: str) -> tuple[dt.date | None, QuerySet]:
    snapshots = _scoped(RecordSnapshot.objects.filter(measure=measure, date__lte=filters.date_to), filters)
    latest = snapshots.aggregate(d=Max("date"))["d"]
    return latest, snapshots.filter(date=latest)


def records_by_status(*, filters: DashboardFilter) -> dict:
    latest, rows = _latest_record_snapshot(filters, RecordSnapshot.Measure.STATUS)
    counts = {r["key"]: r["n"] for r in rows.values("key").annotate(n=Sum("n"))}
    return {"columns": ["Status", "Records"], "latest": latest,
            "rows": [[label, counts.get(key, 0)] for key, label in STATUS_LABELS.items()]}


def mids_gaps(*, filters: DashboardFilter, limit: int = 8) -> dict:
    """The MIDS elements that fail most, each linked to the work list filtered to those records."""
    latest, rows = _latest_record_snapshot(filters, RecordSnapshot.Measure.FAILING)
    top = list(rows.values("key").annotate(n=Sum("n")).order_by("-n", "key")[:limit])
    base = reverse("specimens:curate_list")
    extra = {}
    if filters.institution is not None:
        extra["institution"] = filters.institution.code
    return {"columns": ["MIDS element", "Records failing"], "latest": latest,
            "rows": [[r["key"], r["n"]] for r in top],
            "links": [f"{base}?{urlencode({'mids_failing': r['key'], **extra})}" for r in top]}


def _import_batch_model():
    try:
        return apps.get_model("imports", "ImportBatch")
    except LookupError:
        return apps.get_model("specimens", "ImportBatch")


def pipeline_health(*, filters: DashboardFilter) -> dict:
    """Images waiting, failed and needing a hand, the oldest waiting; imports running and failed."""
    ImageAsset = apps.get_model("imaging", "ImageAsset")
    ImportBatch = _import_batch_model()
    waiting_states = ["received", "verified", "validated", "identified", "rendered", "linked"]
    images = _scoped(ImageAsset.objects.all(), _no_collection(filters))
    by_status = dict(images.filter(status__in=[*waiting_states, "needs_attention", "failed"]).values_list("status")
                     .annotate(n=Count("id")).values_list("status", "n"))
    oldest = images.filter(status__in=waiting_states).aggregate(t=Min("created_at"))["t"]
    imports = _scoped(ImportBatch.objects.all(), filters)
    running = imports.filter(status__in=["pending", "reading", "validating", "writing"]).count()
    failed = imports.filter(status__in=["failed", "rejected"], created_at__date__gte=filters.date_from).count()
    waiting = sum(by_status.get(s, 0) for s in waiting_states)
    return {
        "columns": ["Measure", "Count"],
        "rows": [["Images waiting in the pipeline", waiting],
                 ["Images needing attention (unmatched or ambiguous)", by_status.get("needs_attention", 0)],
                 ["Images failed", by_status.get("failed", 0)],
                 ["Imports running", running],
                 ["Imports failed or rejected in the range", failed]],
        "oldest_waiting": oldest,
    }


def _no_collection(filters: DashboardFilter) -> DashboardFilter:
    # Images carry no collection until linked: a collection view counts its institution's queue.
    return DashboardFilter(scope=filters.scope, date_from=filters.date_from, date_to=filters.date_to,
                           institution=filters.institution)


def project_progress(*, filters: DashboardFilter, today: dt.date | None = None) -> list[dict]:
    """Each project in scope: target, done at its counted stage, weekly rates and the PERT forecast."""
    today = today or timezone.localdate()
    projects = list(_scoped(Project.objects.select_related("institution", "collection"), _no_collection(filters))
                    .filter(Q(collection__isnull=True) | Q(collection=filters.collection) if filters.collection else Q())
                    .filter(end_date__gte=filters.date_from, start_date__lte=filters.date_to)
                    .order_by("institution__code", "start_date")[:50])
    if not projects:
        return []
    ids = [p.pk for p in projects]
    counted = WeeklyStat.objects.filter(project_id__in=ids, stage=F("project__counted_stage"))
    done = dict(counted.values("project_id").annotate(n=Sum("n")).values_list("project_id", "n"))
    weeks_back = 12
    since = _week_start(today) - dt.timedelta(weeks=weeks_back)
    weekly: dict[int, dict[dt.date, int]] = {}
    for r in counted.filter(week__gte=since, week__lt=_week_start(today)).values("project_id", "week").annotate(n=Sum("n")):
        weekly.setdefault(r["project_id"], {})[r["week"]] = r["n"]
    result = []
    for p in projects:
        n = done.get(p.pk, 0)
        per_week = [weekly.get(p.pk, {}).get(since + dt.timedelta(weeks=i), 0) for i in range(weeks_back)]
        forecast = pert_forecast(remaining=p.target_count - n, today=today, weekly=per_week,
                                 planned=(p.pert_optimistic, p.pert_most_likely, p.pert_pessimistic))
        result.append({
            "project": p, "done": n, "target": p.target_count,
            "percent": round(100 * n / p.target_count, 1) if p.target_count else None,
            "weekly": per_week, "forecast": forecast,
            "on_track": forecast is not None and forecast.finish <= p.end_date,
        })
    return result


def project_progress_table(progress: list[dict]) -> dict:
    return {
        "columns": ["Project", "Institution", "Target", "Done", "% of target", "Forecast finish", "Range", "End date", "Basis"],
        "rows": [[r["project"].name, r["project"].institution.code, r["target"], r["done"], r["percent"],
                  r["forecast"].finish if r["forecast"] else None,
                  f"{r['forecast'].earliest} – {r['forecast'].latest}" if r["forecast"] else None,
                  r["project"].end_date, r["forecast"].basis if r["forecast"] else "no activity or plan yet"]
                 for r in progress],
    }


def _percent(part, whole) -> float | None:
    """One decimal, or three below 0.1 % so a few thousand records of millions do not read as 0.0 %."""
    if part is None or not whole:
        return None
    value = 100 * part / whole
    return round(value, 1) if value >= 0.1 or value == 0 else round(value, 3)


def institution_figures(*, filters: DashboardFilter) -> dict:
    """Estimated objects and digitised per institution (or collection); no figure stays None, never 0 %."""
    collections = collection_progress_list()
    ids = filters.institution_ids()
    if ids != ALL:
        collections = collections.filter(institution_id__in=ids)
    if filters.collection is not None:
        collections = collections.filter(pk=filters.collection.pk)
    by_collection = filters.institution is not None
    rows: dict = {}
    for c in collections:
        key = c.code if by_collection else c.institution.code
        name = c.name if by_collection else c.institution.name
        row = rows.setdefault(key, {"code": key, "name": name, "estimated": None, "reported": None, "in_portal": None})
        for field, value in (("estimated", c.estimated_objects), ("reported", c.digitised_reported),
                             ("in_portal", c.records_in_portal)):
            if value is not None:
                row[field] = (row[field] or 0) + value
    out = []
    for row in sorted(rows.values(), key=lambda r: -(r["estimated"] or 0)):
        digitised = row["reported"] if row["reported"] is not None else (row["in_portal"] or None)
        percent = _percent(digitised, row["estimated"])
        out.append([row["code"], row["name"], row["estimated"], digitised, percent])
    return {"columns": ["Collection" if by_collection else "Institution", "Name", "Estimated objects",
                        "Digitised (reported or counted)", "% digitised"], "rows": out}


def batch_list_in(*, user, filters: DashboardFilter, limit: int = 20) -> QuerySet[Batch]:
    """The drill-down's last step: batches of the chosen institution (and collection's project)."""
    batches = batch_list_for(user=user)
    if filters.institution is not None:
        batches = batches.filter(institution=filters.institution)
    if filters.collection is not None:  # the collection's own project's trays, or the institution-wide one's
        batches = batches.filter(Q(project__collection=filters.collection) | Q(project__collection__isnull=True))
    return batches.select_related("project")[:limit]


def batch_progress_for(*, batches: list[Batch]) -> dict[int, dict]:
    """Per listed batch, the furthest stage any of its work reached and how much of the batch that is
    (one GROUP BY over the events of these batches only)."""
    done: dict[int, dict[str, int]] = {}
    for r in (DigitisationEvent.objects.filter(batch_id__in=[b.pk for b in batches])
              .values("batch_id", "stage").annotate(n=Sum("count"))):
        done.setdefault(r["batch_id"], {})[r["stage"]] = r["n"]
    result = {}
    for b in batches:
        stages = b.project.stages if b.project_id else DEFAULT_STAGES
        reached = [s for s in stages if done.get(b.pk, {}).get(s)]
        if not reached:
            continue
        stage, n = reached[-1], done[b.pk][reached[-1]]
        size = b.size or getattr(b, "specimen_count", 0) or None
        result[b.pk] = {"stage": STAGE_LABELS.get(stage, stage.title()), "n": n, "size": size,
                        "percent": min(100, round(100 * n / size)) if size else None}
    return result


def batch_stage_summary(*, batch: Batch) -> list[dict]:
    """Where a batch stands: per stage, how many, who, since when and latest (one GROUP BY)."""
    stages = batch.project.stages if batch.project_id else DEFAULT_STAGES
    rows = {r["stage"]: r for r in DigitisationEvent.objects.filter(batch=batch).values("stage").annotate(
        n=Sum("count"), since=Min("occurred_at"), latest=Max("occurred_at"),
        people=ArrayAgg("user__username", distinct=True, filter=Q(user__isnull=False)))}
    size = batch.size or getattr(batch, "specimen_count", None) or None
    return [{"stage": s, "label": STAGE_LABELS.get(s, s.title()), "n": rows.get(s, {}).get("n") or 0,
             "since": rows.get(s, {}).get("since"), "latest": rows.get(s, {}).get("latest"),
             "people": (rows.get(s, {}).get("people") or [])[:5],
             "percent": round(100 * (rows.get(s, {}).get("n") or 0) / size) if size else None} for s in stages]


def collection_metrics_report(*, collections: QuerySet[Collection] | None = None, day: dt.date | None = None) -> list[dict]:
    """Per collection for Latimer Core: estimated objects, digitised, imaged and per-MIDS counts.

    Digitised and per-level counts come from the latest MidsSnapshot; imaged from its calculated metric.
    """
    collections = list(collections if collections is not None else collection_list().select_related("institution"))
    latest = MidsSnapshot.objects.aggregate(d=Max("date"))["d"]
    levels: dict[int, dict] = {}
    if latest:
        for r in MidsSnapshot.objects.filter(date=latest).values("collection_id", "level", "n"):
            levels.setdefault(r["collection_id"], {})[r["level"]] = r["n"]
    def latest_metric(kind):
        return {r[0]: (r[1], r[2]) for r in CollectionMetric.objects.filter(measurement_type=kind)
                .order_by("collection_id", "-measured_on").distinct("collection_id")
                .values_list("collection_id", "value", "measured_on")}

    imaged = {k: v for k, (v, _) in latest_metric(CollectionMetric.MeasurementType.IMAGED).items()}
    estimated = latest_metric(CollectionMetric.MeasurementType.ESTIMATED_OBJECTS)
    out = []
    for c in collections:
        per_level = levels.get(c.pk, {})
        digitised = sum(per_level.values()) if per_level else None
        estimate, estimated_on = estimated.get(c.pk, (None, None))
        out.append({"collection": c, "estimated_objects": estimate, "estimated_on": estimated_on,
                    "digitised_reported": getattr(c, "digitised_reported", None), "digitised": digitised,
                    "imaged": imaged.get(c.pk),
                    # No records in the portal: no figure (empty), not a count of 0.
                    "mids": {lvl: per_level.get(lvl, 0) if per_level else None for lvl in (0, 1, 2, 3)},
                    "below_mids0": per_level.get(-1, 0) if per_level else None, "snapshot_date": latest})
    return out
