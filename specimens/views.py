"""Curator pages: as thin as the API views; every rule lives in services and selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core import signing
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from collections_portal.common.errors import ConflictError
from collections_portal.common.forms import form_errors_add
from collections_portal.common.http import safe_next
from institutions.selectors import collection_list_for, institution_scope, is_staff_member

from .filters import SpecimenFilter
from .public import history_for_viewer, specimen_for_viewer
from .forms import IdentificationForm, PreparationForm, SpecimenCreateForm, SpecimenForm, SpecimenWithdrawForm
from .selectors import (
    agent_search,
    specimen_detail_related,
    specimen_get_for,
    specimen_history,
    specimen_list_for_staff,
    specimen_mids_summary,
    TAXON_ACCEPT_NOT_ALLOWED,
    taxon_accept_permitted,
    taxon_get_for,
    taxon_search,
)
from .services import (
    BULK_EDITABLE_FIELDS,
    identification_add,
    preparation_add,
    specimen_bulk_publish,
    specimen_bulk_update_field,
    specimen_create,
    specimen_delete,
    specimen_publish,
    specimen_revert,
    specimen_submit_for_review,
    specimen_update,
    specimen_withdraw,
    taxon_accept,
)

PAGE = 50
CURSOR_SALT = "curate.list"


def _staff_only(user):
    if not is_staff_member(user=user):
        raise PermissionDenied("This workspace is for museum staff.")


@login_required
def specimen_list(request):
    """The work list: filters in the URL, keyset pages of 50, never a COUNT(*) or an OFFSET.

    Newest first always; A→Z by catalogue number once a collection is chosen, where the
    unique (collection, catalogue number) index serves that order at any depth.
    """
    _staff_only(request.user)
    filterset = SpecimenFilter(request.GET, queryset=specimen_list_for_staff(user=request.user))
    queryset = filterset.qs.select_related("collection__institution")
    by_catalog = request.GET.get("sort") == "catalog_number" and bool(request.GET.get("collection"))
    queryset = queryset.order_by("catalog_number", "pk") if by_catalog else queryset.order_by("-pk")
    try:
        after = signing.loads(request.GET["after"], salt=CURSOR_SALT) if request.GET.get("after") else None
    except signing.BadSignature:
        after = None
    if after is not None and by_catalog and isinstance(after, list):
        queryset = queryset.filter(Q(catalog_number__gt=after[0]) | Q(catalog_number=after[0], pk__gt=after[1]))
    elif after is not None and not by_catalog and isinstance(after, int):
        queryset = queryset.filter(pk__lt=after)
    rows = list(queryset[: PAGE + 1])
    next_cursor = None
    if len(rows) > PAGE:
        last = rows[PAGE - 1]
        next_cursor = signing.dumps([last.catalog_number, last.pk] if by_catalog else last.pk, salt=CURSOR_SALT)
    params = request.GET.copy()
    params.pop("after", None)
    return render(request, "specimens/staff/specimen_list.html", {
        "specimens": rows[:PAGE], "filter": filterset, "next_cursor": next_cursor, "params": params.urlencode(),
        "by_catalog": by_catalog,
        "can_create": bool(institution_scope(user=request.user, action="create")),
        "can_bulk": bool(institution_scope(user=request.user, action="publish")),
        "can_assign": bool(institution_scope(user=request.user, action="edit")),
        "bulk_fields": BULK_EDITABLE_FIELDS,
    })


@login_required
def specimen_detail(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="view")
    shown = specimen_for_viewer(user=request.user, specimen=specimen)  # another institution's: generalised
    return render(request, "specimens/staff/specimen_detail.html", {
        "specimen": shown, **specimen_detail_related(specimen=specimen),
        "mids": specimen_mids_summary(specimen=specimen),  # the full record's level, whoever looks
        "can_edit": _allowed(request.user, specimen, "edit"),
        "can_publish": _allowed(request.user, specimen, "publish"),
        "can_delete": _allowed(request.user, specimen, "delete"),
        "withdraw_form": SpecimenWithdrawForm(),
        "identification_form": IdentificationForm(), "preparation_form": PreparationForm(),
        **_media_context(shown),
    })


def _allowed(user, specimen, action) -> bool:
    try:
        specimen_get_for(user=user, uuid=specimen.uuid, action=action)
    except PermissionDenied:
        return False
    return True


@login_required
def specimen_create_view(request):
    _staff_only(request.user)
    collections = collection_list_for(user=request.user, action="create")
    if not collections.exists():
        raise PermissionDenied("Your role cannot add records.")
    form = SpecimenCreateForm(request.POST or None, collections=collections)
    if request.method == "POST" and form.is_valid():
        try:
            specimen = specimen_create(collection=form.cleaned_data["collection"], data=form.service_data(), user=request.user)
        except ValidationError as exc:
            form_errors_add(form, exc)
        else:
            messages.success(request, f"Created {specimen.catalog_number} as a draft.")
            return redirect("specimens:curate_detail", uuid=specimen.uuid)
    return render(request, "specimens/staff/specimen_form.html", {"form": form, "creating": True}, status=400 if form.errors else 200)


@login_required
def specimen_edit(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="edit")
    conflict = None
    if request.method == "POST":
        form = SpecimenForm(request.POST, instance=specimen)
        if form.is_valid():
            try:
                specimen = specimen_update(specimen=specimen, data=form.service_data(),
                                           expected_version=form.cleaned_data["version"] or 0, user=request.user)
            except ValidationError as exc:
                form_errors_add(form, exc)
            except ConflictError as exc:
                conflict = exc
            else:
                messages.success(request, f"Saved {specimen.catalog_number} (version {specimen.version}).")
                return redirect("specimens:curate_detail", uuid=specimen.uuid)
    else:
        form = SpecimenForm(instance=specimen, initial={"version": specimen.version})
    status = 409 if conflict else 400 if form.errors else 200
    return render(request, "specimens/staff/specimen_form.html",
                  {"form": form, "specimen": specimen, "conflict": conflict}, status=status)


@login_required
@require_POST
def specimen_publish_view(request, uuid):
    return _workflow_step(request, uuid, action="publish", service=specimen_publish, done="Published {}.")


def _workflow_step(request, uuid, *, action: str, service, done: str):
    """A workflow button on the record page: the service's rule, a message, back to the record."""
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action=action)
    try:
        service(specimen=specimen, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done.format(specimen.catalog_number))
    return redirect("specimens:curate_detail", uuid=uuid)


