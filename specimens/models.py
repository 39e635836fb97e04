import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Lower, Upper

from collections_portal.common.models import PublicIdModel, TimeStampedModel
from institutions.models import Collection, Institution

from .dwc import HIGHER_RANKS

# The row insert triggers are skipped while a bulk import writes: the importer sets
# portal.bulk_import = 'on' for its INSERTs and writes their insert events set-based instead
# (specimens.history, one INSERT … SELECT). A trigger WHEN clause, not pgtrigger.ignore, whose
# per-row check opens a subtransaction (≈ 23 µs a row, most of an import). Undoing an import
# deletes those same rows under the same switch (specimens.imports.undo), their delete events
# written set-based the same way.
BULK_IMPORT_SETTING = "portal.bulk_import"
NOT_BULK_IMPORT = pgtrigger.Condition(f"current_setting('{BULK_IMPORT_SETTING}', true) IS DISTINCT FROM 'on'")


def bulk_import_trackers() -> tuple:
    """Fresh tracker objects per model (pghistory resolves them against the model it tracks)."""
    return (
        pghistory.InsertEvent(condition=NOT_BULK_IMPORT),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(condition=NOT_BULK_IMPORT),
    )


def before_import_tracker() -> pghistory.UpdateEvent:
    """The row as it was, when an import first rewrites a record that has no event of its own yet.

    A bulk-loaded record (inserted by an import, no insert event) that nobody has edited is still
    version 1; the "update" event of the next import holds only its new values. This snapshot of
    the OLD row keeps the values it replaces, so that import can be undone (and the history page
    shows what it changed). Written once per record at most: from then on the record has events.
    """
    return pghistory.UpdateEvent(
        "before_import",
        row=pghistory.Old,
        condition=pgtrigger.Condition(
            "OLD.version = 1 AND NEW.import_batch_id IS NOT NULL AND NEW.import_batch_id IS DISTINCT FROM OLD.import_batch_id"
        ),
    )


class LocalitySensitivity(models.TextChoices):
    NONE = "none", "Not sensitive"
    KM10 = "10km", "Generalise to 10 km"
    KM100 = "100km", "Generalise to 100 km"
    WITHHOLD = "withhold", "Withhold locality"


# Levels from least to most strict; SQL compares them by position in this array.
SENSITIVITY_ORDER = ("none", "10km", "100km", "withhold")
SENSITIVITY_ORDER_SQL = "ARRAY[" + ", ".join(f"'{level}'" for level in SENSITIVITY_ORDER) + "]"

TAXON_PATH_STEP = 7  # base-36 characters per tree level: 36**7 ≈ 78 billion ids


class TaxonRank(models.TextChoices):
    KINGDOM = "kingdom", "Kingdom"
    PHYLUM = "phylum", "Phylum"
    CLASS = "class", "Class"
    ORDER = "order", "Order"
    FAMILY = "family", "Family"
    GENUS = "genus", "Genus"
    SPECIES = "species", "Species"
    SUBSPECIES = "subspecies", "Subspecies"
    VARIETY = "variety", "Variety"
    FORM = "form", "Form"
    UNRANKED = "unranked", "Unranked"



