"""Digitisation batches: pages as thin as the API views; rules in services and selectors."""

import csv
import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_portal.common.http import safe_next
from institutions.models import Collection, Role
from institutions.selectors import ALL, institution_list_for, is_staff_member, memberships_for, scope_filter
from specimens.selectors import specimen_list_for_staff

from .forms import EventLogForm, ProjectForm
from .models import Batch, Project
from .selectors import (
    PLANNING_RATES,
    DashboardFilter,
    batch_list_for,
    batch_list_in,
    batch_progress_for,
    batch_stage_summary,
    dashboard_filter_parse,
    institution_figures,
    mids_gaps,
    mids_over_time,
    pipeline_health,
    project_progress,
    project_progress_table,
    records_by_status,
    throughput_by_day,
    throughput_by_institution,
    throughput_by_person,
    throughput_by_week,
)
from .services import batch_assign_specimens, batch_create, event_log, project_create


def _staff_only(user):
    if not is_staff_member(user=user):
        raise PermissionDenied("This workspace is for museum staff.")


@login_required
def batch_list(request):
    _staff_only(request.user)
    institutions = list(institution_list_for(user=request.user, action="edit"))
    errors = {}
    if request.method == "POST":
        institution = next((i for i in institutions if str(i.pk) == request.POST.get("institution")), None)
        if institution is None:
            raise PermissionDenied("You cannot create batches for this institution.")
        try:
            batch = batch_create(institution=institution, name=request.POST.get("name", ""),
                                 kind=request.POST.get("kind") or Batch.Kind.TRAY, user=request.user)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, f"Created batch {batch.name}.")
            return redirect("digitisation:batch_detail", uuid=batch.uuid)
    batches = list(batch_list_for(user=request.user).select_related("project")[:100])
    progress = batch_progress_for(batches=batches)
    for batch in batches:
        batch.progress = progress.get(batch.pk)
    return render(request, "digitisation/staff/batch_list.html", {
        "batches": batches, "institutions": institutions, "kinds": Batch.Kind.choices,
        "errors": errors, "typed": request.POST,
    }, status=400 if errors else 200)


@login_required
def batch_detail(request, uuid):
    _staff_only(request.user)
    batch = batch_list_for(user=request.user).filter(uuid=uuid).first()
    if batch is None:
        raise Http404("No such batch.")
    members = batch.members.select_related("specimen__collection__institution", "added_by").order_by("-added_at")[:200]
    return render(request, "digitisation/staff/batch_detail.html", {
        "batch": batch, "members": members, "stages": batch_stage_summary(batch=batch),
        "log_form": EventLogForm(initial={"occurred_on": dt.date.today()}, stages=batch.project.stages if batch.project_id else None),
        "may_log": batch_list_for(user=request.user, action="edit").filter(pk=batch.pk).exists(),
    })


@login_required
def batch_options(request):
    """<option>s of the batches the user may fill, for the curate list's bulk bar (htmx)."""
    _staff_only(request.user)
    return render(request, "digitisation/staff/_batch_options.html", {"batches": batch_list_for(user=request.user, action="edit")[:200]})


@login_required
@require_POST
def batch_assign(request):
    """The curate list's bulk action: put the selected records into a batch."""
    _staff_only(request.user)
    back = safe_next(request, reverse("specimens:curate_list"))
    batch = batch_list_for(user=request.user, action="edit").filter(uuid=request.POST.get("batch") or None).first()
    uuids = request.POST.getlist("selected")[:1000]
    if batch is None:
        messages.error(request, "Choose a batch you may add records to.")
        return redirect(back)
    if not uuids:
        messages.error(request, "Select at least one record first.")
        return redirect(back)
    selected = specimen_list_for_staff(user=request.user, action="edit").filter(uuid__in=uuids)
    try:
        added = batch_assign_specimens(batch=batch, specimens=selected, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Added {added} record{'s' if added != 1 else ''} to batch {batch.name}"
                                  f"{'' if added == len(uuids) else f' ({len(uuids) - added} already there or not yours)'}.")
    return redirect(back)