@login_required
@require_POST
def specimen_withdraw_view(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="publish")
    form = SpecimenWithdrawForm(request.POST)
    try:
        specimen_withdraw(specimen=specimen, reason=form.data.get("reason", ""), user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Withdrew {specimen.catalog_number}; its URI now shows a tombstone.")
    return redirect("specimens:curate_detail", uuid=uuid)


@login_required
def specimen_delete_view(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="delete")
    if request.method == "POST":
        try:
            specimen_delete(specimen=specimen, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("specimens:curate_detail", uuid=uuid)
        messages.success(request, f"Deleted draft {specimen.catalog_number}.")
        return redirect("specimens:curate_list")
    return render(request, "specimens/staff/specimen_confirm_delete.html", {"specimen": specimen})


@login_required
def specimen_history_view(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="view")
    history = history_for_viewer(specimen_history(specimen=specimen), user=request.user, specimen=specimen)
    return render(request, "specimens/staff/specimen_history.html", {
        "specimen": specimen_for_viewer(user=request.user, specimen=specimen), "history": history,
        "can_edit": _allowed(request.user, specimen, "edit"),
    })


@login_required
@require_POST
def specimen_revert_view(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="edit")
    try:
        specimen = specimen_revert(specimen=specimen, event_id=int(request.POST.get("event", 0)),
                                   expected_version=int(request.POST.get("version", 0)), user=request.user)
    except (ValidationError, ValueError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    except ConflictError as exc:
        messages.error(request, f"{exc.message} Reload the history and try again.")
    else:
        messages.success(request, f"Restored the earlier version; the record is now version {specimen.version}.")
    return redirect("specimens:curate_history", uuid=uuid)


@login_required
@require_POST
def specimen_submit_view(request, uuid):
    return _workflow_step(request, uuid, action="edit", service=specimen_submit_for_review, done="Sent {} for review.")


def _local_next(request) -> str:
    return safe_next(request, reverse("specimens:curate_list"))


@login_required
@require_POST
def specimen_bulk_view(request):
    """Bulk actions on the selected rows, through the same services and scoping as single edits."""
    _staff_only(request.user)
    action = request.POST.get("bulk_action", "")
    uuids = request.POST.getlist("selected")[:1000]
    if not uuids:
        messages.error(request, "Select at least one record first.")
        return redirect(_local_next(request))
    if action == "publish":
        selected = specimen_list_for_staff(user=request.user, action="publish").filter(uuid__in=uuids)
        if not selected.exists():
            raise PermissionDenied("Only a curator or collection manager can publish records.")
        count, refused = specimen_bulk_publish(specimens=selected, user=request.user)
        messages.success(request, f"Published {count} record{'s' if count != 1 else ''}.")
        for line in refused:
            messages.error(request, line)
    elif action == "set_field":
        selected = specimen_list_for_staff(user=request.user, action="publish").filter(uuid__in=uuids)
        try:
            count = specimen_bulk_update_field(specimens=selected, field=request.POST.get("field", ""),
                                               value=request.POST.get("value", "").strip(), user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Changed {request.POST.get('field')} on {count} record{'s' if count != 1 else ''}.")
    else:
        messages.error(request, "Choose a bulk action.")
    return redirect(_local_next(request))


@login_required
def taxon_autocomplete(request):
    """<option> list for the scientific-name datalist (htmx swaps it in as the curator types)."""
    _staff_only(request.user)
    prefix = request.GET.get("scientific_name") or request.GET.get("q") or ""
    taxa = taxon_search(prefix=prefix, user=request.user) if len(prefix.strip()) >= 2 else []
    return render(request, "specimens/staff/_options.html", {"options": [str(t) for t in taxa]})


@login_required
@require_POST
def taxon_accept_view(request, uuid):
    """A curator accepts a provisional name (and its provisional ancestors) into the public tree."""
    _staff_only(request.user)
    if not taxon_accept_permitted(user=request.user):
        raise PermissionDenied(TAXON_ACCEPT_NOT_ALLOWED)
    taxon = taxon_accept(taxon=taxon_get_for(user=request.user, uuid=uuid), user=request.user)
    messages.success(request, f"{taxon} is now in the public tree.")
    return redirect(_local_next(request))


@login_required
def agent_autocomplete(request):
    _staff_only(request.user)
    prefix = (request.GET.get("recorded_by") or request.GET.get("identified_by") or request.GET.get("agent")
              or request.GET.get("q") or "").split("|")[-1]
    names = agent_search(prefix=prefix, user=request.user) if len(prefix.strip()) >= 2 else []
    return render(request, "specimens/staff/_options.html", {"options": names})


@login_required
@require_POST
def preparation_add_view(request, uuid):
    return _inline_add(request, uuid, PreparationForm, preparation_add, "preparation_form", "_preparations.html")


@login_required
@require_POST
def identification_add_view(request, uuid):
    return _inline_add(request, uuid, IdentificationForm, identification_add, "identification_form", "_identifications.html")


def _inline_add(request, uuid, form_class, service, form_name: str, template: str):
    """An htmx form on the record page: add one row through `service`, answer the refreshed section."""
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="edit")
    form = form_class(request.POST)
    if form.is_valid():
        try:
            service(specimen=specimen, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_add(form, exc)
        else:
            form = form_class()
    specimen.refresh_from_db()
    context = {"specimen": specimen, **specimen_detail_related(specimen=specimen), form_name: form, "can_edit": True}
    return render(request, f"specimens/staff/{template}", context, status=400 if form.errors else 200)


def _media_context(specimen) -> dict:
    """IIIF info.json URLs for the deep-zoom viewer of the staff record page (the images themselves
    come from imaging); the public page has its own in portal/views.py."""
    import json

    services = [f"{m['iiif_service']}/info.json" for m in specimen.media]
    manifest = ""
    if services:
        try:
            manifest = reverse("imaging:specimen_manifest", kwargs={"uuid": specimen.uuid})
        except NoReverseMatch:
            pass
    return {"media_services": services, "media_services_json": json.dumps(services), "manifest_url": manifest}
