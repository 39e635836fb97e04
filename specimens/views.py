"""Curator pages: as thin as the API views; every rule lives in services and selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core import signing
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from collections_portal.common.errors import ConflictError
from institutions.selectors import collection_list_for, institution_scope, is_staff_member

from .filters import SpecimenFilter
from .forms import SpecimenCreateForm, SpecimenForm, SpecimenWithdrawForm
from .selectors import specimen_detail_related, specimen_get_for, specimen_list_for_staff
from .services import specimen_create, specimen_delete, specimen_publish, specimen_update, specimen_withdraw

PAGE = 50
CURSOR_SALT = "curate.list"


def _staff_only(user):
    if not is_staff_member(user=user):
        raise PermissionDenied("This workspace is for museum staff.")


def _add_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
def specimen_list(request):
    _staff_only(request.user)
    filterset = SpecimenFilter(request.GET, queryset=specimen_list_for_staff(user=request.user))
    queryset = filterset.qs.select_related("collection__institution").order_by("-pk")
    after = request.GET.get("after")
    if after:
        try:
            queryset = queryset.filter(pk__lt=signing.loads(after, salt=CURSOR_SALT))
        except signing.BadSignature:
            pass
    rows = list(queryset[: PAGE + 1])
    next_cursor = signing.dumps(rows[PAGE - 1].pk, salt=CURSOR_SALT) if len(rows) > PAGE else None
    params = request.GET.copy()
    params.pop("after", None)
    return render(request, "specimens/staff/specimen_list.html", {
        "specimens": rows[:PAGE], "filter": filterset, "next_cursor": next_cursor, "params": params.urlencode(),
        "can_create": bool(institution_scope(user=request.user, action="create")),
    })


@login_required
def specimen_detail(request, uuid):
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="view")
    return render(request, "specimens/staff/specimen_detail.html", {
        "specimen": specimen, **specimen_detail_related(specimen=specimen),
        "can_edit": _allowed(request.user, specimen, "edit"),
        "can_publish": _allowed(request.user, specimen, "publish"),
        "can_delete": _allowed(request.user, specimen, "delete"),
        "withdraw_form": SpecimenWithdrawForm(),
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
            _add_errors(form, exc)
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
                _add_errors(form, exc)
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
    _staff_only(request.user)
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="publish")
    try:
        specimen_publish(specimen=specimen, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Published {specimen.catalog_number}.")
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