@pghistory.track()
class Taxon(PublicIdModel):
    """A node of the taxonomic tree: adjacency (`parent`) plus a materialised `path`.

    `path` is the ancestors' ids then this id, each TAXON_PATH_STEP base-36 characters, so
    "all descendants" is one prefix scan of a btree index, an insert writes one row and a move
    rewrites only the moved subtree. No nested sets: they renumber half the tree per insert.
    """

    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    path = models.CharField(max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    name = models.CharField(max_length=255, help_text="scientific name without authorship")
    authorship = models.CharField(max_length=255, blank=True)
    rank = models.CharField(max_length=16, choices=TaxonRank.choices, default=TaxonRank.UNRANKED)
    name_id = models.CharField(max_length=255, blank=True, help_text="IPNI / WoRMS / Catalogue of Life URI")
    accepted = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="synonyms",
        help_text="set when this name is a synonym",
    )
    vernacular_name = models.CharField(max_length=255, blank=True)
    # Sensitive localities (specimens.public): the taxon's own level, and the stricter of its own and
    # every ancestor's, which its records take. The second is kept by a BEFORE INSERT trigger (so
    # set-based COPYs get it too) and by taxon_sensitivity_set / taxon_move for whole subtrees.
    locality_sensitivity = models.CharField(
        max_length=16, choices=LocalitySensitivity.choices, default=LocalitySensitivity.NONE,
        db_default=LocalitySensitivity.NONE, help_text="generalise the localities of this taxon and its descendants",
    )
    effective_sensitivity = models.CharField(
        max_length=16, choices=LocalitySensitivity.choices, default=LocalitySensitivity.NONE,
        db_default=LocalitySensitivity.NONE, editable=False,
    )
    # A name a specimen write brought in (form, API or import) stays out of the public tree until a
    # record using it is published or a curator accepts it (taxon_accept).
    is_provisional = models.BooleanField(default=False, db_default=False)
    kingdom = models.CharField(max_length=120, blank=True)
    phylum = models.CharField(max_length=120, blank=True)
    class_name = models.CharField("class", max_length=120, blank=True)
    order = models.CharField(max_length=120, blank=True)
    family = models.CharField(max_length=120, blank=True)
    genus = models.CharField(max_length=120, blank=True)

    class Meta:
        verbose_name_plural = "taxa"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name", "authorship"], name="taxon_unique_name_under_parent", nulls_distinct=False
            ),
            models.CheckConstraint(condition=Q(rank__in=TaxonRank.values), name="taxon_rank_valid"),
        ]
        triggers = [
            # A new or re-hung node takes the stricter of its own level and its parent's effective
            # one: every insert path (form, import COPY, checklist) gets it without knowing.
            pgtrigger.Trigger(
                name="taxon_effective_sensitivity",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("locality_sensitivity", "parent_id"),
                func=f"""
                    NEW.effective_sensitivity := COALESCE((
                        SELECT CASE WHEN array_position({SENSITIVITY_ORDER_SQL}, p.effective_sensitivity::text)
                                       > array_position({SENSITIVITY_ORDER_SQL}, NEW.locality_sensitivity::text)
                                    THEN p.effective_sensitivity ELSE NEW.locality_sensitivity END
                        FROM specimens_taxon p WHERE p.id = NEW.parent_id), NEW.locality_sensitivity);
                    RETURN NEW;
                """,
            ),
        ]
        indexes = [
            models.Index(OpClass("path", name="text_pattern_ops"), name="taxon_path_prefix"),
            models.Index(OpClass(Upper("name"), name="text_pattern_ops"), name="taxon_name_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.authorship}".strip()

    @property
    def scientific_name(self) -> str:
        return str(self)


@pghistory.track()
class Agent(PublicIdModel):
    """A collector or determiner, shared across specimens and de-duplicated on import."""

    class AgentType(models.TextChoices):
        PERSON = "person", "Person"
        ORGANISATION = "organisation", "Organisation"

    name = models.CharField(max_length=255)
    name_key = models.CharField(max_length=255, db_index=True, editable=False, help_text="folded name for matching")
    agent_type = models.CharField(max_length=16, choices=AgentType.choices, default=AgentType.PERSON)
    orcid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    wikidata_qid = models.CharField(max_length=32, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(orcid__regex=r"^https://orcid\.org/\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"), name="agent_orcid_uri"),
            models.CheckConstraint(condition=Q(wikidata_qid__regex=r"^Q\d+$"), name="agent_wikidata_qid"),
        ]
        indexes = [models.Index(OpClass(Upper("name"), name="text_pattern_ops"), name="agent_name_prefix")]

    def __str__(self) -> str:
        return self.name


class BasisOfRecord(models.TextChoices):
    PRESERVED_SPECIMEN = "PreservedSpecimen", "Preserved specimen"
    FOSSIL_SPECIMEN = "FossilSpecimen", "Fossil specimen"
    LIVING_SPECIMEN = "LivingSpecimen", "Living specimen"
    MATERIAL_SAMPLE = "MaterialSample", "Material sample"
    MATERIAL_CITATION = "MaterialCitation", "Material citation"
    HUMAN_OBSERVATION = "HumanObservation", "Human observation"
    MACHINE_OBSERVATION = "MachineObservation", "Machine observation"
    OCCURRENCE = "Occurrence", "Occurrence"


# Derived MIDS columns stay out of the history (and so fire no update event): a re-assessment of a
# million records after a new mapping release is not a million edits.
SPECIMEN_UNTRACKED_FIELDS = ["mids_level", "mids_assessment", "mids_assessed_at", "mids_terms"]


class MidsAssessment(models.Model):
    """One outcome of the MIDS evaluator (standards.mids), shared by every specimen that has it.

    The outcome depends only on which mapped terms hold a value (or a placeholder), so a million
    records fall into a few hundred distinct assessments: each specimen points at its own (with
    `mids_level` copied beside it for filters and sorting), and a re-assessment rewrites two
    narrow columns per record instead of a JSON document.
    """

    mapping_set = models.CharField(max_length=64, help_text="SSSOM mapping_set_id, e.g. mids_dwc-a_biology_1")
    mapping_version = models.CharField(max_length=64, help_text="mapping_set_version:sha256 of the vendored files")
    states_key = models.CharField(max_length=64, editable=False, help_text="sha256 of the terms with a value")
    level = models.SmallIntegerField(help_text="-1 below MIDS-0, else 0 to 3")
    # [{"element", "level", "pass", "term" | "reason"}], in level order
    elements = models.JSONField(default=list)
    blocking = ArrayField(models.CharField(max_length=64), default=list, help_text="failing elements of the next level")
    failing = ArrayField(models.CharField(max_length=64), default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Looked up by its states, but not unique on purpose: a unique key made a transaction that
        # needed an assessment another open transaction had just created wait for that one to
        # end (two imports at once ran one after the other; a curator's save waited for an
        # import). Two transactions that meet the same new states each write a row, which is
        # harmless: the rows are equal, and later lookups take the first.
        indexes = [models.Index(fields=["mapping_version", "mapping_set", "states_key"], name="mids_assessment_states")]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=-1, level__lte=3), name="mids_assessment_level_range"),
        ]

    def __str__(self) -> str:
        return f"MIDS-{self.level} ({self.mapping_set})"


