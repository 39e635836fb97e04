"""Datasets published to GBIF as versioned Darwin Core Archives, and downloads of searches.

A Dataset is what an aggregator registers (one publisher: one institution). Each publication is a
DatasetVersion built by a Celery task holding a lease on its row, in the shape of imports and
images (publishing/jobs.py); a version becomes visible only once its archive is stored and its row
says `published`, so a killed worker never shows a half-written one. DatasetRecord is the manifest
of the latest published version (one row hash per record), from which the next version's change
summary and the "no change" decision of auto-publishing are computed set-based.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_portal.common.models import PublicIdModel
from institutions.models import Collection, Institution
from specimens.models import Agent


class Licence(models.TextChoices):
    """The three licences GBIF accepts (DESIGN §4.3)."""

    CC0 = "http://creativecommons.org/publicdomain/zero/1.0/legalcode", "CC0 1.0"
    CC_BY = "http://creativecommons.org/licenses/by/4.0/legalcode", "CC BY 4.0"
    CC_BY_NC = "http://creativecommons.org/licenses/by-nc/4.0/legalcode", "CC BY-NC 4.0"


class UpdateFrequency(models.TextChoices):
    """EML 2.1.1 MaintUpFreqType, as the IPT offers it."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    BIANNUALLY = "biannually", "Twice a year"
    ANNUALLY = "annually", "Yearly"
    AS_NEEDED = "asNeeded", "As needed"
    CONTINUALLY = "continually", "Continually"
    IRREGULAR = "irregular", "Irregular"
    NOT_PLANNED = "notPlanned", "Not planned"
    UNKNOWN = "unkown", "Unknown"  # sic: the EML schema's own spelling


# How often an auto-published dataset is checked for changes; other frequencies are not scheduled.
AUTO_PUBLISH_INTERVALS = {
    UpdateFrequency.DAILY: timedelta(days=1),
    UpdateFrequency.WEEKLY: timedelta(days=7),
    UpdateFrequency.MONTHLY: timedelta(days=30),
    UpdateFrequency.BIANNUALLY: timedelta(days=182),
    UpdateFrequency.ANNUALLY: timedelta(days=365),
}

# Narrowing filters a dataset may save over its collections (keys of Dataset.record_filter).
RECORD_FILTER_KEYS = ("kingdom", "family", "country_code", "basis_of_record", "type_specimens_only")


class Dataset(PublicIdModel):
    shortname = models.SlugField(max_length=60, unique=True, help_text="stable name in URLs and file names, e.g. nhmuk-botany")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="datasets")
    # One collection, or several of the same institution narrowed by record_filter.
    collections = models.ManyToManyField(Collection, related_name="datasets")
    record_filter = models.JSONField(default=dict, blank=True, help_text="keys: " + ", ".join(RECORD_FILTER_KEYS))
    # EML
    title = models.CharField(max_length=255)
    abstract = models.TextField()
    creators = models.ManyToManyField(Agent, related_name="datasets_created", blank=True)
    contacts = models.ManyToManyField(Agent, related_name="datasets_contacted", blank=True)
    contact_email = models.EmailField(help_text="where GBIF and users write about the data")
    licence = models.URLField(choices=Licence.choices, default=Licence.CC0)
    image_licence = models.URLField(choices=Licence.choices, default=Licence.CC_BY)
    citation = models.TextField(blank=True, help_text="left empty: built from the publisher, title and version")
    identifier = models.CharField(max_length=255, blank=True, help_text="DOI or other stable identifier; default: the dataset's URL")
    update_frequency = models.CharField(max_length=16, choices=UpdateFrequency.choices, default=UpdateFrequency.AS_NEEDED)
    language = models.CharField(max_length=8, default="en")
    auto_publish = models.BooleanField(default=False, help_text="publish on the update frequency, when something changed")
    next_auto_publish_at = models.DateTimeField(null=True, blank=True)
    auto_publish_checked_at = models.DateTimeField(null=True, blank=True)
    auto_publish_result = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(condition=Q(shortname__regex=r"^[a-z0-9][a-z0-9-]*$"), name="dataset_shortname_slug"),
            models.CheckConstraint(condition=Q(licence__in=Licence.values), name="dataset_licence_gbif"),
            models.CheckConstraint(condition=Q(image_licence__in=Licence.values), name="dataset_image_licence_gbif"),
        ]
        indexes = [
            models.Index(fields=["next_auto_publish_at"], name="dataset_auto_publish_due", condition=Q(auto_publish=True)),
        ]

    def __str__(self) -> str:
        return self.shortname


