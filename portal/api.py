"""/api/v1/public/specimens/: the search page as JSON, from SpecimenSearch only (public values)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from collections_portal.common.throttling import PortalRateThrottle
from specimens.api.serializers import SpecimenListOutputSerializer
from specimens.search import (
    EQUALITY_FILTERS,
    FACET_ESTIMATE_SAMPLE,
    FACET_SAMPLE,
    PAGE_SIZE_MAX,
    SORTS,
    SearchInputError,
    SearchTimeout,
    search_page,
    search_params_parse,
    search_summary,
)

DEFAULT_PAGE_SIZE = 50


class PublicSearchThrottle(PortalRateThrottle):
    """Per client: the `anon` rate by address, the `user` rate by account (REST_FRAMEWORK's
    DEFAULT_THROTTLE_RATES, read per request so a load run or a test can set them). Off where the
    settings switch throttling off (the test settings), like every other API view."""

    def allow_request(self, request, view):
        config = settings.REST_FRAMEWORK
        if not config.get("DEFAULT_THROTTLE_CLASSES"):
            return True
        self.THROTTLE_RATES = config.get("DEFAULT_THROTTLE_RATES", {})
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        key = super().get_cache_key(request, view)
        return f"public_search:{key}" if key else key


class SearchUnavailable(APIException):
    status_code = 503
    default_detail = "This search took too long; add a filter or a more specific word."
    default_code = "search_timeout"


def public_search_row(row: dict) -> dict:
    """The same keys as a /api/v1/specimens/ list row (specimens.api.serializers.specimen_list_row)."""
    return {
        "uuid": str(row["uuid"]),
        "occurrence_id": row["occurrence_id"],
        "institution_code": row["institution_code"],
        "collection_code": row["collection_code"].split(":", 1)[-1],
        "catalog_number": row["catalog_number"],
        "scientific_name": row["scientific_name"],
        "basis_of_record": row["basis_of_record"],
        "status": "published",
        "event_date": row["event_date"],
        "year": row["year"],
        "country_code": row["country_code"],
        "decimal_latitude": float(row["decimal_latitude"]) if row["decimal_latitude"] is not None else None,
        "decimal_longitude": float(row["decimal_longitude"]) if row["decimal_longitude"] is not None else None,
        "mids_level": row["mids_level"],
        "media_count": row["media_count"],
        "modified": row["modified"].isoformat(),
    }


FACET_VALUE = inline_serializer("FacetValue", {"value": serializers.CharField(), "count": serializers.IntegerField()})
PARAMETERS = [
    OpenApiParameter("q", str, description="words matching names (with a taxon's descendants), catalogue numbers, "
                     "collectors and places; a misspelt name is matched to the nearest public name"),
    *(OpenApiParameter(name, str, many=True, description=f"exact {name.replace('_', ' ')}; repeat for any of several"
                       + (" (INSTITUTION:COLLECTION)" if name == "collection" else ""))
      for name in EQUALITY_FILTERS),
    OpenApiParameter("has_image", bool),
    OpenApiParameter("year", str, description="a year (1990) or a range (1990-1999)"),
    OpenApiParameter("mids_level", int, enum=[0, 1, 2, 3]),
    OpenApiParameter("recorded_by", str, description="collector's name or part of it"),
    OpenApiParameter("bbox", str, description="west,south,east,north in degrees, on public coordinates"),
    OpenApiParameter("sort", str, enum=list(SORTS)),
    OpenApiParameter("cursor", str, description="opaque, from the previous page's `next`"),
    OpenApiParameter("page_size", int, description=f"1 to {PAGE_SIZE_MAX} (default {DEFAULT_PAGE_SIZE})"),
]


class PublicSpecimenSearchApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [PublicSearchThrottle]

    @extend_schema(
        operation_id="public_specimens_search",
        summary="Search published specimens",
        description=(
            "The public search page as JSON: published records only, with sensitive localities generalised. "
            "`count` and the facet counts are exact for a search on one thing (a name, a taxon, a country, a "
            f"facet value) and for any search with at most {FACET_SAMPLE:,} matches; otherwise `count` is exact where "
            "stored counts give it and the planner's estimate elsewhere (`count_is_estimate`), and the facet counts "
            f"are scaled from {FACET_ESTIMATE_SAMPLE:,} matches (`facets_are_estimates`). Keyset pages: "
            "follow `next`.\n\n**Throttling**: per client, anonymous callers by address at the `anon` rate "
            "(default 120 requests a minute), logged-in callers by account at the `user` rate; past it the "
            "answer is 429 with `Retry-After`."),
        parameters=PARAMETERS,
        responses={
            200: inline_serializer("PublicSpecimenSearch", {
                "count": serializers.IntegerField(),
                "count_is_estimate": serializers.BooleanField(),
                "facets": serializers.DictField(child=serializers.ListField(child=FACET_VALUE)),
                "facets_are_estimates": serializers.BooleanField(),
                "corrected_to": serializers.ListField(child=serializers.CharField()),
                "next": serializers.URLField(allow_null=True),
                "results": SpecimenListOutputSerializer(many=True),
            }),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="bad input, messages per parameter"),
            429: OpenApiResponse(OpenApiTypes.OBJECT, description="too many requests from this client: wait `Retry-After` seconds"),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="the search took too long; narrow it"),
        },
    )
    def get(self, request):
        try:
            params = search_params_parse(request.query_params)
            size = _page_size(request.query_params.get("page_size"))
            page = search_page(params, size=size)
            summary = search_summary(page.params)
        except SearchInputError as exc:
            raise ValidationError({exc.param or "query": [exc.message]}) from None
        except SearchTimeout:
            raise SearchUnavailable() from None
        next_url = None
        if page.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", page.next_cursor)
        return Response({
            "count": summary.total,
            "count_is_estimate": summary.total_is_estimate,
            "facets": summary.facets,
            "facets_are_estimates": summary.facets_are_estimates,
            "corrected_to": list(page.corrected_to),
            "next": next_url,
            "results": [public_search_row(row) for row in page.rows],
        })


def _page_size(value) -> int:
    if value in (None, ""):
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise SearchInputError(f"page_size must be 1 to {PAGE_SIZE_MAX}.", param="page_size")
    return size