@pghistory.track(*bulk_import_trackers(), before_import_tracker(), exclude=SPECIMEN_UNTRACKED_FIELDS)
class Specimen(PublicIdModel):
    """One physical specimen, one Darwin Core Occurrence row. Field names follow Darwin Core."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"
        WITHDRAWN = "withdrawn", "Withdrawn"

    # No single-column FK indexes where a composite one starts with the column (fewer indexes,
    # faster bulk import): collection → the (collection, catalog_number) unique; institution →
    # specimen_institution_id; taxon → specimen_taxon.
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="specimens", db_index=False)
    # Copied from the collection so every staff query filters one indexed column.
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="specimens", db_index=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="optimistic lock: +1 on every save")
    # MIDS (specimens.mids): -1 below MIDS-0, 0 to 3, null never assessed; the reasons in mids_assessment.
    mids_level = models.SmallIntegerField(null=True, blank=True)
    # No database constraint: assessments are never deleted, and a re-assessment of a million rows
    # would otherwise run a million foreign-key checks.
    mids_assessment = models.ForeignKey(
        MidsAssessment, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+", db_index=False,
        db_constraint=False, editable=False,
    )
    mids_assessed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Darwin Core values an import brought for MIDS-mapped terms that have no column here
    # (institutionCode, associatedMedia, footprintWKT, formation, ...), kept so an edit does not lose them.
    mids_terms = models.JSONField(null=True, blank=True, editable=False)
    media_count = models.PositiveIntegerField(default=0)
    # Linked images in order, written by imaging through specimen_media_set (IIIF service paths).
    media = models.JSONField(default=list, blank=True)
    # Media an import linked from elsewhere (a Multimedia or Audubon Core extension), in file order:
    # [{"url", "format", "type", "title", "license", "rights_holder", "creator"}]. Never fetched;
    # kept apart from `media` so imaging and imports never overwrite each other's list.
    # media_count counts both (specimens.services.specimen_media_set, the importer).
    external_media = models.JSONField(default=list, blank=True)
    quality_flags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    published_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)

    # record
    license = models.URLField(default="http://creativecommons.org/publicdomain/zero/1.0/legalcode")
    rights_holder = models.CharField(max_length=255, blank=True)
    basis_of_record = models.CharField(max_length=32, choices=BasisOfRecord.choices, default=BasisOfRecord.PRESERVED_SPECIMEN)
    information_withheld = models.TextField(blank=True)
    data_generalizations = models.TextField(blank=True)
    # occurrence
    # Unique through Meta.constraints: a unique=True CharField also gets a LIKE index nobody uses.
    occurrence_id = models.CharField(max_length=500, help_text="stable URI, never changed")
    catalog_number = models.CharField(max_length=120)
    catalog_number_normalised = models.CharField(max_length=120, editable=False)
    other_catalog_numbers = models.TextField(blank=True)
    record_number = models.CharField(max_length=120, blank=True)
    recorded_by = models.TextField(blank=True, help_text="collectors as written, separated by |")
    recorded_by_id = models.TextField(blank=True)
    individual_count = models.PositiveIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=60, blank=True)
    life_stage = models.CharField(max_length=60, blank=True)
    preparations = models.TextField(blank=True)
    disposition = models.CharField(max_length=120, blank=True)
    # event
    event_date = models.CharField(max_length=64, blank=True, help_text="ISO 8601 date, partial date or interval")
    event_date_start = models.DateField(null=True, blank=True, editable=False)
    event_date_end = models.DateField(null=True, blank=True, editable=False)
    year = models.SmallIntegerField(null=True, blank=True)
    month = models.SmallIntegerField(null=True, blank=True)
    day = models.SmallIntegerField(null=True, blank=True)
    event_time = models.CharField(max_length=64, blank=True, help_text="Darwin Core eventTime, e.g. 14:07-0600")
    verbatim_event_date = models.CharField(max_length=255, blank=True)
    field_number = models.CharField(max_length=120, blank=True)
    habitat = models.TextField(blank=True)
    # location
    country = models.CharField(max_length=120, blank=True)
    country_code = models.CharField(max_length=2, blank=True)
    state_province = models.CharField(max_length=255, blank=True)
    county = models.CharField(max_length=255, blank=True)
    locality = models.TextField(blank=True)
    verbatim_locality = models.TextField(blank=True)
    water_body = models.CharField(max_length=255, blank=True)
    minimum_elevation_in_meters = models.FloatField(null=True, blank=True)
    maximum_elevation_in_meters = models.FloatField(null=True, blank=True)
    minimum_depth_in_meters = models.FloatField(null=True, blank=True)
    maximum_depth_in_meters = models.FloatField(null=True, blank=True)
    decimal_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    decimal_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    geodetic_datum = models.CharField(max_length=60, blank=True)
    coordinate_uncertainty_in_meters = models.FloatField(null=True, blank=True)
    coordinate_precision = models.DecimalField(max_digits=10, decimal_places=7, null=True, blank=True)
    location_id = models.CharField(max_length=255, blank=True)
    locality_sensitivity = models.CharField(max_length=16, choices=LocalitySensitivity.choices, default=LocalitySensitivity.NONE)
    # current identification, copied from the current Identification row
    taxon = models.ForeignKey(Taxon, on_delete=models.PROTECT, null=True, blank=True, related_name="specimens", db_index=False)
    scientific_name = models.CharField(max_length=500, blank=True)
    identified_by = models.TextField(blank=True)
    date_identified = models.CharField(max_length=64, blank=True)
    identification_qualifier = models.CharField(max_length=60, blank=True)
    type_status = models.CharField(max_length=255, blank=True)
    verbatim_identification = models.CharField(max_length=500, blank=True)
    # the bulk import that last wrote this row (inserted or updated it); undo works by batch.
    # Not indexed: every imported row carries it, so the index would cost each import a million
    # entries to save a rare undo or batch deletion one sequential scan.
    import_batch = models.ForeignKey(
        "specimens.ImportBatch", on_delete=models.SET_NULL, null=True, blank=True, related_name="specimens", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "catalog_number"], name="specimen_catalog_number_unique_per_collection"),
            models.UniqueConstraint(fields=["occurrence_id"], name="specimen_occurrence_id_unique"),
            models.CheckConstraint(condition=Q(basis_of_record__in=BasisOfRecord.values), name="specimen_basis_of_record_valid"),
            models.CheckConstraint(condition=Q(status__in=["draft", "in_review", "published", "withdrawn"]), name="specimen_status_valid"),
            models.CheckConstraint(condition=~Q(catalog_number=""), name="specimen_catalog_number_not_empty"),
            models.CheckConstraint(
                condition=Q(decimal_latitude__gte=-90, decimal_latitude__lte=90) | Q(decimal_latitude__isnull=True),
                name="specimen_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(decimal_longitude__gte=-180, decimal_longitude__lte=180) | Q(decimal_longitude__isnull=True),
                name="specimen_longitude_range",
            ),
            models.CheckConstraint(
                condition=Q(decimal_latitude__isnull=True, decimal_longitude__isnull=True)
                | Q(decimal_latitude__isnull=False, decimal_longitude__isnull=False),
                name="specimen_coordinates_both_or_neither",
            ),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12) | Q(month__isnull=True), name="specimen_month_range"),
            models.CheckConstraint(condition=Q(day__gte=1, day__lte=31) | Q(day__isnull=True), name="specimen_day_range"),
            models.CheckConstraint(condition=Q(mids_level__gte=-1, mids_level__lte=3) | Q(mids_level__isnull=True), name="specimen_mids_level_range"),
            models.CheckConstraint(condition=Q(version__gte=1), name="specimen_version_positive"),
            models.CheckConstraint(
                condition=Q(event_date_end__gte=F("event_date_start")) | Q(event_date_end__isnull=True) | Q(event_date_start__isnull=True),
                name="specimen_event_dates_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["institution", "id"], name="specimen_institution_id"),
            models.Index(fields=["collection", "catalog_number_normalised"], name="specimen_catalog_normalised"),
            models.Index(fields=["taxon"], name="specimen_taxon"),
        ]

    def __str__(self) -> str:
        return f"{self.catalog_number} {self.scientific_name}".strip()


class SpecimenAgent(models.Model):
    class Role(models.TextChoices):
        COLLECTOR = "collector", "Collector"
        DETERMINER = "determiner", "Determiner"

    # Indexed by the unique (specimen, agent, role) and specimen_agent_agent, not by Django's own.
    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE, related_name="agent_links", db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="specimen_links", db_index=False)
    role = models.CharField(max_length=16, choices=Role.choices)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["specimen", "role", "order"]
        constraints = [models.UniqueConstraint(fields=["specimen", "agent", "role"], name="specimen_agent_unique")]
        indexes = [models.Index(fields=["agent"], name="specimen_agent_agent")]


pghistory.track(*bulk_import_trackers())(SpecimenAgent)


@pghistory.track(*bulk_import_trackers())
class Identification(TimeStampedModel):
    """One determination. Never overwritten: a new one is added and becomes current."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE, related_name="identifications")
    # Not indexed: nothing looks identifications up by taxon except deleting a taxon (rare, a scan
    # is fine), and the index cost every import a million random inserts (≈ 1 s at 1 M rows).
    taxon = models.ForeignKey(Taxon, on_delete=models.PROTECT, null=True, blank=True, related_name="identifications",
                              db_index=False)
    verbatim_identification = models.CharField(max_length=500, blank=True)
    identified_by = models.TextField(blank=True)
    date_identified = models.CharField(max_length=64, blank=True)
    identification_qualifier = models.CharField(max_length=60, blank=True)
    type_status = models.CharField(max_length=255, blank=True)
    remarks = models.TextField(blank=True)
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["specimen", "-is_current", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["specimen"], condition=Q(is_current=True), name="identification_one_current"),
            models.CheckConstraint(condition=Q(taxon__isnull=False) | ~Q(verbatim_identification=""), name="identification_has_name"),
        ]


