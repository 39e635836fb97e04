"""Dataset pages, the IPT-format RSS feed, files for aggregators, the curator's publishing pages
and downloads of searches. Thin: reads through publishing.selectors, writes through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import http_date
from django.views.decorators.http import require_http_methods, require_POST

from collections_portal.common.forms import form_errors_add
from institutions.selectors import collection_list_for, institution_scope

from . import selectors, services
from .downloads import download_request_create
from .feed import rss_xml
from .forms import DatasetForm, PublishForm, RepublishForm, SummaryForm
from .models import DatasetVersion, DownloadRequest

# --- public -------------------------------------------------------------------------------------


def dataset_list(request):
    return render(request, "publishing/public/dataset_list.html", {"datasets": selectors.dataset_list_public()})


def dataset_detail(request, shortname: str):
    dataset = selectors.dataset_get_public(shortname=shortname)
    versions = list(selectors.dataset_versions_public(dataset=dataset))
    latest = versions[0]
    return render(request, "publishing/public/dataset_detail.html", {
        "dataset": dataset, "versions": versions, "latest": latest,
        "citation": services.dataset_citation(dataset, number=latest.number, year=latest.published_at.year),
        "collections": dataset.collections.select_related("institution").order_by("code"),
    })


def _stored_file(key: str, *, filename: str, content_type: str, modified, attachment: bool):
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(key))  # Django never proxies big files from S3
    try:
        handle = default_storage.open(key, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    response = FileResponse(handle, as_attachment=attachment, filename=filename, content_type=content_type)
    response["Last-Modified"] = http_date(modified.timestamp())
    response["X-Content-Type-Options"] = "nosniff"
    return response


def dataset_dwca(request, shortname: str):
    dataset = selectors.dataset_get_public(shortname=shortname)
    version = selectors.dataset_version_public(dataset=dataset, number=request.GET.get("v"))
    response = _stored_file(version.archive_key, filename=version.archive_key.rsplit("/", 1)[-1],
                            content_type="application/zip", modified=version.published_at, attachment=True)
    response["ETag"] = f'"{version.uuid}"'
    return response


def dataset_eml(request, shortname: str):
    dataset = selectors.dataset_get_public(shortname=shortname)
    version = selectors.dataset_version_public(dataset=dataset, number=request.GET.get("v"))
    response = _stored_file(version.eml_key, filename="eml.xml", content_type="application/xml; charset=utf-8",
                            modified=version.published_at, attachment=False)
    response["ETag"] = f'"{version.uuid}-eml"'
    return response


def rss(request):
    versions = list(selectors.rss_versions())
    response = HttpResponse(rss_xml(versions), content_type="application/rss+xml; charset=utf-8")
    if versions:
        response["Last-Modified"] = http_date(versions[0].published_at.timestamp())
    return response


# --- staff --------------------------------------------------------------------------------------


def _may_publish(user) -> None:
    if not institution_scope(user=user, action="publish"):
        raise PermissionDenied("Only curators and collection managers publish datasets.")


@login_required
def manage_list(request):
    _may_publish(request.user)
    datasets = selectors.dataset_list_for(user=request.user)
    managed = selectors.dataset_list_for(user=request.user, action="manage")
    return render(request, "publishing/staff/dataset_manage_list.html", {
        "datasets": datasets, "republish_form": RepublishForm(datasets=managed) if managed.exists() else None,
    })


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request, shortname: str | None = None):
    _may_publish(request.user)
    dataset = selectors.dataset_get_for(user=request.user, shortname=shortname) if shortname else None
    collections = collection_list_for(user=request.user, action="publish")
    form = DatasetForm(request.POST or None, instance=dataset, collections=collections)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_save(
                user=request.user, values=form.service_values(), collections=list(form.cleaned_data["collections"]),
                creators=form.cleaned_data["creators"], contacts=form.cleaned_data["contacts"],
                dataset=dataset if dataset else None)
        except ValidationError as exc:
            form_errors_add(form, exc)
        else:
            return redirect("publishing:dataset_publish", shortname=dataset.shortname)
    checks = services.dataset_metadata_problems(dataset) if dataset else []
    return render(request, "publishing/staff/dataset_form.html", {"form": form, "dataset": dataset, "checks": checks})


@login_required
@require_http_methods(["GET", "POST"])
def dataset_publish(request, shortname: str):
    dataset = selectors.dataset_get_for(user=request.user, shortname=shortname)
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.dataset_publish(dataset=dataset, user=request.user,
                                               change_summary=form.cleaned_data["change_summary"])
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            return redirect("publishing:version_detail", uuid=version.uuid)
    check = services.dataset_release_check(dataset=dataset)
    versions = DatasetVersion.objects.filter(dataset=dataset).order_by("-created_at")[:20]
    return render(request, "publishing/staff/dataset_publish.html", {
        "dataset": dataset, "form": form, "check": check, "versions": versions,
        "ready": not check["metadata"] and not check["records"],
    })


@login_required
@require_http_methods(["GET", "POST"])
def version_detail(request, uuid):
    version = selectors.dataset_version_get_for(user=request.user, uuid=uuid)
    form = SummaryForm(request.POST or None, initial={"change_summary": version.change_summary})
    if request.method == "POST" and form.is_valid():
        services.dataset_version_summary_edit(version=version, change_summary=form.cleaned_data["change_summary"])
        return redirect("publishing:version_detail", uuid=version.uuid)
    context = {"version": version, "dataset": version.dataset, "form": form,
               "settled": version.status not in ("queued", "building")}
    if request.headers.get("HX-Request"):
        return render(request, "publishing/staff/_version_progress.html", context)
    return render(request, "publishing/staff/version_detail.html", context)


@login_required
@require_POST
def datasets_republish(request):
    managed = selectors.dataset_list_for(user=request.user, action="manage")
    form = RepublishForm(request.POST, datasets=managed)
    if not form.is_valid():
        return render(request, "publishing/staff/dataset_manage_list.html", {
            "datasets": selectors.dataset_list_for(user=request.user), "republish_form": form}, status=400)
    queued, refused = services.datasets_republish(datasets=list(form.cleaned_data["datasets"]), user=request.user,
                                                  change_summary=form.cleaned_data["change_summary"])
    return render(request, "publishing/staff/republish_done.html", {"queued": queued, "refused": refused})


# --- downloads of a search ----------------------------------------------------------------------


@require_POST
def download_create(request):
    try:
        download = download_request_create(params=request.POST, format=request.POST.get("format", "csv"),
                                           user=request.user if request.user.is_authenticated else None)
    except ValidationError as exc:
        return render(request, "publishing/public/download_refused.html", {"errors": exc.messages}, status=400)
    return redirect("publishing:download_detail", uuid=download.uuid)


def download_detail(request, uuid):
    download = selectors.download_get(uuid=uuid)
    context = {"download": download, "settled": download.status not in ("queued", "building")}
    if request.headers.get("HX-Request"):
        return render(request, "publishing/public/_download_progress.html", context)
    return render(request, "publishing/public/download_detail.html", context)


def download_file(request, uuid):
    download = selectors.download_get(uuid=uuid)
    if download.status != DownloadRequest.Status.READY:
        raise Http404("This download is not ready, or has been removed.")
    extension = "csv" if download.format == DownloadRequest.Format.CSV else "zip"
    return _stored_file(download.file_key, filename=f"specimens-{download.uuid}.{extension}",
                        content_type="text/csv; charset=utf-8" if extension == "csv" else "application/zip",
                        modified=download.finished_at, attachment=True)
