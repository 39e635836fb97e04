"""Digitisation images: a batch of uploads, one row per image, one row per derivative spec."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_portal.common.models import PublicIdModel, TimeStampedModel
from institutions.models import Institution
from specimens.models import Specimen

CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"
UNSETTLED = ["received", "verified", "validated", "identified", "rendered", "linked"]


@pghistory.track()
class ImagingBatch(PublicIdModel):
    """One upload session (a folder, a tray). Counts come from GROUP BY status, never counters."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="imaging_batches")
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["institution", "-created_at"], name="imaging_batch_institution")]

    def __str__(self) -> str:
        return self.name


# The lease columns change every few seconds while a task works: bookkeeping, not history.
@pghistory.track(exclude=["lease_owner", "lease_expires_at", "queued_at"])
class ImageAsset(PublicIdModel):
    """One delivered image file and its way through the pipeline (DESIGN §5)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        VERIFIED = "verified", "Checksum verified"
        VALIDATED = "validated", "Validated"
        IDENTIFIED = "identified", "Identified"
        RENDERED = "rendered", "Derivatives made"
        LINKED = "linked", "Linked"
        DONE = "done", "Done"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        FAILED = "failed", "Failed"

    class LinkMethod(models.TextChoices):
        NONE = "", "Not linked"
        BARCODE = "barcode", "Barcode in the image"
        FILENAME = "filename", "File name rule"
        PREPARATION = "preparation", "Preparation barcode"
        MANUAL = "manual", "By hand"

    class Kind(models.TextChoices):
        SPECIMEN = "specimen", "Specimen"
        LABEL = "label", "Label"
        FIELD_PHOTO = "field_photo", "Field photo"

    batch = models.ForeignKey(ImagingBatch, on_delete=models.PROTECT, related_name="assets")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="image_assets")
    specimen = models.ForeignKey(Specimen, on_delete=models.PROTECT, null=True, blank=True, related_name="image_assets")
    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    order = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SPECIMEN)
    licence = models.URLField(default=CC_BY_4)
    rights_holder = models.CharField(max_length=255, blank=True)

    original_name = models.CharField(max_length=255)
    upload_key = models.CharField(max_length=300, blank=True, help_text="where the received bytes wait")
    master_key = models.CharField(max_length=300, blank=True, help_text="masters/<sha[:2]>/<sha>")
    sha256 = models.CharField(max_length=64, blank=True)
    bytes = models.BigIntegerField(default=0)
    mime_type = models.CharField(max_length=32, blank=True, help_text="sniffed from the content")
    width = models.PositiveIntegerField(null=True, blank=True, help_text="after EXIF orientation")
    height = models.PositiveIntegerField(null=True, blank=True)
    exif = models.JSONField(default=dict, blank=True)
    barcodes = models.JSONField(default=list, blank=True, help_text="[{text, format}] read from the image")
    link_method = models.CharField(max_length=16, choices=LinkMethod.choices, blank=True, default="")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error_code = models.CharField(max_length=32, blank=True)
    error_text = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    identified_at = models.DateTimeField(null=True, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    linked_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="reached done, needs_attention or failed")
    # The lease: the task working on this image, and until when. Renewed every few seconds while
    # it works, so a lapsed lease means that task is gone and the image may be queued again.
    lease_owner = models.CharField(max_length=120, blank=True, help_text="host:pid:token of the task at work")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="last sent to the imaging queue")

    class Meta:
        ordering = ["batch", "id"]
        constraints = [
            # Same bytes twice in one institution: one live row; the later upload is a `duplicate`.
            models.UniqueConstraint(
                fields=["institution", "sha256"], name="image_asset_sha256_unique_per_institution",
                condition=~Q(sha256="") & ~Q(status="failed"),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["received", "verified", "validated", "identified", "rendered", "linked",
                                        "done", "needs_attention", "failed"]),
                name="image_asset_status_valid",
            ),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error_code=""), name="image_asset_failed_has_code"),
        ]
        indexes = [
            models.Index(fields=["batch", "status"], name="image_asset_batch_status"),
            models.Index(fields=["institution", "status"], name="image_asset_institution_status"),
            models.Index(fields=["specimen", "order"], name="image_asset_specimen_order"),
            # The reconciler's scan every 30 s reads only the images still in the pipeline.
            models.Index(fields=["lease_expires_at", "queued_at"], name="image_asset_unsettled_lease",
                         condition=Q(status__in=UNSETTLED)),
        ]

    def __str__(self) -> str:
        return self.original_name


@pghistory.track()
class Derivative(TimeStampedModel):
    """One rendered output of an image per spec: a predictable key, one row (DESIGN §5)."""

    class Spec(models.TextChoices):
        THUMB_256 = "thumb-256", "Thumbnail 256 px"
        WEB_2048 = "web-2048", "Web 2048 px"
        IIIF_TILES = "iiif-tiles", "IIIF level-0 tiles"

    asset = models.ForeignKey(ImageAsset, on_delete=models.CASCADE, related_name="derivatives")
    spec = models.CharField(max_length=16, choices=Spec.choices)
    key = models.CharField(max_length=300, help_text="file key, or the folder of a tile set")
    bytes = models.BigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "spec"], name="derivative_unique_asset_spec"),
            models.CheckConstraint(condition=Q(spec__in=["thumb-256", "web-2048", "iiif-tiles"]), name="derivative_spec_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}:{self.spec}"
