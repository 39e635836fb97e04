from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_portal.common.models import PublicIdModel, TimeStampedModel
from imaging.models import ImageAsset
from institutions.models import Institution
from specimens.models import Specimen


class Exhibition(PublicIdModel):
    """A curator's story: a title, sanitised text and an ordered set of specimens with image regions."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="exhibitions")
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True, help_text="one or two sentences for the list and the home page")
    # Sanitised HTML (portal.services.exhibition_text_clean) — stored clean, shown as is.
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["draft", "published"]), name="exhibition_status_valid"),
            models.CheckConstraint(condition=~Q(title=""), name="exhibition_title_not_empty"),
        ]
        indexes = [models.Index(fields=["status", "-published_at"], name="exhibition_published")]

    def __str__(self) -> str:
        return self.title


class ExhibitionItem(TimeStampedModel):
    """One specimen in an exhibition, optionally a region `x,y,w,h` (full-size pixels) of one of its images."""

    class ThumbnailStatus(models.TextChoices):
        NONE = "", "No region"
        PENDING = "pending", "Waiting to be cut"
        DONE = "done", "Cut"
        FAILED = "failed", "Failed"

    exhibition = models.ForeignKey(Exhibition, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    specimen = models.ForeignKey(Specimen, on_delete=models.PROTECT, related_name="+")
    image = models.ForeignKey(ImageAsset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    caption = models.TextField(blank=True, help_text="sanitised HTML, like the exhibition's text")
    region_x = models.PositiveIntegerField(null=True, blank=True)
    region_y = models.PositiveIntegerField(null=True, blank=True)
    region_w = models.PositiveIntegerField(null=True, blank=True)
    region_h = models.PositiveIntegerField(null=True, blank=True)
    # The region's thumbnail, cut by a worker (our IIIF server is level 0: no arbitrary regions).
    thumbnail_key = models.CharField(max_length=300, blank=True)
    thumbnail_width = models.PositiveIntegerField(null=True, blank=True)
    thumbnail_height = models.PositiveIntegerField(null=True, blank=True)
    thumbnail_status = models.CharField(max_length=16, choices=ThumbnailStatus.choices, blank=True, default="")
    thumbnail_error = models.TextField(blank=True)

    class Meta:
        ordering = ["exhibition", "position"]
        constraints = [
            models.UniqueConstraint(fields=["exhibition", "position"], name="exhibition_item_position_unique"),
            # A region is all four numbers or none, on an image, with a size.
            models.CheckConstraint(
                condition=Q(region_x__isnull=True, region_y__isnull=True, region_w__isnull=True, region_h__isnull=True)
                | Q(region_x__isnull=False, region_y__isnull=False, region_w__gt=0, region_h__gt=0, image__isnull=False),
                name="exhibition_item_region_complete",
            ),
            models.CheckConstraint(
                condition=Q(thumbnail_status__in=["", "pending", "done", "failed"]), name="exhibition_item_thumbnail_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.exhibition_id}#{self.position}"

    @property
    def region(self) -> tuple[int, int, int, int] | None:
        if self.region_w is None:
            return None
        return (self.region_x, self.region_y, self.region_w, self.region_h)


