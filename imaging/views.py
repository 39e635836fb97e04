"""IIIF serving, the specimen manifest and the digitiser's batch pages. Thin: rules live in
services and selectors. Django streams derivative files here; production puts a CDN in front."""

from __future__ import annotations

import json
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from institutions.selectors import ALL, institution_list_for, institution_scope
from specimens.public import specimen_for_viewer
from specimens.selectors import specimen_get_for, specimen_list_for_staff, specimen_state_refusal, specimen_states_editable
from specimens.services import catalog_number_normalise

from . import iiif
from .models import Derivative, ImageAsset, ImagingBatch
from .selectors import (
    image_asset_list_unmatched,
    image_asset_is_public,
    image_asset_list_for_batch,
    image_asset_list_for_specimen,
    image_asset_list_visible,
    imaging_batch_counts,
    imaging_batch_list_for,
)
from .services import (
    FORMAT_NAMES,
    code_outcome_text,
    image_asset_link,
    image_asset_receive,
    imaging_batch_create,
    imaging_batch_retry_failed,
    imaging_max_upload_bytes,
)

PUBLIC_CACHE = "public, max-age=86400"
PRIVATE_CACHE = "private, max-age=300"
REGION = re.compile(r"^(full|\d+,\d+,\d+,\d+)$")
SIZE = re.compile(r"^(max|\d+,\d+)$")


# --- IIIF Image API 3.0, level 0 --------------------------------------------------------------


def _asset_for(request, uuid) -> ImageAsset:
    asset = (image_asset_list_visible(user=request.user).select_related("specimen", "institution")
             .filter(uuid=uuid, rendered_at__isnull=False).first())
    if asset is None:
        raise Http404("No such image.")
    return asset


def _headers(response, asset: ImageAsset):
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = PUBLIC_CACHE if image_asset_is_public(asset=asset) else PRIVATE_CACHE
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _service_id(request, asset: ImageAsset) -> str:
    return request.build_absolute_uri(reverse("imaging:iiif_base", args=[asset.uuid]))


@require_GET
def iiif_base(request, uuid):
    asset = _asset_for(request, uuid)
    response = HttpResponse(status=303)
    response["Location"] = request.build_absolute_uri(reverse("imaging:iiif_info", args=[asset.uuid]))
    return _headers(response, asset)


def _derivatives(asset: ImageAsset) -> dict[str, Derivative]:
    return {d.spec: d for d in asset.derivatives.all()}


@require_GET
def iiif_info(request, uuid):
    asset = _asset_for(request, uuid)
    derivatives = _derivatives(asset)
    tiles = derivatives.get(Derivative.Spec.IIIF_TILES)
    if tiles is None:
        raise Http404("No tiles for this image yet.")
    with default_storage.open(f"{tiles.key}/info.json", "rb") as f:
        stored = json.load(f)
    sizes = [(d.width, d.height) for d in derivatives.values() if d.spec != Derivative.Spec.IIIF_TILES]
    web = derivatives.get(Derivative.Spec.WEB_2048)
    info = iiif.image_info(service_id=_service_id(request, asset), stored=stored, width=asset.width, height=asset.height,
                           sizes=sizes, max_size=(web.width, web.height) if web else None, rights=asset.licence)
    response = HttpResponse(json.dumps(info, indent=1), content_type=iiif.INFO_MEDIA_TYPE)
    response["Link"] = '<http://iiif.io/api/image/3/level0.json>;rel="profile"'
    return _headers(response, asset)


@require_GET
def iiif_image(request, uuid, region, size, rotation, filename):
    if not (REGION.match(region) and SIZE.match(size)) or rotation != "0" or filename != "default.jpg":
        return HttpResponseBadRequest("Level 0: region full or a tile, size max or w,h, rotation 0, default.jpg.")
    asset = _asset_for(request, uuid)
    derivatives = _derivatives(asset)
    key = None
    if region == "full":
        for d in derivatives.values():
            if d.spec != Derivative.Spec.IIIF_TILES and (size == f"{d.width},{d.height}" or
                                                         (size == "max" and d.spec == Derivative.Spec.WEB_2048)):
                key = d.key
    tiles = derivatives.get(Derivative.Spec.IIIF_TILES)
    if key is None and tiles is not None:
        key = f"{tiles.key}/{region}/{size}/0/default.jpg"
    if key is None or not default_storage.exists(key):
        raise Http404("Level 0 serves only the listed sizes and tiles.")
    return _headers(FileResponse(default_storage.open(key, "rb"), content_type="image/jpeg"), asset)


