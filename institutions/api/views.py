import django_filters
from rest_framework.generics import ListAPIView, RetrieveAPIView

from ..models import Collection
from ..selectors import collection_progress_list, institution_list
from .serializers import CollectionOutputSerializer, InstitutionOutputSerializer


class InstitutionListApi(ListAPIView):
    """Institutions and their identifiers (public facts)."""

    serializer_class = InstitutionOutputSerializer

    def get_queryset(self):
        return institution_list()


class InstitutionDetailApi(RetrieveAPIView):
    serializer_class = InstitutionOutputSerializer
    lookup_field = "code"

    def get_queryset(self):
        return institution_list()


class CollectionFilter(django_filters.FilterSet):
    class Meta:
        model = Collection
        fields = []

    institution = django_filters.CharFilter(field_name="institution__code", help_text="institution code, e.g. NHMUK")
    mids_discipline = django_filters.CharFilter()


class CollectionListApi(ListAPIView):
    """Collections with Latimer Core counts: estimated size, reported digitised, records in the portal."""

    serializer_class = CollectionOutputSerializer
    filterset_class = CollectionFilter

    def get_queryset(self):
        return collection_progress_list()


class CollectionDetailApi(RetrieveAPIView):
    serializer_class = CollectionOutputSerializer
    lookup_field = "uuid"

    def get_queryset(self):
        return collection_progress_list()