@pghistory.track()
class Preparation(TimeStampedModel):
    class PreparationType(models.TextChoices):
        SHEET = "sheet", "Herbarium sheet"
        PINNED = "pinned", "Pinned"
        SKIN = "skin", "Skin"
        SKELETON = "skeleton", "Skeleton"
        SPIRIT = "spirit", "In spirit (fluid)"
        SLIDE = "slide", "Microscope slide"
        DRY = "dry", "Dry"
        FROZEN = "frozen", "Frozen tissue"
        PACKET = "packet", "Packet / capsule"
        ROCK = "rock", "Rock / mineral specimen"
        FOSSIL = "fossil", "Fossil"
        OTHER = "other", "Other"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE, related_name="preparation_items")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    preparation_type = models.CharField(max_length=16, choices=PreparationType.choices, default=PreparationType.OTHER)
    count = models.PositiveIntegerField(default=1)
    barcode = models.CharField(max_length=120, blank=True)
    storage_location = models.CharField(max_length=255, blank=True)
    remarks = models.TextField(blank=True)

    class Meta:
        ordering = ["specimen", "id"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "barcode"], condition=~Q(barcode=""), name="preparation_barcode_unique_per_institution"),
            models.CheckConstraint(condition=Q(count__gte=1), name="preparation_count_positive"),
        ]


