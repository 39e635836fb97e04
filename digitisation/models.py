import pghistory
from django.conf import settings
from django.db import models

from collections_portal.common.models import PublicIdModel
from institutions.models import Institution
from specimens.models import Specimen


@pghistory.track()
class Batch(PublicIdModel):
    """A unit of digitisation work: a tray, drawer or box of specimens moving through the stages."""

    class Kind(models.TextChoices):
        TRAY = "tray", "Tray"
        DRAWER = "drawer", "Drawer"
        BOX = "box", "Box"
        FOLDER = "folder", "Folder / genus cover"
        OTHER = "other", "Other"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="digitisation_batches")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRAY)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    specimens = models.ManyToManyField(Specimen, through="BatchSpecimen", related_name="digitisation_batches")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        constraints = [models.UniqueConstraint(fields=["institution", "name"], name="digitisation_batch_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.institution.code})"


@pghistory.track()
class BatchSpecimen(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="members")
    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE, related_name="batch_memberships")
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "specimen"], name="batch_specimen_unique")]
        indexes = [models.Index(fields=["specimen"], name="batch_specimen_specimen")]
