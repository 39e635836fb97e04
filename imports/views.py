"""The curator's import pages (/curate/imports/): upload, live progress, report, undo. As thin as
the API views; every rule lives in the imports services."""

import io
import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render

from collections_portal.common.forms import form_errors_add
from institutions.selectors import collection_list_for, scope_filter
from specimens.models import ImportBatch
from specimens.views import _staff_only

from .checklist import taxa_import_permitted
from .forms import ImportUploadForm
from .batches import import_batch_report_write
from .undo import import_batch_undo, import_batch_undo_kept_write, import_batch_undo_offered, import_batch_undo_preview
from .upload import import_upload_accept

IMPORT_FINAL = {"done", "rejected", "failed"}


def _import_batches_for(user, action="view"):
    return scope_filter(ImportBatch.objects.select_related("collection__institution", "institution", "created_by", "undone_by"),
                        user=user, action=action)


def _import_batch_or_404(user, uuid):
    batch = _import_batches_for(user).filter(uuid=uuid).first()
    if batch is None:
        raise Http404("No such import.")
    return batch


@login_required
def import_list_view(request):
    _staff_only(request.user)
    collections = collection_list_for(user=request.user, action="create")
    # What this user may import: specimen records into their collections, checklists into the shared tree.
    kinds = [kind for kind, allowed in ((ImportBatch.Kind.SPECIMENS, collections.exists()),
                                        (ImportBatch.Kind.TAXA, taxa_import_permitted(user=request.user))) if allowed]
    form = ImportUploadForm(request.POST or None, request.FILES or None, collections=collections, kinds=kinds,
                            initial={"kind": kinds[0] if kinds else None})
    if request.method == "POST":
        if not kinds:
            raise PermissionDenied("Your role cannot import records.")
        if form.is_valid():
            try:
                batch = import_upload_accept(
                    kind=form.cleaned_data["kind"], collection=form.cleaned_data["collection"],
                    upload=form.cleaned_data["file"], dry_run=form.cleaned_data["dry_run"], user=request.user,
                    date_order=form.cleaned_data.get("date_order") or "", publish=form.cleaned_data.get("publish", False),
                )
            except ValidationError as exc:
                form_errors_add(form, exc)
            else:
                return redirect("imports:import_detail", uuid=batch.uuid)
    batches = _import_batches_for(request.user).order_by("-created_at")[:50]
    return render(request, "imports/staff/import_list.html", {"form": form, "batches": batches,
                                                                 "can_import": bool(kinds)},
                  status=400 if form.errors else 200)


@login_required
def import_detail_view(request, uuid):
    _staff_only(request.user)
    batch = _import_batch_or_404(request.user, uuid)
    template = "imports/staff/_import_progress.html" if request.headers.get("HX-Request") else "imports/staff/import_detail.html"
    row_errors = batch.row_errors.order_by("line", "id")[:200] if batch.status in IMPORT_FINAL else []
    undo_kept = batch.undo_kept.order_by("catalog_number", "id")[:200] if batch.undo_status == "done" else []
    return render(request, template, {"batch": batch, "final": batch.status in IMPORT_FINAL, "row_errors": row_errors,
                                      "undo_kept": undo_kept,
                                      "can_undo": import_batch_undo_offered(batch=batch, user=request.user)})


@login_required
def import_report_view(request, uuid):
    _staff_only(request.user)
    batch = _import_batch_or_404(request.user, uuid)
    return _csv_download(lambda out: import_batch_report_write(batch=batch, out=out),
                         f"import-report-{_import_file_stem(batch)}.csv")


@login_required
def import_undo_view(request, uuid):
    """Undo a finished import: GET shows what it will do, the POST from that page does it."""
    _staff_only(request.user)
    batch = _import_batch_or_404(request.user, uuid)
    try:
        if request.method == "POST":
            batch = import_batch_undo(batch=batch, user=request.user)
        else:
            plan = import_batch_undo_preview(batch=batch, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("imports:import_detail", uuid=uuid)
    if request.method != "POST":
        return render(request, "imports/staff/import_undo_confirm.html", {"batch": batch, "plan": plan})
    if batch.undo_status == batch.UndoStatus.QUEUED:
        messages.success(request, "The undo has started; this page shows the result when it has finished.")
    else:
        messages.success(request, f"Import undone: {batch.undo_deleted_count} deleted, {batch.undo_restored_count} "
                                  f"put back, {batch.undo_kept_count} left as they were.")
    return redirect("imports:import_detail", uuid=uuid)


@login_required
def import_undo_kept_view(request, uuid):
    """The records an undo left as they were, as CSV."""
    _staff_only(request.user)
    batch = _import_batch_or_404(request.user, uuid)
    return _csv_download(lambda out: import_batch_undo_kept_write(batch=batch, out=out),
                         f"import-undo-kept-{_import_file_stem(batch)}.csv")


def _import_file_stem(batch) -> str:
    """NHMUK-ZOO-20260512-1405 for specimen records, NHMUK-checklist-20260512-1405 for a checklist."""
    target = batch.collection.code if batch.collection_id else "checklist"
    return f"{batch.institution.code}-{target}-{batch.created_at:%Y%m%d-%H%M}"


def _csv_download(write, name: str):
    """Write a CSV into a private spool file, then stream it (large reports never sit in memory)."""
    spool = tempfile.TemporaryFile(mode="w+b")
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
    write(text)
    text.detach()
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=name, content_type="text/csv; charset=utf-8")
