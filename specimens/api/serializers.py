from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..dwc import HIGHER_COLUMNS
from ..models import Identification, Preparation, Specimen, Taxon
from ..services import SPECIMEN_EDITABLE_FIELDS

LIST_FIELDS = (
    "id", "uuid", "occurrence_id", "catalog_number", "scientific_name", "basis_of_record", "status",
    "event_date", "year", "country_code", "locality_sensitivity", "decimal_latitude", "decimal_longitude",
    "mids_level", "media_count", "updated_at", "institution_id",
)

def specimen_list_row(row: dict, *, exact_institutions) -> dict:
    """Shape one `.values()` row: no serializer instance per row at 100 rows a page. The row carries
    both the stored and the public coordinates (specimens.public's SQL form); outsiders get the latter."""
    lat, lon = row["decimal_latitude"], row["decimal_longitude"]
    if exact_institutions != "all" and row["institution_id"] not in exact_institutions:
        lat, lon = row["public_decimal_latitude"], row["public_decimal_longitude"]
    return {
        "uuid": str(row["uuid"]),
        "occurrence_id": row["occurrence_id"],
        "institution_code": row["institution_code"],
        "collection_code": row["collection_code"],
        "catalog_number": row["catalog_number"],
        "scientific_name": row["scientific_name"],
        "basis_of_record": row["basis_of_record"],
        "status": row["status"],
        "event_date": row["event_date"],
        "year": row["year"],
        "country_code": row["country_code"],
        "decimal_latitude": float(lat) if lat is not None else None,
        "decimal_longitude": float(lon) if lon is not None else None,
        "mids_level": row["mids_level"],
        "media_count": row["media_count"],
        "modified": row["updated_at"].isoformat(),
    }


class SpecimenListOutputSerializer(serializers.Serializer):
    """Documents the list row shape for the OpenAPI schema; rows are built by specimen_list_row."""

    uuid = serializers.UUIDField()
    occurrence_id = serializers.CharField()
    institution_code = serializers.CharField()
    collection_code = serializers.CharField()
    catalog_number = serializers.CharField()
    scientific_name = serializers.CharField()
    basis_of_record = serializers.CharField()
    status = serializers.CharField()
    event_date = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    country_code = serializers.CharField()
    decimal_latitude = serializers.FloatField(allow_null=True)
    decimal_longitude = serializers.FloatField(allow_null=True)
    mids_level = serializers.IntegerField(allow_null=True)
    media_count = serializers.IntegerField()
    modified = serializers.DateTimeField()


class IdentificationOutputSerializer(serializers.ModelSerializer):
    taxon = serializers.UUIDField(source="taxon.uuid", allow_null=True, default=None)

    class Meta:
        model = Identification
        fields = ("uuid", "taxon", "verbatim_identification", "identified_by", "date_identified",
                  "identification_qualifier", "type_status", "is_current", "created_at")


class PreparationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Preparation
        fields = ("uuid", "preparation_type", "count", "barcode", "storage_location")


class MediaOutputSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    order = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    licence = serializers.CharField()
    iiif_service = serializers.CharField(help_text="IIIF Image API 3.0 base URL")
    web_image = serializers.CharField(help_text="the 2048 px JPEG (IIIF full/max)")


class MidsElementOutputSerializer(serializers.Serializer):
    def get_fields(self):  # "pass" is a Python keyword, so not a class attribute
        return {
            "element": serializers.CharField(help_text="as MIDS writes it, e.g. CollectingAgent"),
            "level": serializers.IntegerField(help_text="the MIDS level the element belongs to"),
            "pass": serializers.BooleanField(),
            "term": serializers.CharField(required=False, help_text="when passed: the term(s) that met it"),
            "reason": serializers.CharField(required=False, help_text="when failed: why"),
        }


class MidsOutputSerializer(serializers.Serializer):
    level = serializers.IntegerField(help_text="-1 below MIDS-0, else 0 to 3")
    elements = MidsElementOutputSerializer(many=True)
    blocking = serializers.ListField(child=serializers.CharField(), help_text="failing elements of the next level")
    mapping_set = serializers.CharField()
    mapping_version = serializers.CharField()
    assessed_at = serializers.DateTimeField(allow_null=True)