# --- Manager reporting ---------------------------------------------------------------------------

CSV_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_safe(value) -> str | int | float:
    """A cell a spreadsheet will not run: text starting = + - @ tab CR NUL gets a leading '; numbers stay."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(CSV_DANGEROUS_START) else text


def _manager_landing_role(user) -> bool:
    roles = {role for _, role in memberships_for(user=user)}
    return bool(roles & {Role.PROGRAMME_MANAGER, Role.COLLECTION_MANAGER})


@login_required
def landing(request):
    """Where a sign-in lands: managers on their dashboard, everyone else on the work list."""
    if _manager_landing_role(request.user):
        return redirect("digitisation:dashboard")
    return redirect("specimens:curate_list")


def _progress_chart(filters: DashboardFilter) -> dict:
    progress = project_progress(filters=filters)
    return {"kind": "hbar", "value_col": 4, "suffix": " %", "projects": progress, **project_progress_table(progress)}


# Every chart and table of the dashboard: key → (title, how to build it). A CSV builds only its own.
CHARTS = {
    "progress": ("Progress towards targets", _progress_chart),
    "mids": ("Specimens by MIDS level over time", lambda f: {"kind": "stacked", **mids_over_time(filters=f)}),
    "throughput-week": ("Throughput per week, by stage", lambda f: {"kind": "line", **throughput_by_week(filters=f)}),
    "throughput-day": ("Throughput per day (last six weeks of the range), by stage",
                       lambda f: {"kind": "line", **throughput_by_day(filters=f)}),
    "by-place": ("Throughput by institution", lambda f: {"kind": "table", **throughput_by_institution(filters=f)}),
    "people": ("Throughput per person (last eight weeks of the range)",
               lambda f: {"kind": "table", **throughput_by_person(filters=f)}),
    "status": ("Records by status", lambda f: {"kind": "hbar", "value_col": 1, **records_by_status(filters=f)}),
    "gaps": ("MIDS elements that fail most", lambda f: {"kind": "hbar", "value_col": 1, **mids_gaps(filters=f)}),
    "pipeline": ("Pipeline health", lambda f: {"kind": "table", **pipeline_health(filters=f)}),
    "figures": ("Digitised against estimated holdings",  # five columns of long names: one card a row on a phone
                lambda f: {"kind": "table", "stacked": True, "none_text": "no figure reported",
                           **institution_figures(filters=f)}),
}


def _charts(*, user, filters: DashboardFilter, only: str | None = None) -> dict[str, dict]:
    """The dashboard's charts by key (or just `only`); the CSV of a key is exactly its rows."""
    charts = {}
    for key, (title, build) in CHARTS.items():
        if only is None or key == only:
            charts[key] = {"title": title, **build(filters)}
    if "by-place" in charts and filters.institution is not None:
        charts["by-place"]["title"] = "Throughput by collection"
    # Drill down: programme → institution → collection (the batches are listed under a collection).
    if filters.collection is None:
        step = "collection" if filters.institution else "institution"
        base = urlencode(filters.query())
        for key in ("by-place", "figures"):
            if key in charts:
                charts[key]["links"] = [f"?{base}&{urlencode({step: row[0]})}" if row[0] != "(not set)" else ""
                                        for row in charts[key]["rows"]]
    return charts


