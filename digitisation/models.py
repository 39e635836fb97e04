import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

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
    project = models.ForeignKey("Project", on_delete=models.SET_NULL, null=True, blank=True, related_name="batches")
    # Sheets, pins or slides in the tray as counted by hand; hand-logged counts may not exceed it.
    size = models.PositiveIntegerField(null=True, blank=True, help_text="objects in the tray, drawer or box")
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


DEFAULT_STAGES = ["databased", "imaged", "transcribed", "georeferenced", "verified", "published"]
STAGE_LABELS = {
    "databased": "Databased", "imaged": "Imaged", "transcribed": "Transcribed",
    "georeferenced": "Georeferenced", "verified": "Verified", "published": "Published",
}


def default_stages() -> list[str]:
    return list(DEFAULT_STAGES)


class Project(PublicIdModel):
    """A funded digitisation programme at one institution, or one of its collections (DESIGN §3, §6)."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="digitisation_projects")
    # Null: the project covers every collection of the institution.
    collection = models.ForeignKey("institutions.Collection", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="digitisation_projects")
    name = models.CharField(max_length=200)
    start_date = models.DateField()
    end_date = models.DateField()
    target_count = models.PositiveIntegerField(help_text="specimens to reach the counted stage by the end date")
    target_mids_level = models.SmallIntegerField(default=1, help_text="MIDS level every funded specimen should reach")
    stages = ArrayField(models.CharField(max_length=32), default=default_stages, help_text="workflow stages, in order")
    counted_stage = models.CharField(max_length=32, default="databased", help_text="the stage progress is counted at")
    # Planned weekly rates (specimens a week) before any activity: optimistic, most likely, pessimistic.
    pert_optimistic = models.PositiveIntegerField(null=True, blank=True)
    pert_most_likely = models.PositiveIntegerField(null=True, blank=True)
    pert_pessimistic = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["institution__name", "start_date"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gt=F("start_date")), name="project_ends_after_start"),
            models.CheckConstraint(condition=Q(target_mids_level__gte=0, target_mids_level__lte=3), name="project_mids_level_range"),
        ]

    def __str__(self) -> str:
        return self.name


class DigitisationEvent(models.Model):
    """Work done: one specimen reaching a stage (auto, from lower tables' facts) or a hand-logged count."""

    class Source(models.TextChoices):
        AUTO = "auto", "Recorded by the portal"
        MANUAL = "manual", "Logged by hand"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", db_index=False)
    collection = models.ForeignKey("institutions.Collection", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_events", db_index=False)
    batch = models.ForeignKey(Batch, on_delete=models.SET_NULL, null=True, blank=True, related_name="work_events", db_index=False)
    stage = models.CharField(max_length=32)
    # No database constraint: a draft may be deleted (or an import undone) after its work was counted.
    specimen = models.ForeignKey(Specimen, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
                                 db_constraint=False, db_index=False)
    count = models.PositiveIntegerField(default=1)
    minutes = models.PositiveIntegerField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             db_constraint=False, db_index=False)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.AUTO)
    note = models.CharField(max_length=300, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A specimen counts once per stage, however many facts say it got there.
            models.UniqueConstraint(fields=["specimen", "stage"], condition=Q(specimen__isnull=False),
                                    name="digitisation_event_specimen_stage_once"),
            models.CheckConstraint(condition=Q(count__gte=1), name="digitisation_event_count_positive"),
        ]
        indexes = [
            models.Index(fields=["batch", "stage"], name="digitisation_event_batch"),
            models.Index(fields=["occurred_at"], name="digitisation_event_occurred"),
        ]


class DailyStat(models.Model):
    """Rollup: specimens per stage per day × institution, collection, project, person (DESIGN §6)."""

    date = models.DateField()
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+", db_index=False)
    collection = models.ForeignKey("institutions.Collection", on_delete=models.CASCADE, null=True, related_name="+", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, related_name="+", db_index=False)
    stage = models.CharField(max_length=32)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+",
                             db_constraint=False, db_index=False)
    n = models.BigIntegerField(default=0)
    minutes = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["date", "institution", "collection", "project", "stage", "user"],
                                    name="daily_stat_unique", nulls_distinct=False),
        ]
        indexes = [
            models.Index(fields=["institution", "date"], name="daily_stat_institution_date"),
            models.Index(fields=["project", "stage", "date"], name="daily_stat_project_stage"),
        ]


class WeeklyStat(models.Model):
    """DailyStat by week (Monday) without the person: programme-wide charts read a few thousand rows."""

    week = models.DateField(help_text="the Monday the week starts on")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+", db_index=False)
    collection = models.ForeignKey("institutions.Collection", on_delete=models.CASCADE, null=True, related_name="+", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, related_name="+", db_index=False)
    stage = models.CharField(max_length=32)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["week", "institution", "collection", "project", "stage"],
                                    name="weekly_stat_unique", nulls_distinct=False),
        ]
        indexes = [
            models.Index(fields=["institution", "week"], name="weekly_stat_institution_week"),
            models.Index(fields=["project", "stage", "week"], name="weekly_stat_project_stage"),
        ]


class MidsSnapshot(models.Model):
    """Rollup: specimens per MIDS level per collection on a date (null level: never assessed)."""

    date = models.DateField()
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+", db_index=False)
    collection = models.ForeignKey("institutions.Collection", on_delete=models.CASCADE, related_name="+", db_index=False)
    level = models.SmallIntegerField(null=True)
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "date", "level"], name="mids_snapshot_unique", nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["date", "institution"], name="mids_snapshot_date")]


class RecordSnapshot(models.Model):
    """Rollup beside MidsSnapshot: records per status, and per failing MIDS element, per collection."""

    class Measure(models.TextChoices):
        STATUS = "status", "Record status"
        FAILING = "failing", "Failing MIDS element"

    date = models.DateField()
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+", db_index=False)
    collection = models.ForeignKey("institutions.Collection", on_delete=models.CASCADE, related_name="+", db_index=False)
    measure = models.CharField(max_length=16, choices=Measure.choices)
    key = models.CharField(max_length=64)
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "date", "measure", "key"], name="record_snapshot_unique"),
        ]
        indexes = [models.Index(fields=["date", "measure", "institution"], name="record_snapshot_date")]


class Watermark(models.Model):
    """How far a job has read a source table (the highest id it has turned into rows)."""

    name = models.CharField(max_length=64, primary_key=True)
    position = models.BigIntegerField(default=0)
    # Source tables written by other transactions: rows up to pending_position were read while
    # transactions below xid pending_xmax could still commit lower ids, so the next run reads them
    # again (idempotently) until those transactions are over; then position moves up to it.
    pending_position = models.BigIntegerField(default=0)
    pending_xmax = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.position}"