# --- bulk import ------------------------------------------------------------------------------


IMPORT_BATCH_UNSETTLED = ["pending", "reading", "validating", "writing"]


# The lease columns change every few seconds while a task works: bookkeeping, not history.
@pghistory.track(exclude=["lease_owner", "lease_expires_at", "queued_at"])
class ImportBatch(PublicIdModel):
    """One upload of a DwC-A or CSV/TSV file: specimen records into a collection, or a checklist
    into the shared taxonomic tree (no collection). Progress and results live here, so a page can
    poll them without asking the broker."""

    class Kind(models.TextChoices):
        SPECIMENS = "specimens", "Specimen records"
        TAXA = "taxa", "Taxonomic checklist (names into the tree)"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        READING = "reading", "Reading the file"
        VALIDATING = "validating", "Checking rows"
        WRITING = "writing", "Saving specimens"
        DONE = "done", "Finished"
        REJECTED = "rejected", "File rejected"
        FAILED = "failed", "Failed"

    class UndoStatus(models.TextChoices):
        NONE = "", "Not undone"
        QUEUED = "queued", "Being undone"
        DONE = "done", "Undone"
        FAILED = "failed", "Undo failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SPECIMENS)
    # Specimen records only (import_batch_collection_for_specimens); a checklist goes into the shared tree.
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, null=True, blank=True, related_name="import_batches")
    # Whose staff see the batch: the collection's institution, or the checklist uploader's.
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="import_batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    file_name = models.CharField(max_length=255)
    source_path = models.TextField(blank=True, help_text="server-side path of the uploaded file or folder")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    dry_run = models.BooleanField(default=False)
    # How slash dates (6/7/2009) are read when the file does not show it: day/month or month/day.
    date_order = models.CharField(max_length=3, choices=[("dmy", "Day/month/year"), ("mdy", "Month/day/year")], blank=True)
    publish = models.BooleanField(default=False, help_text="the records written are published (curators and managers)")
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    inserted_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    synonym_count = models.PositiveIntegerField(default=0, help_text="checklists: synonym links set to an accepted name")
    file_errors = models.JSONField(default=list, blank=True)
    file_warnings = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The lease (specimens.imports.batches): the task running the import, and until when. Renewed
    # every few seconds while it runs, so a lapsed lease means that task is gone and the batch is
    # run again from the start; after IMPORT_MAX_ATTEMPTS starts it fails with the reason.
    attempts = models.PositiveSmallIntegerField(default=0, help_text="times a task started this import")
    lease_owner = models.CharField(max_length=120, blank=True, help_text="host:pid:token of the task at work")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="last sent to the bulk queue")
    # Undo (specimens.imports.undo): who asked, when it was applied, and what it did.
    undo_status = models.CharField(max_length=16, choices=UndoStatus.choices, default=UndoStatus.NONE, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    undo_requested_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_deleted_count = models.PositiveIntegerField(default=0, help_text="records this import created, deleted by the undo")
    undo_restored_count = models.PositiveIntegerField(default=0, help_text="records this import changed, put back by the undo")
    undo_kept_count = models.PositiveIntegerField(default=0, help_text="records left as they are (see ImportUndoKept)")
    undo_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "reading", "validating", "writing", "done", "rejected", "failed"]),
                name="import_batch_status_valid",
            ),
            models.CheckConstraint(condition=Q(undo_status__in=["", "queued", "done", "failed"]), name="import_batch_undo_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=["specimens", "taxa"]), name="import_batch_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind="taxa") | Q(collection__isnull=False), name="import_batch_collection_for_specimens",
                violation_error_message="Choose the collection the specimen records belong to.",
            ),
            models.CheckConstraint(
                condition=Q(undo_status="done", undone_at__isnull=False) | ~Q(undo_status="done"),
                name="import_batch_undone_at_when_done",
            ),
        ]
        indexes = [
            models.Index(fields=["institution", "-created_at"], name="import_batch_institution"),
            # The reconciler's scan every 30 s reads only the batches still running.
            models.Index(fields=["lease_expires_at", "queued_at"], name="import_batch_unsettled_lease",
                         condition=Q(status__in=IMPORT_BATCH_UNSETTLED)),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} → {self.collection_id or self.kind} ({self.status})"


