import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_portal.common.models import PublicIdModel, TimeStampedModel


@pghistory.track()
class Institution(PublicIdModel):
    code = models.CharField(max_length=32, unique=True, help_text="e.g. NHMUK, K, E")
    name = models.CharField(max_length=255)
    city = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=2, default="GB", help_text="ISO 3166-1 alpha-2")
    website = models.URLField(blank=True)
    ror_id = models.URLField(blank=True, help_text="https://ror.org/…")
    grscicoll_key = models.UUIDField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9][A-Z0-9-]*$"), name="institution_code_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def institution_id_uri(self) -> str:
        """Darwin Core institutionID: ROR first, else the GRSciColl page."""
        if self.ror_id:
            return self.ror_id
        if self.grscicoll_key:
            return f"https://www.gbif.org/grscicoll/institution/{self.grscicoll_key}"
        return ""


class MidsDiscipline(models.TextChoices):
    BIOLOGY = "biology", "Biology"
    GEOLOGY = "geology", "Geology"
    PALAEONTOLOGY = "palaeontology", "Palaeontology"


@pghistory.track()
class Collection(PublicIdModel):
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="collections")
    code = models.CharField(max_length=32, help_text="unique within the institution, e.g. BOT")
    name = models.CharField(max_length=255)
    discipline = models.CharField(max_length=120, blank=True, help_text="e.g. Botany, Entomology")
    mids_discipline = models.CharField(max_length=16, choices=MidsDiscipline.choices, default=MidsDiscipline.BIOLOGY)
    grscicoll_key = models.UUIDField(null=True, blank=True, unique=True)
    barcode_pattern = models.CharField(max_length=200, blank=True, help_text=r"regular expression, e.g. ^E\d{8}$")
    default_license = models.URLField(default="http://creativecommons.org/publicdomain/zero/1.0/legalcode")
    # A label photo shows the very locality a sensitive record's public values hide (specimens.public).
    sensitive_label_images_private = models.BooleanField(
        default=True, help_text="show label images of records with a sensitive locality to this institution's staff only",
    )

    class Meta:
        ordering = ["institution__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "code"], name="collection_code_unique_per_institution"),
            models.CheckConstraint(condition=Q(mids_discipline__in=MidsDiscipline.values), name="collection_mids_discipline_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.institution.code}:{self.code}"

    @property
    def full_code(self) -> str:
        return f"{self.institution.code}:{self.code}"


class CollectionMetric(TimeStampedModel):
    """A Latimer Core MeasurementOrFact about a collection: a reported estimate or a calculated count."""

    class MeasurementType(models.TextChoices):
        ESTIMATED_OBJECTS = "estimated_objects", "Estimated object count"
        DIGITISED = "digitised", "Digitised specimens"
        IMAGED = "imaged", "Imaged specimens"

    class Derivation(models.TextChoices):
        REPORTED = "reported", "Reported"
        CALCULATED = "calculated", "Calculated"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="metrics")
    measurement_type = models.CharField(max_length=32, choices=MeasurementType.choices)
    derivation = models.CharField(max_length=16, choices=Derivation.choices)
    value = models.BigIntegerField()
    measured_on = models.DateField()
    source = models.CharField(max_length=500, blank=True, help_text="publisher and title, or how it was calculated")
    source_url = models.URLField(blank=True)

    class Meta:
        ordering = ["collection", "measurement_type", "-measured_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "measurement_type", "derivation", "measured_on"], name="collection_metric_unique_per_day"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="collection_metric_value_not_negative"),
        ]
        indexes = [models.Index(fields=["collection", "measurement_type", "-measured_on"])]

    def __str__(self) -> str:
        return f"{self.collection} {self.measurement_type}={self.value} ({self.measured_on})"


class Role(models.TextChoices):
    DIGITISER = "digitiser", "Digitiser"
    CURATOR = "curator", "Curator"
    COLLECTION_MANAGER = "collection_manager", "Collection manager"
    PROGRAMME_MANAGER = "programme_manager", "Programme manager"


@pghistory.track()
class Membership(TimeStampedModel):
    """A person's role at one institution; a programme manager's membership has no institution."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "institution", "role"], name="membership_unique", nulls_distinct=False),
            models.CheckConstraint(
                condition=(Q(role="programme_manager") & Q(institution__isnull=True))
                | (~Q(role="programme_manager") & Q(institution__isnull=False)),
                name="membership_institution_matches_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} @ {self.institution.code if self.institution else 'all'}"