VERSION_UNSETTLED = ["queued", "building"]


class DatasetVersion(PublicIdModel):
    """One publication attempt of a dataset; a numbered version once `published`."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting"
        BUILDING = "building", "Writing the archive"
        PUBLISHED = "published", "Published"
        UNCHANGED = "unchanged", "No change: no new version"
        REFUSED = "refused", "Refused: records to fix"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Set when the build knows what changed (a withdrawal or a new term set makes a new major).
    major = models.PositiveIntegerField(null=True, blank=True)
    minor = models.PositiveIntegerField(null=True, blank=True)
    only_if_changed = models.BooleanField(default=False, help_text="auto-publish: no new version when nothing changed")
    change_summary = models.TextField(blank=True)
    summary_edited = models.BooleanField(default=False, help_text="the summary was written or edited by a person")
    records_total = models.PositiveIntegerField(default=0)
    records_done = models.PositiveIntegerField(default=0)
    records_added = models.PositiveIntegerField(default=0)
    records_changed = models.PositiveIntegerField(default=0)
    records_withdrawn = models.PositiveIntegerField(default=0)
    terms = models.JSONField(default=list, blank=True, help_text="core terms in file order")
    metadata_hash = models.CharField(max_length=64, blank=True)
    archive_key = models.CharField(max_length=255, blank=True)
    eml_key = models.CharField(max_length=255, blank=True)
    archive_bytes = models.BigIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True, help_text="records to fix (refused) or warnings")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)
    # The lease (publishing/jobs.py), as on ImportBatch and ImageAsset.
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "-created_at"]
        constraints = [
            # Version numbers never collide, and one build per dataset at a time.
            models.UniqueConstraint(fields=["dataset", "major", "minor"], condition=Q(status="published"),
                                    name="dataset_version_number_unique"),
            models.UniqueConstraint(fields=["dataset"], condition=Q(status__in=VERSION_UNSETTLED),
                                    name="dataset_version_one_build",
                                    violation_error_message="This dataset is being published already."),
            models.CheckConstraint(condition=Q(status__in=["queued", "building", "published", "unchanged", "refused", "failed"]),
                                   name="dataset_version_status_valid"),
            models.CheckConstraint(condition=~Q(status="published") | Q(major__isnull=False, minor__isnull=False),
                                   name="dataset_version_published_numbered"),
        ]
        indexes = [
            models.Index(fields=["lease_expires_at", "queued_at"], name="dataset_version_unsettled",
                         condition=Q(status__in=VERSION_UNSETTLED)),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.shortname} v{self.number or '?'} ({self.status})"

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}" if self.major is not None else ""


class DatasetRecord(models.Model):
    """The manifest of a dataset's latest published version: which records, as which row."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+", db_index=False)
    specimen_id = models.BigIntegerField()  # no foreign key: a deleted draft never was published
    row_hash = models.UUIDField(help_text="md5 of the public Occurrence row")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "specimen_id"], name="dataset_record_unique")]


DOWNLOAD_UNSETTLED = ["queued", "building"]


class DownloadRequest(PublicIdModel):
    """A visitor's download of a public search, written by a task and removed after a while."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV (spreadsheet)"
        DWCA = "dwca", "Darwin Core Archive"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting"
        BUILDING = "building", "Writing the file"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Removed"

    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    params = models.JSONField(default=dict, help_text="the search's parameters")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    records_total = models.PositiveIntegerField(default=0)
    records_done = models.PositiveIntegerField(default=0)
    file_key = models.CharField(max_length=255, blank=True)
    file_bytes = models.BigIntegerField(default=0)
    citation = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["queued", "building", "ready", "failed", "expired"]),
                                   name="download_request_status_valid"),
            models.CheckConstraint(condition=Q(format__in=["csv", "dwca"]), name="download_request_format_valid"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="download_request_expiry", condition=Q(status="ready")),
            models.Index(fields=["lease_expires_at", "queued_at"], name="download_request_unsettled",
                         condition=Q(status__in=DOWNLOAD_UNSETTLED)),
        ]

    def __str__(self) -> str:
        return f"download {self.uuid} ({self.status})"