def specimen_mids_payload(specimen: Specimen) -> dict | None:
    """The stored MIDS outcome of the full record (null if never assessed). Outsiders get it
    unchanged: a generalised public record keeps the level its full record earned."""
    assessment = specimen.mids_assessment if specimen.mids_assessment_id else None
    if assessment is None:
        return None
    return {
        "level": assessment.level,
        "elements": [
            {"element": e["element"], "level": e["level"], "pass": e["pass"],
             **({"term": e.get("term", "")} if e["pass"] else {"reason": e.get("reason", "")})}
            for e in assessment.elements
        ],
        "blocking": list(assessment.blocking),
        "mapping_set": assessment.mapping_set,
        "mapping_version": assessment.mapping_version,
        "assessed_at": specimen.mids_assessed_at.isoformat() if specimen.mids_assessed_at else None,
    }


class SpecimenDetailOutputSerializer(serializers.ModelSerializer):
    institution_code = serializers.CharField(source="collection.institution.code")
    collection_code = serializers.CharField(source="collection.code")
    taxon = serializers.UUIDField(source="taxon.uuid", allow_null=True, default=None)
    modified = serializers.DateTimeField(source="updated_at")
    identifications = IdentificationOutputSerializer(many=True, read_only=True)
    preparation_items = PreparationOutputSerializer(many=True, read_only=True)
    media = serializers.SerializerMethodField()
    iiif_manifest = serializers.SerializerMethodField()
    mids = serializers.SerializerMethodField()

    class Meta:
        model = Specimen
        fields = (
            "uuid", "occurrence_id", "institution_code", "collection_code", "status", "version", "mids_level",
            "media_count", "modified", "published_at", "taxon", *SPECIMEN_EDITABLE_FIELDS,
            "event_date_start", "event_date_end", "year", "month", "day", "identifications", "preparation_items",
            "media", "iiif_manifest", "event_time", "external_media", "mids",
        )

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(MediaOutputSerializer(many=True))
    def get_media(self, specimen) -> list[dict]:
        return [
            {**m, "iiif_service": self._absolute(m["iiif_service"]),
             "web_image": self._absolute(f"{m['iiif_service']}/full/max/0/default.jpg")}
            for m in specimen.media
        ]

    @extend_schema_field(MidsOutputSerializer(allow_null=True))
    def get_mids(self, specimen) -> dict | None:
        return specimen_mids_payload(specimen)

    def get_iiif_manifest(self, specimen) -> str | None:
        if not specimen.media:
            return None
        try:
            return self._absolute(reverse("imaging:specimen_manifest", kwargs={"uuid": specimen.uuid}))
        except NoReverseMatch:
            return None


class SpecimenInputSerializer(serializers.ModelSerializer):
    """Types and required fields only; the rules live in specimens.services."""

    class Meta:
        model = Specimen
        fields = SPECIMEN_EDITABLE_FIELDS
        extra_kwargs = {"catalog_number": {"required": True}}
        validators = []  # uniqueness is the service's job, with a curator-readable message

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.validators = [v for v in field.validators if "Unique" not in type(v).__name__]
        return fields


class SpecimenCreateInputSerializer(SpecimenInputSerializer):
    collection = serializers.CharField(help_text="INSTITUTION:COLLECTION, e.g. NHMUK:BOT")

    class Meta(SpecimenInputSerializer.Meta):
        fields = ("collection", *SPECIMEN_EDITABLE_FIELDS)


class SpecimenUpdateInputSerializer(SpecimenInputSerializer):
    version = serializers.IntegerField(required=False, help_text="the version you loaded (or send If-Match)")

    class Meta(SpecimenInputSerializer.Meta):
        fields = ("version", *SPECIMEN_EDITABLE_FIELDS)
        extra_kwargs = {}


class SpecimenWithdrawInputSerializer(serializers.Serializer):
    reason = serializers.CharField()


class TaxonOutputSerializer(serializers.ModelSerializer):
    parent = serializers.UUIDField(source="parent.uuid", allow_null=True, default=None)
    scientific_name = serializers.CharField()

    class Meta:
        model = Taxon
        fields = ("uuid", "scientific_name", "name", "authorship", "rank", "parent", "depth", "name_id",
                  "vernacular_name", *HIGHER_COLUMNS)
