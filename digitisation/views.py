"""Digitisation batches: pages as thin as the API views; rules in services and selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_portal.common.http import safe_next
from institutions.selectors import institution_list_for, is_staff_member
from specimens.selectors import specimen_list_for_staff

from .models import Batch
from .selectors import batch_list_for
from .services import batch_assign_specimens, batch_create


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
    return render(request, "digitisation/staff/batch_list.html", {
        "batches": batch_list_for(user=request.user)[:100], "institutions": institutions, "kinds": Batch.Kind.choices,
        "errors": errors, "typed": request.POST,
    }, status=400 if errors else 200)


@login_required
def batch_detail(request, uuid):
    _staff_only(request.user)
    batch = batch_list_for(user=request.user).filter(uuid=uuid).first()
    if batch is None:
        raise Http404("No such batch.")
    members = batch.members.select_related("specimen__collection__institution", "added_by").order_by("-added_at")[:200]
    return render(request, "digitisation/staff/batch_detail.html", {"batch": batch, "members": members})


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