# --- IIIF Presentation 3.0 and the specimen's media -------------------------------------------


def _canvases(request, assets) -> list[dict]:
    canvases = []
    for asset in assets:
        derivatives = _derivatives(asset)
        thumb, web = derivatives.get(Derivative.Spec.THUMB_256), derivatives.get(Derivative.Spec.WEB_2048)
        if thumb is None or web is None:
            continue
        service = _service_id(request, asset)
        canvases.append({
            "service_id": service, "width": asset.width, "height": asset.height, "rights": asset.licence,
            "label": f"Image {asset.order}" + (f" ({asset.get_kind_display().lower()})" if asset.kind != "specimen" else ""),
            "thumb": (f"{service}/full/{thumb.width},{thumb.height}/0/default.jpg", thumb.width, thumb.height),
            "full": (f"{service}/full/max/0/default.jpg", web.width, web.height),
        })
    return canvases


@require_GET
def specimen_manifest(request, uuid):
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="view")
    assets = list(image_asset_list_for_specimen(specimen=specimen, user=request.user))
    if not assets:
        raise Http404("This specimen has no images.")
    manifest = iiif.specimen_manifest(
        manifest_id=request.build_absolute_uri(),
        specimen=specimen_for_viewer(user=request.user, specimen=specimen), institution=specimen.collection.institution,
        canvases=_canvases(request, assets), homepage=specimen.occurrence_id,
    )
    response = HttpResponse(json.dumps(manifest, indent=1), content_type=iiif.MANIFEST_MEDIA_TYPE)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = PUBLIC_CACHE if specimen.status == "published" else PRIVATE_CACHE
    return response


@require_GET
def specimen_media(request, uuid):
    """The specimen's images for API clients: each with its IIIF Image API base (`iiif_service`)."""
    specimen = specimen_get_for(user=request.user, uuid=uuid, action="view")
    assets = image_asset_list_for_specimen(specimen=specimen, user=request.user)
    media = [{"uuid": str(a.uuid), "order": a.order, "kind": a.kind, "width": a.width, "height": a.height,
              "licence": a.licence, "iiif_service": _service_id(request, a),
              "thumbnail": c["thumb"][0]} for a, c in zip(assets, _canvases(request, assets))]
    manifest = request.build_absolute_uri(reverse("imaging:specimen_manifest", args=[specimen.uuid]))
    return JsonResponse({"specimen": str(specimen.uuid), "iiif_manifest": manifest if media else None, "media": media})


# --- digitiser batch pages --------------------------------------------------------------------


def _batch_for(request, uuid) -> ImagingBatch:
    return get_object_or_404(imaging_batch_list_for(user=request.user), uuid=uuid)


@login_required
def batch_list(request):
    institutions = list(institution_list_for(user=request.user, action="create"))
    if request.method == "POST":
        institution = next((i for i in institutions if str(i.pk) == request.POST.get("institution")), None)
        if institution is None:
            raise PermissionDenied("You cannot upload images for this institution.")
        batch = imaging_batch_create(institution=institution, name=request.POST.get("name", ""), user=request.user)
        return redirect("imaging:batch_detail", uuid=batch.uuid)
    batches = imaging_batch_list_for(user=request.user)[:50]
    return render(request, "imaging/staff/batch_list.html", {"batches": batches, "institutions": institutions})


@login_required
def batch_detail(request, uuid):
    batch = _batch_for(request, uuid)
    return render(request, "imaging/staff/batch_detail.html", {
        "batch": batch, "counts": imaging_batch_counts(batch=batch), "assets": image_asset_list_for_batch(batch=batch),
        "max_bytes": imaging_max_upload_bytes(), "can_upload": _may_upload(request, batch),
    })


def _may_upload(request, batch: ImagingBatch) -> bool:
    scope = institution_scope(user=request.user, action="create")
    return scope == ALL or batch.institution_id in scope


