"""The virtual museum's pages and the stable URI. Thin: reads in selectors, writes in services."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from collections_portal.common.forms import form_errors_add
from imaging.models import ImageAsset
from institutions.selectors import institution_list_for
from specimens.dwc import HIGHER_RANKS
from specimens.models import Specimen
from specimens.services import agent_name_key
from specimens.public import specimen_public_copy
from specimens.selectors import specimen_list_public

from . import rdf
from .citations import citation_bibtex, citation_for, citation_ris
from .forms import ExhibitionForm, ExhibitionItemForm
from .models import Exhibition, ExhibitionItem
from .negotiation import MEDIA_TYPE, representation_choose
from .selectors import (
    collection_progress_public,
    collection_public_get,
    collection_specimens_public,
    exhibition_editable_by,
    exhibition_get_for,
    exhibition_items_public,
    exhibition_list_for,
    exhibition_list_public,
    institution_progress_public,
    institution_public_get,
    specimen_agent_ids_public,
    specimen_identifications_public,
    specimen_public_get,
    specimen_recent_public,
    specimen_related_public,
)
from .services import (
    exhibition_create,
    exhibition_item_add,
    exhibition_item_move,
    exhibition_item_remove,
    exhibition_publish,
    exhibition_unpublish,
    exhibition_update,
    region_parse,
)

NOT_FOUND = "No published specimen has this identifier."
NOT_ACCEPTABLE = "This record is available as text/html, application/ld+json, text/turtle and application/rdf+xml."
LICENCE_NAMES = {
    "creativecommons.org/publicdomain/zero/1.0": "CC0 1.0 (public domain dedication)",
    "creativecommons.org/licenses/by/4.0": "CC BY 4.0 (attribution)",
    "creativecommons.org/licenses/by-nc/4.0": "CC BY-NC 4.0 (attribution, non-commercial)",
}
# The taxonomy shown on a record, each rank a link into search with the parameter search reads.
RANKS = tuple((term.capitalize(), term, column) for term, column in HIGHER_RANKS.items())
# Half the side of the square a generalised point stands for, in degrees (its rounding).
AREA_HALF_DEGREES = {"10km": 0.05, "100km": 0.5}


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def _search_url() -> str:
    try:
        return reverse("portal:search")
    except NoReverseMatch:
        return ""  # search (issue 14) not routed yet: pages show values without links


def _search_link(search_url: str, **params) -> str:
    return f"{search_url}?{urlencode(params)}" if search_url else ""


# --- the stable URI (CETAF, DESIGN §4.6) --------------------------------------------------------


def _document_response(body: str, representation: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, content_type=MEDIA_TYPE[representation], status=status)
    response["Access-Control-Allow-Origin"] = "*"  # machines read it from anywhere
    return response


def _not_found(request, representation: str):
    if representation == "html":
        raise Http404(NOT_FOUND)
    return _document_response(rdf.empty_document(representation, NOT_FOUND), representation, status=404)


def _tombstone(request, specimen: Specimen, representation: str):
    if representation == "html":
        return render(request, "portal/specimen_tombstone.html", {"specimen": specimen}, status=410)
    return _document_response(rdf.graph_serialise(rdf.tombstone_graph(specimen=specimen), representation),
                              representation, status=410)


def specimen_stable_uri(request, uuid):
    """The occurrenceID: 303 to the representation the client accepts, 406 if none, 410 once withdrawn."""
    representation = representation_choose(request.headers.get("Accept"))
    if representation is None:
        response = HttpResponse(NOT_ACCEPTABLE, status=406, content_type="text/plain; charset=utf-8")
    else:
        try:
            specimen = specimen_public_get(uuid=uuid)
        except Http404:
            response = _not_found(request, representation)
        else:
            if specimen.status == Specimen.Status.WITHDRAWN:
                response = _tombstone(request, specimen, representation)
            else:
                response = HttpResponseSeeOther(f"{rdf.stable_uri(uuid)}.{representation}")
    response["Vary"] = "Accept"
    return response


def specimen_document(request, uuid, representation: str):
    """`.jsonld`, `.ttl`, `.rdf`: the record for machines, generalised as on the page."""
    try:
        specimen = specimen_public_get(uuid=uuid)
    except Http404:
        return _not_found(request, representation)
    if specimen.status == Specimen.Status.WITHDRAWN:
        return _tombstone(request, specimen, representation)
    graph = rdf.specimen_graph(specimen=specimen_public_copy(specimen), taxon=specimen.taxon)
    return _document_response(rdf.graph_serialise(graph, representation), representation)


# Reference-manager citations: (media type, file extension, writer).
CITATION_FORMATS = {
    "bibtex": ("application/x-bibtex; charset=utf-8", "bib", citation_bibtex),
    "ris": ("application/x-research-info-systems; charset=utf-8", "ris", citation_ris),
}
WITHDRAWN_CITATION = "This specimen record has been withdrawn; its address stays, as a tombstone."


def specimen_citation(request, uuid, citation_format: str):
    """`.bib` and `.ris`: the page's citation for reference managers, from the public record."""
    specimen = specimen_public_get(uuid=uuid)
    if specimen.status == Specimen.Status.WITHDRAWN:
        return HttpResponse(WITHDRAWN_CITATION, status=410, content_type="text/plain; charset=utf-8")
    content_type, extension, write = CITATION_FORMATS[citation_format]
    citation = citation_for(specimen_public_copy(specimen))
    response = HttpResponse(write(citation), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{citation.key}.{extension}"'
    return response


# --- the specimen page --------------------------------------------------------------------------


def _licence_name(url: str) -> str:
    for key, name in LICENCE_NAMES.items():
        if key in url:
            return name
    return url


def _map_context(public) -> dict:
    """The public point, or the square a generalised point stands for; nothing when withheld."""
    if public.decimal_latitude is None or public.decimal_longitude is None:
        return {}
    level = getattr(public, "locality_sensitivity", "none") if getattr(public, "is_generalised", False) else "none"
    return {"map": {"lat": float(public.decimal_latitude), "lon": float(public.decimal_longitude),
                    "half": AREA_HALF_DEGREES.get(level, 0),
                    "uncertainty": float(public.coordinate_uncertainty_in_meters or 0)}}


def _media_context(specimen) -> dict:
    services = [f"{m['iiif_service']}/info.json" for m in specimen.media]
    manifest = reverse("imaging:specimen_manifest", kwargs={"uuid": specimen.uuid}) if services else ""
    return {"media_services": services, "media_services_json": json.dumps(services), "manifest_url": manifest}


def _taxonomy(taxon, search_url: str) -> list[dict]:
    if taxon is None:
        return []
    return [{"label": label, "value": getattr(taxon, field), "url": _search_link(search_url, **{param: getattr(taxon, field)})}
            for label, param, field in RANKS if getattr(taxon, field)]


def specimen_public_page(request, uuid):
    specimen = specimen_public_get(uuid=uuid)
    if specimen.status == Specimen.Status.WITHDRAWN:
        return _tombstone(request, specimen, "html")
    public = specimen_public_copy(specimen)  # the same page for everyone, staff included
    search_url = _search_url()
    institution = specimen.collection.institution
    collectors = [c.strip() for c in (public.recorded_by or "").split("|") if c.strip()]
    agent_ids = specimen_agent_ids_public(specimen=specimen)
    identifications = specimen_identifications_public(specimen=specimen)
    for identification in identifications:
        identification.agent_ids = agent_ids.get(agent_name_key(identification.identified_by), {})
    return render(request, "portal/specimen_detail.html", {
        "specimen": public,
        "institution": institution,
        "stable_uri": rdf.stable_uri(specimen.uuid),
        "specimen_place": [p for p in (public.locality, public.county, public.state_province, public.country or public.country_code) if p],
        "identifications": identifications,
        "taxonomy": _taxonomy(specimen.taxon, search_url),
        "collectors": [{"name": c, "url": _search_link(search_url, recorded_by=c), **agent_ids.get(agent_name_key(c), {})}
                       for c in collectors],
        "search_url": search_url,
        "collection_search_url": _search_link(search_url, collection=f"{institution.code}:{specimen.collection.code}"),
        "type_status_url": _search_link(search_url, type_status=public.type_status) if public.type_status else "",
        "country_url": _search_link(search_url, country=public.country or public.country_code) if (public.country or public.country_code) else "",
        "year_url": _search_link(search_url, year=public.year) if public.year else "",
        "licence_name": _licence_name(public.license),
        "related": specimen_related_public(specimen=specimen),
        **_map_context(public),
        **_media_context(public),
    })


# --- home, institutions, collections -----------------------------------------------------------


def home(request):
    rows, totals = institution_progress_public()
    return render(request, "portal/home.html", {
        "rows": rows, "totals": totals, "recent": specimen_recent_public(limit=8),
        "exhibitions": list(exhibition_list_public().prefetch_related("items")[:3]),
    })


def institution_detail(request, code: str):
    institution = institution_public_get(code=code)
    search_url = _search_url()
    return render(request, "portal/institution_detail.html", {
        "institution": institution, "collections": collection_progress_public(institution=institution),
        "search_url": _search_link(search_url, institution=institution.code),
        "exhibitions": list(exhibition_list_public().filter(institution=institution)[:6]),
    })


def collection_detail(request, code: str, collection_code: str):
    collection = collection_public_get(institution_code=code, code=collection_code)
    search_url = _search_link(_search_url(), collection=f"{collection.institution.code}:{collection.code}")
    return render(request, "portal/collection_detail.html", {
        "collection": collection, "institution": collection.institution,
        "specimens": collection_specimens_public(collection=collection), "search_url": search_url,
        "with_images_url": f"{search_url}&has_image=1" if search_url else "",
    })


# --- exhibitions -------------------------------------------------------------------------------


def exhibition_list(request):
    exhibitions = list(exhibition_list_for(user=request.user).prefetch_related("items__image")[:100])
    return render(request, "portal/exhibition_list.html", {
        "exhibitions": exhibitions,
        "can_create": institution_list_for(user=request.user, action="publish").exists(),
    })


def exhibition_detail(request, slug: str):
    exhibition = exhibition_get_for(user=request.user, slug=slug)
    items = exhibition_items_public(exhibition=exhibition)
    for item in items:
        item.services_json = json.dumps([f"{m['iiif_service']}/info.json" for m in item.public.media
                                         if item.image is None or m["uuid"] == str(item.image.uuid)][:1])
        if item.region and item.image:
            item.region_json = json.dumps([item.region_x, item.region_y, item.region_w, item.region_h])
    return render(request, "portal/exhibition_detail.html", {
        "exhibition": exhibition, "items": items, "can_edit": exhibition_editable_by(user=request.user, exhibition=exhibition),
    })


def exhibition_item_thumbnail(request, slug: str, item_id: int):
    """The region's thumbnail a worker cut (served here; production puts a CDN in front)."""
    exhibition = exhibition_get_for(user=request.user, slug=slug)
    item = next((i for i in exhibition_items_public(exhibition=exhibition) if i.pk == item_id), None)
    if item is None or item.thumbnail_status != ExhibitionItem.ThumbnailStatus.DONE:
        raise Http404("No thumbnail for this item.")
    response = FileResponse(default_storage.open(item.thumbnail_key, "rb"), content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=3600" if exhibition.status == Exhibition.Status.PUBLISHED else "private, max-age=60"
    return response


def _staff_exhibition(request, slug: str) -> Exhibition:
    exhibition = exhibition_get_for(user=request.user, slug=slug)
    if not exhibition_editable_by(user=request.user, exhibition=exhibition):
        raise PermissionDenied("Only a curator or collection manager of its institution can change this exhibition.")
    return exhibition


@login_required
def exhibition_create_view(request):
    institutions = institution_list_for(user=request.user, action="publish")
    if not institutions.exists():
        raise PermissionDenied("Only curators and collection managers compose exhibitions.")
    form = ExhibitionForm(request.POST or None, institutions=institutions)
    if request.method == "POST" and form.is_valid():
        try:
            exhibition = exhibition_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_add(form, exc)
        else:
            messages.success(request, "Exhibition created as a draft: add specimens, then publish it.")
            return redirect("portal:exhibition_edit", slug=exhibition.slug)
    return render(request, "portal/exhibition_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def exhibition_edit_view(request, slug: str):
    exhibition = _staff_exhibition(request, slug)
    form = ExhibitionForm(request.POST or None, instance=exhibition)
    item_form = ExhibitionItemForm()
    if request.method == "POST" and form.is_valid():
        try:
            exhibition_update(exhibition=exhibition, user=request.user, title=form.cleaned_data["title"],
                              summary=form.cleaned_data["summary"], text=form.cleaned_data["text"])
        except ValidationError as exc:
            form_errors_add(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("portal:exhibition_edit", slug=exhibition.slug)
    return _edit_page(request, exhibition, form, item_form)


def _edit_page(request, exhibition, form, item_form):
    items = list(exhibition.items.all())
    return render(request, "portal/exhibition_edit.html", {"exhibition": exhibition, "form": form, "item_form": item_form,
                                                           "items": items},
                  status=400 if form.errors or item_form.errors else 200)


@login_required
@require_POST
def exhibition_item_add_view(request, slug: str):
    exhibition = _staff_exhibition(request, slug)
    item_form = ExhibitionItemForm(request.POST)
    if item_form.is_valid():
        data = item_form.cleaned_data
        specimen = (specimen_list_public().filter(institution_id=exhibition.institution_id,
                                                  catalog_number=data["catalog_number"]).first())
        try:
            if specimen is None:
                raise ValidationError({"catalog_number": f"No published specimen of {exhibition.institution.name} has "
                                                         f"catalogue number {data['catalog_number']}."})
            image = None
            if data["image"]:
                image = ImageAsset.objects.filter(uuid=data["image"], specimen=specimen).first()
                if image is None:
                    raise ValidationError({"image": f"That image is not one of {specimen.catalog_number}'s images."})
            elif specimen.media:
                image = ImageAsset.objects.filter(uuid=specimen.media[0]["uuid"]).first()
            region = region_parse(data["x"], data["y"], data["w"], data["h"])
            exhibition_item_add(exhibition=exhibition, specimen=specimen, image=image, region=region,
                                caption=data["caption"], user=request.user)
        except ValidationError as exc:
            form_errors_add(item_form, exc)
        else:
            messages.success(request, f"Added {specimen.catalog_number}.")
            return redirect("portal:exhibition_edit", slug=exhibition.slug)
    return _edit_page(request, exhibition, ExhibitionForm(instance=exhibition), item_form)


@login_required
@require_POST
def exhibition_item_change_view(request, slug: str, item_id: int):
    exhibition = _staff_exhibition(request, slug)
    item = exhibition.items.filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    action = request.POST.get("action")
    if action == "remove":
        exhibition_item_remove(item=item, user=request.user)
    elif action in ("up", "down"):
        exhibition_item_move(item=item, direction=-1 if action == "up" else 1, user=request.user)
    return redirect("portal:exhibition_edit", slug=exhibition.slug)


@login_required
@require_POST
def exhibition_status_view(request, slug: str):
    exhibition = _staff_exhibition(request, slug)
    try:
        if request.POST.get("action") == "publish":
            exhibition_publish(exhibition=exhibition, user=request.user)
            messages.success(request, "Published: the exhibition is now public.")
        else:
            exhibition_unpublish(exhibition=exhibition, user=request.user)
            messages.success(request, "Back to draft: only staff see it now.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("portal:exhibition_edit", slug=exhibition.slug)
