"""Every named read of imaging rows. Staff reads are scoped; public reads follow publication."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from institutions.selectors import ALL, institution_scope, scope_filter
from specimens.models import Specimen

from .models import ImageAsset, ImagingBatch

Status = ImageAsset.Status
FINAL = (Status.DONE, Status.NEEDS_ATTENTION, Status.FAILED)


def imaging_batch_list_for(*, user) -> QuerySet[ImagingBatch]:
    return scope_filter(ImagingBatch.objects.select_related("institution"), user=user, action="view")


def imaging_batch_counts(*, batch: ImagingBatch) -> dict:
    """One GROUP BY over the batch's rows: counts per status, plus the summary line's figures."""
    rows = (ImageAsset.objects.filter(batch=batch).values("status")
            .annotate(n=Count("id"), duplicates=Count("id", filter=Q(error_code="duplicate"))))
    by_status = {r["status"]: r["n"] for r in rows}
    duplicates = sum(r["duplicates"] for r in rows)
    total = sum(by_status.values())
    failed = by_status.get(Status.FAILED, 0)
    return {
        "by_status": by_status,
        "total": total,
        "processed": sum(by_status.get(s, 0) for s in FINAL),
        "linked": by_status.get(Status.DONE, 0) + by_status.get(Status.LINKED, 0),
        "unmatched": by_status.get(Status.NEEDS_ATTENTION, 0),
        "rejected": failed - duplicates,
        "duplicates": duplicates,
        "waiting": total - sum(by_status.get(s, 0) for s in FINAL),
    }


def image_asset_list_for_batch(*, batch: ImagingBatch) -> QuerySet[ImageAsset]:
    return ImageAsset.objects.filter(batch=batch).select_related("specimen").order_by("id")


def image_asset_list_visible(*, user) -> QuerySet[ImageAsset]:
    """Images a caller may see: finished images of published specimens, plus their institutions' images."""
    public = Q(status=Status.DONE, specimen__status=Specimen.Status.PUBLISHED) & ~label_image_withheld_q()
    scope = institution_scope(user=user, action="view")
    if scope == ALL:
        return ImageAsset.objects.all()
    if not scope:
        return ImageAsset.objects.filter(public)
    return ImageAsset.objects.filter(public | Q(institution_id__in=scope))


def label_image_withheld_q() -> Q:
    """Label images of records with a sensitive locality (own or taxon level), where the collection
    keeps them for its staff: they show what the public record hides."""
    sensitive = ~Q(specimen__locality_sensitivity="none") | (
        Q(specimen__taxon__isnull=False) & ~Q(specimen__taxon__effective_sensitivity="none"))
    return Q(kind=ImageAsset.Kind.LABEL, specimen__collection__sensitive_label_images_private=True) & sensitive


def image_asset_is_public(*, asset: ImageAsset) -> bool:
    if asset.status != Status.DONE or asset.specimen is None or asset.specimen.status != Specimen.Status.PUBLISHED:
        return False
    return not ImageAsset.objects.filter(pk=asset.pk).filter(label_image_withheld_q()).exists()


def image_asset_list_for_specimen(*, specimen: Specimen, user) -> QuerySet[ImageAsset]:
    return (image_asset_list_visible(user=user).filter(specimen=specimen, status=Status.DONE)
            .prefetch_related("derivatives").order_by("order", "id"))


def image_asset_list_unmatched(*, user) -> QuerySet[ImageAsset]:
    """The queue a curator works through by hand: images no barcode or file name could place."""
    from django.db.models import Prefetch

    from .models import Derivative

    thumbs = Prefetch("derivatives", queryset=Derivative.objects.filter(spec=Derivative.Spec.THUMB_256), to_attr="thumbs")
    return (scope_filter(ImageAsset.objects.filter(status=Status.NEEDS_ATTENTION), user=user, action="edit")
            .select_related("batch", "institution").prefetch_related(thumbs).order_by("created_at", "id"))