class ImportRowError(models.Model):
    """Why one row was not imported (an error), or a value of it was dropped (a warning).
    Written set-based by the importer."""

    class Severity(models.TextChoices):
        ERROR = "error", "Row not imported"
        WARNING = "warning", "Value dropped, row imported"

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="row_errors")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.ERROR)
    line = models.PositiveIntegerField(help_text="line in the data file (header lines counted)")
    column = models.CharField(max_length=120, blank=True, help_text="Darwin Core term")
    value = models.TextField(blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["batch", "line", "id"]
        indexes = [models.Index(fields=["batch", "line"], name="import_row_error_batch_line")]


class ImportUndoKept(models.Model):
    """A record an undo left as it was, and why (written set-based by the undo; the page and its
    CSV list them). Keyed by uuid, not a foreign key: the record may be deleted later."""

    class Reason(models.TextChoices):
        PUBLISHED = "published", "Published since the import: a published record is never deleted (withdraw it instead)"
        EDITED = "edited", "Edited since the import"
        REIMPORTED = "reimported", "Changed by a later import"
        IMAGES = "images", "Has images linked to it"
        DIGITISATION_BATCH = "digitisation_batch", "In a digitisation batch"
        PREPARATIONS = "preparations", "Has preparations recorded"
        LINKED = "linked", "Other records refer to it"
        CHANGED_AFTER = "changed_after", "Changed again after the import, so not put back"
        NO_HISTORY = "no_history", "Its state before the import is not in the history, so not put back"
        DELETED = "deleted", "Deleted since the import: nothing to put back"

    class Kind(models.TextChoices):
        INSERTED = "inserted", "Created by the import"
        UPDATED = "updated", "Changed by the import"

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="undo_kept")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    specimen_uuid = models.UUIDField()
    catalog_number = models.CharField(max_length=120)
    reason = models.CharField(max_length=24, choices=Reason.choices)

    class Meta:
        ordering = ["batch", "catalog_number", "id"]
        indexes = [models.Index(fields=["batch", "catalog_number"], name="import_undo_kept_batch")]


