"""Keyset ("cursor") pagination on the primary key, newest first.

Each page is `WHERE id < last_seen ORDER BY id DESC LIMIT n+1`: the same index walk on page
10,000 as on page 1, and no COUNT(*) over millions of rows. The cursor is signed, so a client
cannot turn it into arbitrary SQL input, and it works on `.values()` rows as on instances.
"""

from django.core import signing
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

CURSOR_SALT = "collections_portal.keyset"
INVALID_CURSOR = "This cursor is not valid; start again from the first page."


class KeysetPagination(BasePagination):
    page_size = 50
    max_page_size = 100
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        after, size = self.page_window(request)
        queryset = queryset.order_by("-pk")
        if after is not None:
            queryset = queryset.filter(pk__lt=after)
        return self.page_close(list(queryset[: size + 1]), size)

    def page_window(self, request) -> tuple[int | None, int]:
        """(the id this page continues below, or None; the page size): for pages read without a
        QuerySet, which fetch size + 1 rows newest first and hand them to page_close."""
        self.request = request
        return self._decode(request.query_params.get(self.cursor_query_param)), self._page_size(request)

    def page_close(self, rows: list, size: int) -> list:
        """The page out of size + 1 fetched rows (dicts, instances or tuples led by the id); the
        extra row only says whether there is a next page."""
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.next_after = _pk(rows[-1]) if rows and self.has_next else None
        return rows

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_next_link(self):
        if self.next_after is None:
            return None
        cursor = signing.dumps(self.next_after, salt=CURSOR_SALT, compress=True)
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": {"type": "string", "nullable": True, "format": "uri"}, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "Opaque cursor from the previous page's `next` link.", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"Rows per page, 1 to {self.max_page_size} (default {self.page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: "Must be a whole number."}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: f"Must be between 1 and {self.max_page_size}."})
        return size

    def _decode(self, cursor):
        if not cursor:
            return None
        try:
            value = signing.loads(cursor, salt=CURSOR_SALT)
        except signing.BadSignature:
            raise ValidationError({self.cursor_query_param: INVALID_CURSOR}) from None
        if not isinstance(value, int):
            raise ValidationError({self.cursor_query_param: INVALID_CURSOR})
        return value


def _pk(row):
    if isinstance(row, dict):
        return row["id"]
    return row[0] if isinstance(row, tuple) else row.pk
