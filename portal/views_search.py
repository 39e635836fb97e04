"""The public search page and its map data. Thin: specimens.search parses, queries and counts."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from specimens.search import (
    FACET_LABELS,
    FACET_ESTIMATE_SAMPLE,
    FACET_NAMES,
    PAGE_SIZE,
    SORTS,
    SearchInputError,
    SearchParams,
    SearchTimeout,
    bbox_parse,
    search_grid,
    search_page,
    search_params_parse,
    search_summary,
)

GRID_PAGE_SIZE = 24  # four rows of six thumbnails
SINGLE_VALUE_FACETS = ("has_image", "year", "mids_level")  # choosing one replaces the last


def _url(items) -> str:
    return "?" + urlencode(items) if items else "?"


def facet_value_label(name: str, value: str) -> str:
    if name == "has_image":
        return "With images"
    if name == "mids_level":
        return "below MIDS-0" if value == "-1" else f"MIDS-{value}"
    if name == "year" and value.endswith("9") and "-" in value.lstrip("-"):
        return f"{value.rsplit('-', 1)[0]}s"
    return value


def _selected(params: SearchParams, name: str, value: str) -> bool:
    if name == "has_image":
        return params.has_image
    if name == "mids_level":
        return params.mids_level is not None and str(params.mids_level) == value
    if name == "year":
        return params.year is not None and f"{params.year[0]}-{params.year[1]}" == value
    return value in params.filters.get(name, ())


def _facet_groups(params: SearchParams, facets: dict) -> list[dict]:
    """Each facet's values with a link that adds (or, when chosen, removes) that value."""
    groups = []
    for name in FACET_NAMES:
        values = []
        for entry in facets.get(name, []):
            value, chosen = entry["value"], _selected(params, name, entry["value"])
            if chosen:
                href = _url(params.query_items(without=name, without_value=None if name in SINGLE_VALUE_FACETS else value))
            else:
                base = params.query_items(without=name) if name in SINGLE_VALUE_FACETS else params.query_items()
                href = _url([*base, (name, value)])
            values.append({"value": value, "label": facet_value_label(name, value), "count": entry["count"],
                           "chosen": chosen, "href": href})
        if values:
            groups.append({"name": name, "label": FACET_LABELS[name], "values": values})
    return groups


def _chips(params: SearchParams) -> list[dict]:
    """The filters in force, each with a link that removes it."""
    chips = []
    if params.q:
        chips.append({"label": f"“{params.q}”", "href": _url(params.query_items(without="q"))})
    for name, values in params.filters.items():
        for value in values:
            chips.append({"label": f"{FACET_LABELS.get(name, name.title())}: {value}",
                          "href": _url(params.query_items(without=name, without_value=value))})
    if params.has_image:
        chips.append({"label": "With images", "href": _url(params.query_items(without="has_image"))})
    if params.year:
        label = str(params.year[0]) if params.year[0] == params.year[1] else f"{params.year[0]}–{params.year[1]}"
        chips.append({"label": f"Year: {label}", "href": _url(params.query_items(without="year"))})
    if params.mids_level is not None:
        chips.append({"label": f"MIDS-{params.mids_level}", "href": _url(params.query_items(without="mids_level"))})
    if params.recorded_by:
        chips.append({"label": f"Collector: {params.recorded_by}", "href": _url(params.query_items(without="recorded_by"))})
    if params.bbox:
        chips.append({"label": "In the drawn box", "href": _url(params.query_items(without="bbox"))})
    return chips


def _download_url() -> str:
    try:
        return reverse("publishing:download_create")
    except NoReverseMatch:
        return ""


@require_GET
def search(request):
    """/search/: one box, facets, list / image grid / map, keyset pages."""
    try:
        params = search_params_parse(request.GET)
    except SearchInputError as exc:
        typed = SearchParams(q=" ".join(request.GET.get("q", "").split())[:200])  # the box keeps what was typed
        return render(request, "portal/search.html", {"error": exc.message, "params": typed}, status=400)
    size = GRID_PAGE_SIZE if params.view == "grid" else PAGE_SIZE
    try:
        page = search_page(params, size=size)
        summary = search_summary(page.params)
    except SearchTimeout as exc:
        return render(request, "portal/search.html", {"error": str(exc), "params": params}, status=503)
    shown = page.params  # a forgiven typo searches exact names instead
    views = [{"name": v, "label": label, "href": _url([*params.query_items(without="view"), *([("view", v)] if v != "list" else [])]),
              "current": params.view == v} for v, label in (("list", "List"), ("grid", "Images"), ("map", "Map"))]
    context = {
        "params": params,
        "page": page,
        "summary": summary,
        "facet_groups": _facet_groups(params, summary.facets),
        "chips": _chips(params),
        "sorts": [{"name": name, "label": label, "current": name == params.sort} for name, (label, _, _) in SORTS.items()],
        "views": views,
        "hidden_items": [(k, v) for k, v in params.query_items(without="sort") if k not in ("q",)],
        "next_url": _url([*params.query_items(), ("cursor", page.next_cursor)]) if page.next_cursor else "",
        "first_url": _url(params.query_items()) if params.cursor else "",
        "download_url": _download_url(),
        "download_items": params.query_items(without="view"),
        "map_data_url": reverse("portal:search_map_data") + _url([(k, v) for k, v in shown.query_items(without="view")] +
                                                                  [("name", n) for n in shown.names]),
        # Empty: the bundled Natural Earth outlines (offline); production may name a tile server.
        "map_tiles": settings.PORTAL_MAP_TILE_URL,
        "map_attribution": settings.PORTAL_MAP_TILE_ATTRIBUTION,
        "clear_url": reverse("portal:search"),
        "size": size,
        "facet_sample": FACET_ESTIMATE_SAMPLE,
        "with_images_url": _url([*params.query_items(without="has_image"), ("has_image", "1")]),
    }
    return render(request, "portal/search.html", context)


@require_GET
def search_map_data(request):
    """/search/map.json: grid cells or points for the visible box (`extent`) at Leaflet zoom `z`."""
    try:
        params = search_params_parse(request.GET)
        names = tuple(n.lower() for n in request.GET.getlist("name")[:5] if len(n) <= 500)
        if names:  # the page forgave a typo: the map shows the same names
            from dataclasses import replace

            params = replace(params, names=names)
        try:
            zoom = int(request.GET.get("z", "2"))
        except ValueError:
            raise SearchInputError("z must be a whole number from 0 to 18.", param="z") from None
        if not 0 <= zoom <= 18:
            raise SearchInputError("z must be a whole number from 0 to 18.", param="z")
        extent = bbox_parse(request.GET["extent"], name="extent") if request.GET.get("extent") else None
        data = search_grid(params, zoom=zoom, extent=extent)
    except SearchInputError as exc:
        return JsonResponse({"errors": {exc.param or "query": [exc.message]}}, status=400)
    except SearchTimeout as exc:
        return JsonResponse({"errors": {"query": [str(exc)]}}, status=503)
    data["specimen_url"] = reverse("specimen_uri", args=["00000000-0000-0000-0000-000000000000"])
    response = JsonResponse(data)
    response["Cache-Control"] = "public, max-age=60"
    return response
