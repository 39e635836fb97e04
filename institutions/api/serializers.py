from rest_framework import serializers

from ..models import Collection, Institution


class InstitutionOutputSerializer(serializers.ModelSerializer):
    institution_id = serializers.CharField(source="institution_id_uri")

    class Meta:
        model = Institution
        fields = ("uuid", "code", "name", "city", "country", "website", "ror_id", "grscicoll_key", "institution_id")


class CollectionOutputSerializer(serializers.ModelSerializer):
    institution_code = serializers.CharField(source="institution.code")
    full_code = serializers.CharField()
    estimated_objects = serializers.IntegerField(allow_null=True)
    digitised_reported = serializers.IntegerField(allow_null=True)
    records_in_portal = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Collection
        fields = ("uuid", "full_code", "institution_code", "code", "name", "discipline", "mids_discipline",
                  "grscicoll_key", "barcode_pattern", "default_license", "estimated_objects",
                  "digitised_reported", "records_in_portal")