@login_required
def batch_rows(request, uuid):
    """The htmx fragment polled by the batch page: counts and one row per file."""
    batch = _batch_for(request, uuid)
    counts = imaging_batch_counts(batch=batch)
    return render(request, "imaging/staff/_batch_rows.html", {
        "batch": batch, "counts": counts, "assets": image_asset_list_for_batch(batch=batch),
    })


@login_required
@require_POST
def batch_upload(request, uuid):
    """One file per request (the page sends files one by one, so each can be retried)."""
    batch = _batch_for(request, uuid)
    if not _may_upload(request, batch):
        raise PermissionDenied("You cannot upload images for this institution.")
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "Send one file in the field 'file'."}, status=400)
    try:
        asset = image_asset_receive(batch=batch, name=upload.name, source=upload, size=upload.size)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"uuid": str(asset.uuid), "status": asset.status, "error": asset.error_text},
                        status=201 if asset.status != ImageAsset.Status.FAILED else 422)


@login_required
@require_POST
def batch_retry(request, uuid):
    batch = _batch_for(request, uuid)
    if not _may_upload(request, batch):
        raise PermissionDenied("You cannot retry this batch.")
    imaging_batch_retry_failed(batch=batch)
    return redirect("imaging:batch_detail", uuid=batch.uuid)


# --- the unmatched-image queue ----------------------------------------------------------------

LINK_NO_SPECIMEN = "No specimen with catalogue number '{number}' at {institution}."


def _codes_read(asset: ImageAsset) -> list[dict]:
    """The codes read in the image, each with what became of it and the near numbers to link in one click."""
    return [{"text": c["text"], "format": FORMAT_NAMES.get(c.get("format", ""), c.get("format", "")),
             "why": code_outcome_text(c, asset.institution.code), "near": c.get("near", [])}
            for c in asset.barcodes if isinstance(c, dict) and "text" in c]


def _unmatched_rows(user, *, errors=None, typed=None) -> list[dict]:
    rows = []
    for asset in image_asset_list_unmatched(user=user)[:100]:
        thumb = asset.thumbs[0] if asset.thumbs else None
        key = str(asset.uuid)
        rows.append({
            "asset": asset, "error": (errors or {}).get(key, ""), "typed": (typed or {}).get(key, ""),
            "codes": _codes_read(asset),
            "thumb": thumb, "thumb_url": reverse("imaging:iiif_image", args=[asset.uuid, "full", f"{thumb.width},{thumb.height}",
                                                                        "0", "default.jpg"]) if thumb else "",
        })
    return rows


@login_required
def unmatched_list(request):
    return render(request, "imaging/staff/unmatched_list.html", {"rows": _unmatched_rows(request.user)})


@login_required
@require_POST
def unmatched_link(request, uuid):
    """Link one waiting image to the specimen whose catalogue number the curator typed."""
    asset = get_object_or_404(image_asset_list_unmatched(user=request.user), uuid=uuid)
    number = request.POST.get("catalog_number", "").strip()
    candidates = list(specimen_list_for_staff(user=request.user, action="edit")
                      .filter(institution_id=asset.institution_id)
                      .filter(Q(catalog_number=number) | Q(catalog_number_normalised=catalog_number_normalise(number)))[:2])
    error = None
    if len(candidates) != 1:
        error = LINK_NO_SPECIMEN.format(number=number, institution=asset.institution.code) if not candidates else \
            f"'{number}' matches more than one specimen; use the exact catalogue number."
    elif candidates[0].status not in specimen_states_editable(user=request.user, institution_id=asset.institution_id):
        # An image on a published record is public at once: the rule of every write (digitisers: drafts only).
        error = specimen_state_refusal(status=candidates[0].status)
    else:
        try:
            image_asset_link(asset=asset, specimen=candidates[0], user=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if error:
        rows = _unmatched_rows(request.user, errors={str(asset.uuid): error}, typed={str(asset.uuid): number})
        return render(request, "imaging/staff/unmatched_list.html", {"rows": rows}, status=400)
    messages.success(request, f"Linked {asset.original_name} to {candidates[0].catalog_number}.")
    return redirect("imaging:unmatched_list")
