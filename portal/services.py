"""Every write of the museum: exhibitions, their items and image regions, and the region thumbnails."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import nh3
import pyvips
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from imaging.models import Derivative, ImageAsset
from imaging.storage import storage_delete, storage_local_path, storage_put_path
from institutions.models import Institution
from institutions.selectors import ALL, institution_scope
from specimens.models import Specimen

from .models import Exhibition, ExhibitionItem
from .selectors import PUBLISHED_COUNTS_KEY, PUBLISHED_COUNTS_SECONDS, published_counts_compute

EXHIBITION_NOT_ALLOWED = "Only a curator or collection manager of {institution} can change its exhibitions."
EXHIBITION_SLUG_NEEDED = "Give the exhibition an address with letters or numbers, e.g. oaks-of-england."
EXHIBITION_SLUG_TAKEN = "Another exhibition already uses the address “{slug}”; choose another title or address."
ITEM_NOT_PUBLISHED = "Only published specimens can be shown in an exhibition ({catalog_number} is {status})."
ITEM_OTHER_INSTITUTION = "{catalog_number} belongs to another institution; exhibit your own institution's specimens."
ITEM_IMAGE_NOT_OF_SPECIMEN = "That image is not one of {catalog_number}'s finished images."
REGION_NEEDS_IMAGE = "Choose the image the region is on."
REGION_INCOMPLETE = "Give the region as four whole numbers x, y, w, h (pixels of the full image), or leave all four empty."
REGION_EMPTY = "The region must be at least 1 pixel wide and high."
REGION_OUTSIDE = ("The region {x},{y},{w},{h} reaches outside the image, which is {width} × {height} pixels: "
                  "x + w must be at most {width} and y + h at most {height}.")
PUBLISH_NEEDS_ITEMS = "Add at least one specimen before publishing the exhibition."

THUMBNAIL_SIZE = 480
RESERVED_SLUGS = {"new"}  # /exhibitions/new/ is the form
# What curators may write: paragraphs, emphasis, lists, headings and links. No script, no style,
# no event handlers (nh3 drops every attribute not listed), and links open with rel=noopener.
TEXT_TAGS = {"p", "br", "em", "strong", "i", "b", "ul", "ol", "li", "h2", "h3", "blockquote", "a", "cite", "q", "abbr"}
TEXT_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}


def exhibition_text_clean(text: str) -> str:
    """Curator HTML → safe HTML: allowed tags kept, everything else (script, on*, style, javascript:) removed."""
    return nh3.clean(text or "", tags=TEXT_TAGS, attributes=TEXT_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer").strip()


def _check_allowed(*, user, institution: Institution) -> None:
    scope = institution_scope(user=user, action="publish")
    if scope != ALL and institution.pk not in scope:
        raise PermissionDenied(EXHIBITION_NOT_ALLOWED.format(institution=institution.name))


# --- exhibitions --------------------------------------------------------------------------------


@transaction.atomic
def exhibition_create(*, institution: Institution, title: str, summary: str = "", text: str = "", slug: str = "",
                      user) -> Exhibition:
    _check_allowed(user=user, institution=institution)
    slug = slugify(slug or title)[:80]
    if not slug:
        raise ValidationError({"slug": EXHIBITION_SLUG_NEEDED})
    if slug in RESERVED_SLUGS or Exhibition.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": EXHIBITION_SLUG_TAKEN.format(slug=slug)})
    exhibition = Exhibition(institution=institution, title=title.strip(), summary=summary.strip(), slug=slug,
                            text=exhibition_text_clean(text), created_by=user if getattr(user, "pk", None) else None)
    exhibition.full_clean()
    exhibition.save()
    return exhibition


@transaction.atomic
def exhibition_update(*, exhibition: Exhibition, title: str, summary: str, text: str, user) -> Exhibition:
    _check_allowed(user=user, institution=exhibition.institution)
    exhibition.title, exhibition.summary, exhibition.text = title.strip(), summary.strip(), exhibition_text_clean(text)
    exhibition.full_clean()
    exhibition.save(update_fields=["title", "summary", "text", "updated_at"])
    return exhibition


@transaction.atomic
def exhibition_publish(*, exhibition: Exhibition, user) -> Exhibition:
    _check_allowed(user=user, institution=exhibition.institution)
    exhibition = Exhibition.objects.select_for_update().get(pk=exhibition.pk)
    if not exhibition.items.exists():
        raise ValidationError(PUBLISH_NEEDS_ITEMS)
    exhibition.status, exhibition.published_at = Exhibition.Status.PUBLISHED, exhibition.published_at or timezone.now()
    exhibition.save(update_fields=["status", "published_at", "updated_at"])
    return exhibition


@transaction.atomic
def exhibition_unpublish(*, exhibition: Exhibition, user) -> Exhibition:
    _check_allowed(user=user, institution=exhibition.institution)
    exhibition.status = Exhibition.Status.DRAFT
    exhibition.save(update_fields=["status", "updated_at"])
    return exhibition


# --- items and regions --------------------------------------------------------------------------


def region_parse(x, y, w, h) -> tuple[int, int, int, int] | None:
    """Four form values → a region, None when all are empty; ValidationError otherwise."""
    values = [v if isinstance(v, int) else (str(v).strip() if v is not None else "") for v in (x, y, w, h)]
    if all(v == "" for v in values):
        return None
    try:
        numbers = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValidationError({"region": REGION_INCOMPLETE}) from None
    if any(n < 0 for n in numbers):
        raise ValidationError({"region": REGION_INCOMPLETE})
    return numbers  # type: ignore[return-value]


def region_validate(*, region: tuple[int, int, int, int], image: ImageAsset) -> None:
    x, y, w, h = region
    if w < 1 or h < 1:
        raise ValidationError({"region": REGION_EMPTY})
    if x + w > image.width or y + h > image.height:
        raise ValidationError({"region": REGION_OUTSIDE.format(x=x, y=y, w=w, h=h, width=image.width, height=image.height)})


@transaction.atomic
def exhibition_item_add(*, exhibition: Exhibition, specimen: Specimen, user, image: ImageAsset | None = None,
                        region: tuple[int, int, int, int] | None = None, caption: str = "") -> ExhibitionItem:
    """Add a specimen (and a region of one of its images) at the end; the region's thumbnail is cut after commit."""
    _check_allowed(user=user, institution=exhibition.institution)
    if specimen.status != Specimen.Status.PUBLISHED:
        raise ValidationError({"specimen": ITEM_NOT_PUBLISHED.format(catalog_number=specimen.catalog_number,
                                                                      status=specimen.get_status_display().lower())})
    if specimen.institution_id != exhibition.institution_id:
        raise ValidationError({"specimen": ITEM_OTHER_INSTITUTION.format(catalog_number=specimen.catalog_number)})
    if image is not None and (image.specimen_id != specimen.pk or image.status != ImageAsset.Status.DONE or not image.width):
        raise ValidationError({"image": ITEM_IMAGE_NOT_OF_SPECIMEN.format(catalog_number=specimen.catalog_number)})
    if region is not None:
        if image is None:
            raise ValidationError({"image": REGION_NEEDS_IMAGE})
        region_validate(region=region, image=image)
    Exhibition.objects.select_for_update().filter(pk=exhibition.pk).first()  # positions handed out one at a time
    top = exhibition.items.aggregate(top=Max("position"))["top"]
    x, y, w, h = region or (None, None, None, None)
    item = ExhibitionItem(exhibition=exhibition, position=(top or 0) + 1, specimen=specimen, image=image,
                          caption=exhibition_text_clean(caption), region_x=x, region_y=y, region_w=w, region_h=h,
                          thumbnail_status=ExhibitionItem.ThumbnailStatus.PENDING if region else "")
    item.full_clean()
    item.save()
    if region:
        from .tasks import exhibition_item_thumbnail_cut_task

        transaction.on_commit(partial(exhibition_item_thumbnail_cut_task.delay, item.pk))
    return item