@login_required
def dashboard(request):
    _staff_only(request.user)
    filters = dashboard_filter_parse(user=request.user, params=request.GET)
    charts = _charts(user=request.user, filters=filters)
    query = urlencode(filters.query())
    for key, chart in charts.items():
        chart["key"] = key
        chart.setdefault("none_text", "—")
        chart["csv_url"] = f"{reverse('digitisation:dashboard_csv', args=[key])}?{query}"
    progress = charts["progress"]["projects"]
    totals = {"projects": len(progress), "done": sum(r["done"] for r in progress),
              "target": sum(r["target"] for r in progress),
              "on_track": sum(1 for r in progress if r["on_track"]),
              "late": sum(1 for r in progress if r["forecast"] is not None and not r["on_track"])}
    totals["percent"] = round(100 * totals["done"] / totals["target"], 1) if totals["target"] else None
    # The headline cards show the projects that need attention first: late, then no forecast, then on track.
    headline = sorted(progress, key=lambda r: (r["on_track"], r["forecast"] is None))[:4]
    institutions = institution_list_for(user=request.user) if filters.scope == ALL or len(filters.scope) > 1 else None
    collections = filters.institution.collections.order_by("code") if filters.institution else None
    return render(request, "digitisation/staff/dashboard.html", {
        "filters": filters, "charts": charts, "query": query, "totals": totals, "headline": headline,
        "institutions": institutions, "collections": collections,
        "batches": batch_list_in(user=request.user, filters=filters) if filters.institution else None,
        "programme_wide": filters.scope == ALL, "planning_rates": PLANNING_RATES,
    })


@login_required
def dashboard_csv(request, chart: str):
    """One chart's numbers as CSV: the same rows its table shows, spreadsheet-safe."""
    _staff_only(request.user)
    if chart not in CHARTS:
        raise Http404("No such chart.")
    filters = dashboard_filter_parse(user=request.user, params=request.GET)
    charts = _charts(user=request.user, filters=filters, only=chart)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{chart}-{filters.date_from}-{filters.date_to}.csv"'
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow([csv_safe(c) for c in charts[chart]["columns"]])
    for row in charts[chart]["rows"]:
        writer.writerow([csv_safe(v) for v in row])
    return response


@login_required
def project_list(request):
    _staff_only(request.user)
    institutions = list(institution_list_for(user=request.user, action="manage"))
    errors, typed = {}, request.POST
    if request.method == "POST":
        institution = next((i for i in institutions if str(i.pk) == request.POST.get("institution")), None)
        if institution is None:
            raise PermissionDenied("Only collection managers set targets for their institution.")
        form = ProjectForm(request.POST, institution=institution)
        if form.is_valid():
            data = form.cleaned_data
            try:
                project = project_create(
                    institution=institution, collection=data["collection"], name=data["name"],
                    start_date=data["start_date"], end_date=data["end_date"], target_count=data["target_count"],
                    target_mids_level=data["target_mids_level"], user=request.user,
                    pert=(data["pert_optimistic"], data["pert_most_likely"], data["pert_pessimistic"])
                    if data["pert_most_likely"] else None,
                )
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, f"Project {project.name} created.")
                return redirect("digitisation:project_list")
        else:
            errors = form.errors
    projects = scope_filter(Project.objects.select_related("institution", "collection"), user=request.user, action="view")
    return render(request, "digitisation/staff/project_list.html", {
        "projects": projects.order_by("-start_date")[:100], "institutions": institutions, "errors": errors, "typed": typed,
        "collections": Collection.objects.filter(institution__in=institutions).select_related("institution").order_by("institution__code", "code"),
    }, status=400 if errors else 200)


@login_required
@require_POST
def batch_log_work(request, uuid):
    """The quick form on a batch page: "350 sheets imaged today"."""
    _staff_only(request.user)
    batch = batch_list_for(user=request.user, action="edit").filter(uuid=uuid).first()
    if batch is None:
        raise Http404("No such batch.")
    form = EventLogForm(request.POST, stages=batch.project.stages if batch.project_id else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            event_log(user=request.user, institution=batch.institution, batch=batch, stage=data["stage"],
                      count=data["count"], minutes=data["minutes"], occurred_on=data["occurred_on"], note=data["note"])
        except ValidationError as exc:
            for text in exc.messages:
                messages.error(request, text)
        else:
            messages.success(request, f"Logged {data['count']} {data['stage']} for {batch.name}.")
    else:
        for field, errs in form.errors.items():
            messages.error(request, f"{form.fields[field].label if field in form.fields else field}: {' '.join(errs)}")
    return redirect("digitisation:batch_detail", uuid=batch.uuid)
