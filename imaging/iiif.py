"""IIIF documents (DESIGN §4.7): Image API 3.0 level-0 info.json and Presentation 3.0 manifests.

Plain dicts built from rows and the stored dzsave info.json; URLs are absolute, from the request.
(DESIGN puts IIIF builders in `standards/`; they move there when that package exists.)
"""

from __future__ import annotations

IMAGE_CONTEXT = "http://iiif.io/api/image/3/context.json"
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
INFO_MEDIA_TYPE = f'application/ld+json;profile="{IMAGE_CONTEXT}"'
MANIFEST_MEDIA_TYPE = f'application/ld+json;profile="{PRESENTATION_CONTEXT}"'


def image_info(*, service_id: str, stored: dict, width: int, height: int, sizes: list[tuple[int, int]],
               max_size: tuple[int, int] | None, rights: str) -> dict:
    info = {
        "@context": IMAGE_CONTEXT,
        "id": service_id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level0",
        "width": width,
        "height": height,
        "sizes": [{"width": w, "height": h} for w, h in sorted(set(sizes))],
        "tiles": stored.get("tiles", []),
        "rights": rights,
    }
    if max_size and max_size != (width, height):
        info["maxWidth"], info["maxHeight"] = max_size
    return info


def _lang(value: str) -> dict:
    return {"en": [value]}


def specimen_manifest(*, manifest_id: str, specimen, institution, canvases: list[dict], homepage: str,
                      see_also: str | None = None) -> dict:
    """`canvases`: [{service_id, width, height, thumb (url, w, h), full (url, w, h), label, rights}]."""
    title = f"{specimen.catalog_number} {specimen.scientific_name}".strip()
    metadata = [
        ("Catalogue number", specimen.catalog_number),
        ("Scientific name", specimen.scientific_name),
        ("Institution", institution.name),
        ("Occurrence ID", specimen.occurrence_id),
        ("Country", specimen.country),
        ("Collecting date", specimen.event_date),
    ]
    manifest = {
        "@context": PRESENTATION_CONTEXT,
        "id": manifest_id,
        "type": "Manifest",
        "label": _lang(title),
        "summary": _lang(f"Images of specimen {specimen.catalog_number} at {institution.name}."),
        "metadata": [{"label": _lang(k), "value": _lang(str(v))} for k, v in metadata if v],
        "requiredStatement": {"label": _lang("Attribution"), "value": _lang(f"{institution.name}. Images CC BY 4.0.")},
        "provider": [{"id": institution.website or f"{homepage.split('/specimen/')[0]}/institutions/{institution.code}/",
                      "type": "Agent", "label": _lang(institution.name)}],
        "homepage": [{"id": homepage, "type": "Text", "label": _lang(title), "format": "text/html"}],
        "items": [],
    }
    if see_also:
        manifest["seeAlso"] = [{"id": see_also, "type": "Dataset", "format": "application/rdf+xml"}]
    if canvases:
        first = canvases[0]
        manifest["rights"] = first["rights"]
        manifest["thumbnail"] = [_image(first["thumb"], first["service_id"])]
    for index, c in enumerate(canvases, start=1):
        canvas_id = f"{manifest_id.rsplit('/', 1)[0]}/canvas/{index}"
        manifest["items"].append({
            "id": canvas_id,
            "type": "Canvas",
            "label": _lang(c["label"]),
            "width": c["width"],
            "height": c["height"],
            "thumbnail": [_image(c["thumb"], c["service_id"])],
            "items": [{
                "id": f"{canvas_id}/page",
                "type": "AnnotationPage",
                "items": [{
                    "id": f"{canvas_id}/page/painting",
                    "type": "Annotation",
                    "motivation": "painting",
                    "target": canvas_id,
                    "body": {**_image((c["full"][0], c["width"], c["height"]), c["service_id"])},
                }],
            }],
        })
    return manifest


def _image(image: tuple[str, int, int], service_id: str) -> dict:
    url, width, height = image
    return {"id": url, "type": "Image", "format": "image/jpeg", "width": width, "height": height,
            "service": [{"id": service_id, "type": "ImageService3", "profile": "level0"}]}