@transaction.atomic
def exhibition_item_remove(*, item: ExhibitionItem, user) -> None:
    _check_allowed(user=user, institution=item.exhibition.institution)
    key = item.thumbnail_key
    item.delete()
    if key:
        transaction.on_commit(partial(storage_delete, key))


@transaction.atomic
def exhibition_item_move(*, item: ExhibitionItem, direction: int, user) -> None:
    """Swap the item with its neighbour (direction -1: earlier, +1: later)."""
    _check_allowed(user=user, institution=item.exhibition.institution)
    items = list(ExhibitionItem.objects.select_for_update().filter(exhibition_id=item.exhibition_id).order_by("position"))
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    other_index = index + direction
    if not 0 <= other_index < len(items):
        return
    first, second = items[index], items[other_index]
    positions = first.position, second.position
    # Through a free position, so the unique (exhibition, position) holds at every step.
    free = max(i.position for i in items) + 1
    ExhibitionItem.objects.filter(pk=first.pk).update(position=free)
    ExhibitionItem.objects.filter(pk=second.pk).update(position=positions[0])
    ExhibitionItem.objects.filter(pk=first.pk).update(position=positions[1])


# --- the region thumbnail (worker) --------------------------------------------------------------


def thumbnail_key_for(item: ExhibitionItem) -> str:
    return f"exhibitions/{item.exhibition_id}/item-{item.pk}-{item.region_x}-{item.region_y}-{item.region_w}-{item.region_h}.jpg"