# --- public search (specimens.search keeps these current; DESIGN §3, §7) ----------------------


# What the map reads of a row (specimens.search.search_grid): included in the filter indexes.
MAP_COLUMNS = ("decimal_latitude", "decimal_longitude", "coordinate_grain")


class SpecimenSearch(models.Model):
    """One row per published specimen holding only public values (generalised through the SQL form
    of specimens.public). The portal's search, facets, map and public API read this table alone, so
    a draft or an exact sensitive locality cannot reach them. Written by specimens.search only."""

    # The database deletes the row with its specimen (ON DELETE CASCADE, migration 0012), so a raw
    # DELETE (an import undo) leaves no orphan; Django's collector need not know.
    specimen = models.OneToOneField(Specimen, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                    related_name="+")
    uuid = models.UUIDField()
    occurrence_id = models.CharField(max_length=500)
    institution_code = models.CharField(max_length=32)
    collection_code = models.CharField(max_length=80, help_text="INSTITUTION:COLLECTION")
    catalog_number = models.CharField(max_length=120)
    catalog_number_normalised = models.CharField(max_length=120, db_collation="C")
    scientific_name = models.CharField(max_length=500)
    # Lower-cased name in byte order: one btree serves both name sorting and prefix matches.
    name_key = models.CharField(max_length=500, db_collation="C")
    vernacular_name = models.CharField(max_length=255, blank=True)
    kingdom = models.CharField(max_length=120, blank=True)
    phylum = models.CharField(max_length=120, blank=True)
    class_name = models.CharField(max_length=120, blank=True)
    order = models.CharField(max_length=120, blank=True)
    family = models.CharField(max_length=120, blank=True)
    genus = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=120, blank=True)
    country_code = models.CharField(max_length=2, blank=True)
    place = models.TextField(blank=True, help_text="public locality, county, state, country joined")
    type_status = models.CharField(max_length=255, blank=True)
    recorded_by = models.TextField(blank=True)
    basis_of_record = models.CharField(max_length=32)
    event_date = models.CharField(max_length=64, blank=True)
    year = models.SmallIntegerField(null=True)
    mids_level = models.SmallIntegerField(null=True)
    media_count = models.PositiveIntegerField(default=0, help_text="media the public may see")
    has_image = models.BooleanField(default=False)
    thumbnail = models.TextField(blank=True, help_text="IIIF service of the first public image")
    decimal_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True)
    decimal_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True)
    # Degrees the public coordinates are rounded to (0 exact, 0.1 or 1 generalised): no map cell or
    # box ever reports a record more finely than this.
    coordinate_grain = models.DecimalField(max_digits=3, decimal_places=1, default=0)
    published_at = models.DateTimeField(null=True)
    modified = models.DateTimeField()
    document = SearchVectorField()

    class Meta:
        indexes = [
            GinIndex(fields=["document"], name="search_document"),
            models.Index(fields=["name_key", "specimen"], name="search_name_key", include=MAP_COLUMNS),
            models.Index(fields=["catalog_number_normalised", "specimen"], name="search_catalog"),
            models.Index(Coalesce("year", 32767), "specimen", name="search_year_up"),
            models.Index(Coalesce("year", -32768).desc(), F("specimen").desc(), name="search_year_down"),
            models.Index(fields=["institution_code"], name="search_institution"),
            models.Index(fields=["collection_code"], name="search_collection"),
            # A filter on a rank or on a country, sorted by name, is a range of one of these plus
            # LIMIT; with the public coordinates included, its map cells are counted from the index alone.
            *(models.Index(fields=[HIGHER_RANKS[rank], "name_key", "specimen"], name=f"search_{rank}_name",
                           include=MAP_COLUMNS) for rank in HIGHER_RANKS),
            models.Index(fields=["country", "name_key", "specimen"], name="search_country_name", include=MAP_COLUMNS),
            models.Index(fields=["type_status"], name="search_type_status", condition=~Q(type_status="")),
            models.Index(fields=["decimal_latitude", "decimal_longitude"], name="search_point",
                         condition=Q(decimal_latitude__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.collection_code} {self.catalog_number} {self.scientific_name}"


class FacetCount(models.Model):
    """Published specimens per facet value (and facet "_total"), kept by specimens.search in the
    same transaction as the rows it counts, so the unfiltered search page never counts millions.
    Facet "scientific_name" doubles as the list of public names for typo-forgiving search."""

    facet = models.CharField(max_length=32)
    value = models.CharField(max_length=500)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["facet", "value"], name="facet_count_unique")]
        indexes = [
            GinIndex(OpClass("value", name="gin_trgm_ops"), name="facet_count_name_trgm",
                     condition=Q(facet="scientific_name")),
            # Words of a search resolved to a taxon, country or names: equality and prefix, any case.
            models.Index(F("facet"), OpClass(Lower("value"), name="text_pattern_ops"), name="facet_count_lower"),
        ]

    def __str__(self) -> str:
        return f"{self.facet}={self.value}: {self.n}"


class FacetPairCount(models.Model):
    """Published specimens per facet value among those with one dimension value (a genus, a
    country, a decade, an exact name…), kept by specimens.search beside FacetCount: a search
    filtered on one thing reads its facet counts here instead of counting its matches."""

    dimension = models.CharField(max_length=32)
    dimension_value = models.CharField(max_length=500)
    facet = models.CharField(max_length=32)
    value = models.CharField(max_length=500)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dimension", "dimension_value", "facet", "value"],
                                               name="facet_pair_count_unique")]

    def __str__(self) -> str:
        return f"{self.dimension}={self.dimension_value}: {self.facet}={self.value}: {self.n}"


class GridCount(models.Model):
    """Published specimens with public coordinates per map cell, for the coarse grid levels
    (specimens.search.GRID_LEVELS). A cell is never finer than its records' coordinate_grain."""

    level = models.SmallIntegerField()
    west = models.DecimalField(max_digits=8, decimal_places=3)
    south = models.DecimalField(max_digits=8, decimal_places=3)
    size = models.DecimalField(max_digits=6, decimal_places=3)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "west", "south", "size"], name="grid_count_unique")]

    def __str__(self) -> str:
        return f"level {self.level} ({self.west}, {self.south}) +{self.size}: {self.n}"
