from django.core.exceptions import PermissionDenied
from django.db.models import F
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from institutions.models import Collection
from institutions.selectors import collection_get_by_full_code, institution_scope

from ..filters import SpecimenFilter, TaxonFilter
from ..models import Specimen
from ..public import exact_scope, payload_for_viewer, public_annotations
from ..selectors import LIST_PAGE_KEYS, specimen_get_for, specimen_list_page, specimen_list_visible, taxon_list_for
from ..services import (
    specimen_create,
    specimen_delete,
    specimen_publish,
    specimen_submit_for_review,
    specimen_update,
    specimen_withdraw,
)
from .serializers import (
    LIST_FIELDS,
    SpecimenCreateInputSerializer,
    SpecimenDetailOutputSerializer,
    SpecimenListOutputSerializer,
    SpecimenUpdateInputSerializer,
    SpecimenWithdrawInputSerializer,
    TaxonOutputSerializer,
    specimen_list_row,
)

ERRORS = {400: OpenApiResponse(description="invalid input, with messages per field"),
          401: OpenApiResponse(description="not logged in"),
          403: OpenApiResponse(description="your role may not do this at this institution"),
          404: OpenApiResponse(description="no such record, or not visible to you")}


def _detail_response(specimen: Specimen, *, request=None, status_code=status.HTTP_200_OK) -> Response:
    specimen = (
        Specimen.objects.select_related("collection__institution", "taxon", "mids_assessment")
        .prefetch_related("identifications__taxon", "preparation_items")
        .get(pk=specimen.pk)
    )
    data = SpecimenDetailOutputSerializer(specimen, context={"request": request}).data
    if request is not None:  # outsiders: the generalised record (specimens.public)
        data = payload_for_viewer(data, user=request.user, specimen=specimen)
    response = Response(data, status=status_code)
    response["ETag"] = f'"{specimen.version}"'
    return response


class SpecimenListCreateApi(ListAPIView):
    """Specimens you may read: published ones, plus any state at your institutions. Newest first."""

    filterset_class = SpecimenFilter
    serializer_class = SpecimenListOutputSerializer

    # Query parameters that page rather than filter.
    PAGING_PARAMS = frozenset({"cursor", "page_size", "format"})

    def get_queryset(self):
        return specimen_list_visible(user=self.request.user)

    def filter_queryset(self, queryset):
        # Building the FilterSet and its form costs about a millisecond a request; without a
        # filter parameter nothing would narrow, so the plain list skips it.
        if self.PAGING_PARAMS.issuperset(self.request.query_params.keys()):
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        if self.PAGING_PARAMS.issuperset(request.query_params.keys()):
            # No filter: the page is read by one precomposed statement (see specimen_list_page);
            # the rows come back typed as the output shows them, the same as specimen_list_row makes.
            after, size = self.paginator.page_window(request)
            rows = self.paginator.page_close(specimen_list_page(user=request.user, after=after, limit=size + 1), size)
            return self.get_paginated_response([dict(zip(LIST_PAGE_KEYS, row[1:])) for row in rows])
        queryset = self.filter_queryset(self.get_queryset()).values(
            *LIST_FIELDS, institution_code=F("institution__code"), collection_code=F("collection__code"),
            **public_annotations(fields=("decimal_latitude", "decimal_longitude")),
        )
        rows = self.paginate_queryset(queryset)
        exact = exact_scope(user=request.user)
        return self.get_paginated_response([specimen_list_row(r, exact_institutions=exact) for r in rows])

    @extend_schema(request=SpecimenCreateInputSerializer, responses={201: SpecimenDetailOutputSerializer, **ERRORS})
    def post(self, request):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        serializer = SpecimenCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            collection = collection_get_by_full_code(full_code=data.pop("collection"))
        except Collection.DoesNotExist as exc:
            raise ValidationError({"collection": [str(exc)]}) from None
        scope = institution_scope(user=request.user, action="create")
        if scope != "all" and collection.institution_id not in scope:
            raise PermissionDenied("You cannot add records to this institution's collections.")
        specimen = specimen_create(collection=collection, data=data, user=request.user, source="api")
        return _detail_response(specimen, status_code=status.HTTP_201_CREATED, request=request)


class SpecimenDetailApi(GenericAPIView):
    serializer_class = SpecimenDetailOutputSerializer
    lookup_field = "uuid"

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return []
        return [IsAuthenticated()]

    @extend_schema(responses={200: SpecimenDetailOutputSerializer, 404: ERRORS[404]})
    def get(self, request, uuid):
        specimen = specimen_get_for(user=request.user, uuid=uuid, action="view")
        return _detail_response(specimen, request=request)

    @extend_schema(
        request=SpecimenUpdateInputSerializer,
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, description='the ETag you read, e.g. "3"')],
        responses={200: SpecimenDetailOutputSerializer, 409: OpenApiResponse(description="someone saved first: what changed"), **ERRORS},
    )
    def patch(self, request, uuid):
        specimen = specimen_get_for(user=request.user, uuid=uuid, action="edit")
        serializer = SpecimenUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        expected = data.pop("version", None)
        if_match = request.headers.get("If-Match", "").strip().strip('W/').strip('"')
        if expected is None and if_match.isdigit():
            expected = int(if_match)
        if expected is None:
            raise ValidationError({"version": ["Send the version you edited (field `version` or header If-Match)."]})
        specimen = specimen_update(specimen=specimen, data=data, expected_version=expected, user=request.user, source="api")
        return _detail_response(specimen, request=request)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, uuid):
        specimen = specimen_get_for(user=request.user, uuid=uuid, action="delete")
        specimen_delete(specimen=specimen, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SpecimenPublishApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SpecimenDetailOutputSerializer, **ERRORS})
    def post(self, request, uuid):
        specimen = specimen_get_for(user=request.user, uuid=uuid, action="publish")
        return _detail_response(specimen_publish(specimen=specimen, user=request.user), request=request)


class SpecimenSubmitApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SpecimenDetailOutputSerializer, **ERRORS})
    def post(self, request, uuid):
        specimen = specimen_get_for(user=request.user, uuid=uuid, action="edit")
        return _detail_response(specimen_submit_for_review(specimen=specimen, user=request.user), request=request)


class SpecimenWithdrawApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=SpecimenWithdrawInputSerializer, responses={200: SpecimenDetailOutputSerializer, **ERRORS})
    def post(self, request, uuid):
        specimen = specimen_get_for(user=request.user, uuid=uuid, action="publish")
        serializer = SpecimenWithdrawInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _detail_response(specimen_withdraw(specimen=specimen, reason=serializer.validated_data["reason"], user=request.user), request=request)


class TaxonListApi(ListAPIView):
    """The taxonomic tree. `?parent=<uuid>` lists children (lazy tree); `?q=` is a name prefix.
    Provisional names (on unpublished records only) are listed to their institutions' staff alone."""

    serializer_class = TaxonOutputSerializer
    filterset_class = TaxonFilter

    def get_queryset(self):
        return taxon_list_for(user=self.request.user).select_related("parent")


class TaxonDetailApi(RetrieveAPIView):
    serializer_class = TaxonOutputSerializer
    lookup_field = "uuid"

    def get_queryset(self):
        return taxon_list_for(user=self.request.user).select_related("parent")