def exhibition_item_thumbnail_cut(*, item_id: int) -> str | None:
    """Cut the item's region out of its image's web copy (2048 px, already upright) into a thumbnail.

    Zulip's shape: the row re-read under lock, a vanished or settled row skipped, so a rerun does
    nothing. The web copy, not the master: no master is decoded for a thumbnail.
    """
    with transaction.atomic():
        item = (ExhibitionItem.objects.select_for_update(of=("self",)).select_related("image")
                .filter(pk=item_id).first())
        if item is None or item.thumbnail_status != ExhibitionItem.ThumbnailStatus.PENDING or item.region is None:
            return None
        web = Derivative.objects.filter(asset_id=item.image_id, spec=Derivative.Spec.WEB_2048).first()
        if web is None or not web.width:
            item.thumbnail_status, item.thumbnail_error = ExhibitionItem.ThumbnailStatus.FAILED, "The image has no web copy yet."
            item.save(update_fields=["thumbnail_status", "thumbnail_error", "updated_at"])
            return item.thumbnail_status
        key = thumbnail_key_for(item)
        with tempfile.TemporaryDirectory(prefix="exhibition-") as work:
            target = Path(work) / "region.jpg"
            with storage_local_path(web.key, work_dir=Path(work)) as path:
                width, height = _region_cut(path, target, region=item.region, full=(item.image.width, item.image.height))
            storage_put_path(key, target)
        item.thumbnail_key, item.thumbnail_width, item.thumbnail_height = key, width, height
        item.thumbnail_status, item.thumbnail_error = ExhibitionItem.ThumbnailStatus.DONE, ""
        item.save(update_fields=["thumbnail_key", "thumbnail_width", "thumbnail_height", "thumbnail_status",
                                 "thumbnail_error", "updated_at"])
        return item.thumbnail_status


def _region_cut(source: Path, target: Path, *, region: tuple[int, int, int, int], full: tuple[int, int]) -> tuple[int, int]:
    image = pyvips.Image.new_from_file(str(source), access="random", fail=True)
    scale = image.width / full[0]
    x, y, w, h = region
    left, top = min(int(x * scale), image.width - 1), min(int(y * scale), image.height - 1)
    width = max(1, min(round(w * scale), image.width - left))
    height = max(1, min(round(h * scale), image.height - top))
    cut = image.crop(left, top, width, height).thumbnail_image(THUMBNAIL_SIZE, height=THUMBNAIL_SIZE, size="down")
    cut.jpegsave(str(target), Q=85, keep="none", optimize_coding=True)
    return cut.width, cut.height


# --- counts -------------------------------------------------------------------------------------


def published_counts_refresh() -> dict[int, int]:
    """Recount published records per collection into the cache the public pages read (beat, load_demo)."""
    counts = published_counts_compute()
    cache.set(PUBLISHED_COUNTS_KEY, counts, PUBLISHED_COUNTS_SECONDS * 2)
    return counts
