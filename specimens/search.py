"""Public search: SpecimenSearch kept current, and search parameters turned into SQL over it.

Two halves, one module, because both must agree on what a row holds:

- **Upkeep.** `search_specimens_refresh` / `search_refresh_where` rewrite the rows of the given
  specimens inside the caller's transaction (the specimen services, the importer), filling them
  through the SQL form of the public read model (specimens.public), and move FacetCount and
  GridCount by the same rows: one DELETE … RETURNING and one INSERT … RETURNING, each feeding the
  counts in the same statement. `search_rebuild` redoes everything (after generate_specimens, or to
  heal counts a raw DELETE of published rows left behind).
- **Queries.** `search_params_parse` checks a query string (400 on bad input, via SearchInputError);
  `search_page`, `search_summary`, `search_grid` run the page, the counts and the map; the public
  API and engineer E's "download this search" use `search_where_sql` for the same rows.

At 10 M rows: keyset pages on (sort key, id), never OFFSET; no COUNT(*) beyond a capped sample,
the planner's estimate above it ("about N"); a statement timeout on every public query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Mapping

from django.core import signing
from django.db import OperationalError, connection, transaction

from .public import PUBLIC_LEVEL_COLUMN, public_columns_sql, public_level_join_sql

TABLE = "specimens_specimensearch"
SEARCH_CONFIG = "simple"  # names and numbers are not English words: no stemming, no stop words
STATEMENT_TIMEOUT_MS = 2000
# Filtered facets count at most this many matches (their rows are read from the heap, one random
# page each: 5,000 cost ≈ 50 ms on a loaded 2-core machine, 20,000 ≈ 1 s); above it, estimates.
FACET_SAMPLE = 5_000
# Up to this many estimated matches, a filtered page reads them all through the filter's indexes and
# sorts the few it shows, instead of walking the sort index: names cluster (every "Carduelis …"
# sorts together, every Vespidae name late in the alphabet), so a walk can pass most of the table
# before its first match.
SORT_AFTER_FILTER_UP_TO = 100_000
POINTS_MAX = 5_000  # the map draws points below this many located matches, grid cells above
GRID_SAMPLE = 20_000  # a filtered map counts cells over at most this many matches; above, scaled estimates
FACET_TOP = 10
Q_MAX_CHARS = 500
Q_MAX_WORDS = 12
VALUE_MAX_CHARS = 200
VALUES_PER_PARAM = 20
PAGE_SIZE = 20
PAGE_SIZE_MAX = 100
CURSOR_SALT = "specimens.search.cursor"

# --- facets -------------------------------------------------------------------------------------

# (URL parameter, label, SQL of the value over a SpecimenSearch row `r`). '' means "not counted".
FACETS = (
    ("institution", "Institution", "r.institution_code"),
    ("collection", "Collection", "r.collection_code"),
    ("kingdom", "Kingdom", "r.kingdom"),
    ("phylum", "Phylum", "r.phylum"),
    ("class", "Class", "r.class_name"),
    ("order", "Order", 'r."order"'),
    ("family", "Family", "r.family"),
    ("country", "Country", "r.country"),
    ("type_status", "Type status", "r.type_status"),
    ("has_image", "Has image", "CASE WHEN r.has_image THEN '1' ELSE '' END"),
    ("year", "Year collected", "CASE WHEN r.year IS NULL THEN '' ELSE "
     "(floor(r.year / 10.0) * 10)::int::text || '-' || ((floor(r.year / 10.0) * 10)::int + 9)::text END"),
    ("mids_level", "MIDS level", "COALESCE(r.mids_level::text, '')"),
)
FACET_NAMES = tuple(name for name, _, _ in FACETS)
FACET_LABELS = {name: label for name, label, _ in FACETS}
# Counted too, not shown as facets: every public name (typo suggestions) and the total.
NAME_FACET, TOTAL_FACET = "scientific_name", "_total"
_COUNTED = (*((name, sql) for name, _, sql in FACETS), (NAME_FACET, "r.scientific_name"), (TOTAL_FACET, "'all'"))


def _facet_unpivot_sql(alias: str = "r") -> str:
    """A LATERAL turning one row into (facet, value) pairs: one GROUP BY counts every facet."""
    pairs = ", ".join(f"('{name}', {sql.replace('r.', f'{alias}.')})" for name, sql in _COUNTED)
    return f"CROSS JOIN LATERAL (VALUES {pairs}) AS f(facet, value)"


# --- map grid -----------------------------------------------------------------------------------

# Cell sizes in degrees from the world down to a town; the first GRID_STORED are kept in GridCount.
# An unfiltered map zoomed in further reads the finest stored level (cells of 0.05°, about 5 km).
GRID_SIZES = (Decimal("10"), Decimal("5"), Decimal("2"), Decimal("1"), Decimal("0.5"), Decimal("0.2"),
              Decimal("0.1"), Decimal("0.05"), Decimal("0.02"), Decimal("0.01"))
GRID_STORED = 8


def grid_level_for_zoom(zoom: int) -> int:
    """About six cells across a 256-pixel map tile at Leaflet zoom `zoom`."""
    target = Decimal(360) / (2 ** max(0, min(zoom, 18))) / 6
    for level, size in enumerate(GRID_SIZES):
        if size <= target:
            return level
    return len(GRID_SIZES) - 1


def _cell_sql(size: str, alias: str = "r") -> tuple[str, str, str]:
    """west, south, size of a row's cell. A record whose public coordinates are rounded more coarsely
    than the grid gets the cell its rounding stands for, so no cell is finer than its records."""
    grain = f"{alias}.coordinate_grain"
    west = (f"(CASE WHEN {grain} > {size} THEN {alias}.decimal_longitude - {grain} / 2 "
            f"ELSE floor({alias}.decimal_longitude / {size}) * {size} END)")
    south = (f"(CASE WHEN {grain} > {size} THEN {alias}.decimal_latitude - {grain} / 2 "
             f"ELSE floor({alias}.decimal_latitude / {size}) * {size} END)")
    return west, south, f"GREATEST({size}::numeric, {grain})"


def _stored_cells_sql(alias: str = "r") -> str:
    levels = ", ".join(f"({level}, {size}::numeric)" for level, size in enumerate(GRID_SIZES[:GRID_STORED]))
    west, south, size = _cell_sql("l.size", alias)
    return (f"CROSS JOIN LATERAL (SELECT l.level, {west} AS west, {south} AS south, {size} AS size "
            f"FROM (VALUES {levels}) AS l(level, size)) AS g")


# --- upkeep -------------------------------------------------------------------------------------

SEARCH_COLUMNS = (
    "specimen_id", "uuid", "occurrence_id", "institution_code", "collection_code", "catalog_number",
    "catalog_number_normalised", "scientific_name", "name_key", "vernacular_name", "kingdom", "phylum",
    "class_name", '"order"', "family", "genus", "country", "country_code", "place", "type_status",
    "recorded_by", "basis_of_record", "event_date", "year", "mids_level", "media_count", "has_image",
    "thumbnail", "decimal_latitude", "decimal_longitude", "coordinate_grain", "published_at", "modified",
    "document",
)
THUMB_SIDE = 256  # imaging's thumb-256 derivative: the longer side, never enlarged


def _rank_name(rank: str, column: str) -> str:
    # A taxon's own rank column is empty for itself in older rows; its name stands in.
    return f"COALESCE(CASE WHEN t.rank = '{rank}' THEN t.name ELSE NULLIF(t.{column}, '') END, '')"


def _rows_select_sql(where: str) -> str:
    """SELECT of SpecimenSearch rows (SEARCH_COLUMNS order) for the published specimens `s` matching
    `where`. Every location value comes from specimens.public's SQL form, at the record's level."""
    level = f"s_public.{PUBLIC_LEVEL_COLUMN}"
    public = public_columns_sql("s", level=level)
    # Label images of a sensitive record stay private where its collection asks (specimens.public.media_public).
    hidden_label = f"({level} <> 'none' AND c.sensitive_label_images_private AND m->>'kind' = 'label')"
    thumb = (f"m->>'iiif_service' || '/full/' || "
             f"round((m->>'width')::numeric * LEAST(1, {THUMB_SIDE} / GREATEST((m->>'width')::numeric, (m->>'height')::numeric, 1)))::text "
             f"|| ',' || round((m->>'height')::numeric * LEAST(1, {THUMB_SIDE} / GREATEST((m->>'width')::numeric, (m->>'height')::numeric, 1)))::text "
             f"|| '/0/default.jpg'")
    ranks = ", ".join(f"{_rank_name(rank, column)} AS {alias}" for rank, column, alias in (
        ("kingdom", "kingdom", "kingdom"), ("phylum", "phylum", "phylum"), ("class", "class_name", "class_name"),
        ("order", '"order"', "order_name"), ("family", "family", "family"), ("genus", "genus", "genus")))
    return f"""
    SELECT p.id, p.uuid, p.occurrence_id, p.institution_code, p.collection_code, p.catalog_number,
      p.catalog_number_normalised, p.scientific_name, lower(p.scientific_name), p.vernacular_name,
      p.kingdom, p.phylum, p.class_name, p.order_name, p.family, p.genus, p.country, p.country_code,
      p.place, p.type_status, p.recorded_by, p.basis_of_record, p.event_date, p.year, p.mids_level,
      p.media_n + p.external_n, (p.media_n + p.external_n) > 0, COALESCE(p.thumbnail, ''),
      p.decimal_latitude, p.decimal_longitude, p.coordinate_grain, p.published_at, p.updated_at,
      setweight(to_tsvector('{SEARCH_CONFIG}', concat_ws(' ', p.scientific_name, p.vernacular_name, p.kingdom,
                p.phylum, p.class_name, p.order_name, p.family, p.genus)), 'A')
      || setweight(to_tsvector('{SEARCH_CONFIG}', concat_ws(' ', p.catalog_number, p.other_catalog_numbers)), 'B')
      || setweight(to_tsvector('{SEARCH_CONFIG}', p.recorded_by), 'C')
      || setweight(to_tsvector('{SEARCH_CONFIG}', concat_ws(' ', p.place, p.country_code, p.collection_code)), 'D')
    FROM (
      SELECT s.id, s.uuid, s.occurrence_id, i.code AS institution_code, i.code || ':' || c.code AS collection_code,
        s.catalog_number, s.catalog_number_normalised, s.other_catalog_numbers, s.scientific_name,
        COALESCE(t.vernacular_name, '') AS vernacular_name,
        {ranks},
        s.country, upper(s.country_code) AS country_code,
        concat_ws(', ', NULLIF({public['locality']}, ''), NULLIF({public['county']}, ''),
                  NULLIF({public['state_province']}, ''), NULLIF(s.country, '')) AS place,
        s.type_status, s.recorded_by, s.basis_of_record, s.event_date, s.year, s.mids_level,
        pm.n AS media_n, jsonb_array_length(s.external_media) AS external_n, pm.thumbnail,
        {public['decimal_latitude']} AS decimal_latitude, {public['decimal_longitude']} AS decimal_longitude,
        (CASE {level} WHEN '10km' THEN 0.1 WHEN '100km' THEN 1 ELSE 0 END) AS coordinate_grain,
        s.published_at, s.updated_at
      FROM specimens_specimen s
      JOIN institutions_collection c ON c.id = s.collection_id
      JOIN institutions_institution i ON i.id = s.institution_id
      LEFT JOIN specimens_taxon t ON t.id = s.taxon_id
      {public_level_join_sql("s", taxon_level="t.effective_sensitivity")}
      CROSS JOIN LATERAL (
        SELECT count(*) AS n, (array_agg({thumb} ORDER BY e.ord))[1] AS thumbnail
        FROM jsonb_array_elements(s.media) WITH ORDINALITY AS e(m, ord) WHERE NOT {hidden_label}) AS pm
      WHERE s.status = 'published' AND ({where})
    ) p"""


def _counts_sql(source: str, sign: int) -> str:
    """CTEs adding (sign=1) or taking away (sign=-1) the rows of CTE `source` from the counts."""
    return f"""
    facets AS (
      INSERT INTO specimens_facetcount AS fc (facet, value, n)
      SELECT f.facet, f.value, {sign} * count(*) FROM {source} r {_facet_unpivot_sql("r")}
      WHERE f.value <> '' GROUP BY 1, 2 ORDER BY 1, 2
      ON CONFLICT (facet, value) DO UPDATE SET n = fc.n + EXCLUDED.n
      RETURNING 1),
    cells AS (
      INSERT INTO specimens_gridcount AS gc (level, west, south, size, n)
      SELECT g.level, g.west, g.south, g.size, {sign} * count(*) FROM {source} r {_stored_cells_sql("r")}
      WHERE r.decimal_latitude IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT (level, west, south, size) DO UPDATE SET n = gc.n + EXCLUDED.n
      RETURNING 1)"""


def search_refresh_where(*, where: str, params=(), ) -> tuple[int, int]:
    """Rewrite the search rows of the specimens `s` (specimens_specimen) matching `where`, in the
    caller's transaction: drafts and withdrawn records leave the index, published ones (re)enter it
    with their public values. Returns (rows removed, rows written)."""
    columns = ", ".join(SEARCH_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {TABLE} x USING specimens_specimen s WHERE x.specimen_id = s.id AND ({where}) "
            f"RETURNING x.*), {_counts_sql('gone', -1)} SELECT (SELECT count(*) FROM gone), "
            f"(SELECT count(*) FROM facets), (SELECT count(*) FROM cells)",
            params,
        )
        removed = cursor.fetchone()[0]
        cursor.execute(
            f"WITH added AS (INSERT INTO {TABLE} ({columns}) {_rows_select_sql(where)} RETURNING *), "
            f"{_counts_sql('added', 1)} SELECT (SELECT count(*) FROM added), "
            f"(SELECT count(*) FROM facets), (SELECT count(*) FROM cells)",
            params,
        )
        written = cursor.fetchone()[0]
    return removed, written


def search_specimens_refresh(*, specimen_ids) -> tuple[int, int]:
    """The specimen services' hook: after an edit, publish, withdraw, identification or new image."""
    ids = [int(pk) for pk in specimen_ids]
    if not ids:
        return 0, 0
    return search_refresh_where(where="s.id = ANY(%s)", params=[ids])


def search_taxon_subtree_refresh(*, path: str) -> tuple[int, int]:
    """After a taxon's sensitivity or place in the tree changed: every record under it."""
    prefix = path.replace("\\", "\\\\").replace("_", r"\_").replace("%", r"\%") + "%"
    return search_refresh_where(
        where="s.taxon_id IN (SELECT id FROM specimens_taxon WHERE path LIKE %s)", params=[prefix])


def search_import_refresh(*, rows_table: str) -> tuple[int, int]:
    """The importer's hook, beside mids_assess_import in its write transaction: every record it
    inserted or matched (its rows table: new_id, match_id), set-based."""
    table = _identifier(rows_table)
    return search_refresh_where(where=f"s.id IN (SELECT coalesce(ir.match_id, ir.new_id) FROM {table} ir)")


def search_import_undo_refresh(*, updated_table: str) -> tuple[int, int]:
    """An import undo's hook: the records it put back (its table of updated ids, reason IS NULL).
    The records it deletes leave with their specimen (ON DELETE CASCADE)."""
    table = _identifier(updated_table)
    return search_refresh_where(where=f"s.id IN (SELECT u.id FROM {table} u WHERE u.reason IS NULL)")


def _identifier(name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


@transaction.atomic
def search_rebuild() -> int:
    """Every row and count again from the specimens (a new database, generate_specimens, or counts
    a raw DELETE of published records left behind). Returns the number of rows written."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")
        # Written in taxonomic order, so the rows of one family or genus share a few heap pages: a
        # filtered page or facet sample reads those pages, not one random page per match. Rows the
        # services add later go to the end; the next rebuild puts them in their place.
        order = ", ".join(str(SEARCH_COLUMNS.index(c) + 1) for c in
                          ("kingdom", "phylum", "class_name", '"order"', "family", "name_key", "specimen_id"))
        cursor.execute(f"INSERT INTO {TABLE} ({', '.join(SEARCH_COLUMNS)}) {_rows_select_sql('true')} ORDER BY {order}")
        written = cursor.rowcount
    search_counts_rebuild()
    return written


@transaction.atomic
def search_counts_rebuild() -> None:
    """FacetCount and GridCount again from SpecimenSearch as it is."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE specimens_facetcount, specimens_gridcount")
        cursor.execute(
            f"INSERT INTO specimens_facetcount (facet, value, n) SELECT f.facet, f.value, count(*) "
            f"FROM {TABLE} r {_facet_unpivot_sql('r')} WHERE f.value <> '' GROUP BY 1, 2")
        cursor.execute(
            f"INSERT INTO specimens_gridcount (level, west, south, size, n) SELECT g.level, g.west, g.south, g.size, "
            f"count(*) FROM {TABLE} r {_stored_cells_sql('r')} WHERE r.decimal_latitude IS NOT NULL GROUP BY 1, 2, 3, 4")
        cursor.execute(f"ANALYZE {TABLE}")


# --- parameters ---------------------------------------------------------------------------------


class SearchInputError(ValueError):
    """Bad search input: the message is for the visitor (a 400)."""

    def __init__(self, message: str, *, param: str = ""):
        super().__init__(message)
        self.message, self.param = message, param


class SearchTimeout(Exception):
    """A search ran past the statement timeout (a 503 that says to narrow the search)."""


SORTS = {
    # name: (label, key SQL expressions, descending)
    "name": ("Name A–Z", ("r.name_key", "r.specimen_id"), False),
    "catalog": ("Catalogue number", ("r.catalog_number_normalised", "r.specimen_id"), False),
    "year": ("Oldest collected first", ("COALESCE(r.year, 32767)", "r.specimen_id"), False),
    "-year": ("Newest collected first", ("COALESCE(r.year, -32768)", "r.specimen_id"), True),
    "newest": ("Recently added", ("r.specimen_id",), True),
}
DEFAULT_SORT = "name"
VIEWS = ("list", "grid", "map")
# Filters on a column by equality, several values OR-ed: URL parameter → SpecimenSearch column.
EQUALITY_FILTERS = {
    "institution": "r.institution_code", "collection": "r.collection_code", "kingdom": "r.kingdom",
    "phylum": "r.phylum", "class": "r.class_name", "order": 'r."order"', "family": "r.family",
    "genus": "r.genus", "country": "r.country", "type_status": "r.type_status",
}
TAXONOMIC_FILTERS = ("institution", "collection", "kingdom", "phylum", "class", "order", "family", "genus", "type_status")
YEAR_FORM = re.compile(r"^\s*(-?\d{1,4})\s*(?:[-–]\s*(-?\d{1,4})\s*)?$")
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    has_image: bool = False
    year: tuple[int, int] | None = None
    mids_level: int | None = None
    recorded_by: str = ""
    bbox: tuple[float, float, float, float] | None = None
    sort: str = DEFAULT_SORT
    view: str = "list"
    cursor: tuple | None = None
    names: tuple[str, ...] = ()  # exact names (lower-cased), set when a typo was forgiven

    @property
    def is_unfiltered(self) -> bool:
        return not (self.q or self.filters or self.has_image or self.year or self.mids_level is not None
                    or self.recorded_by or self.bbox or self.names)

    def query_items(self, *, without: str | None = None, without_value: str | None = None) -> list[tuple[str, str]]:
        """The parameters as (name, value) pairs for a URL, optionally minus one filter (value)."""
        items: list[tuple[str, str]] = []
        if self.q and without != "q":
            items.append(("q", self.q))
        for name in EQUALITY_FILTERS:
            for value in self.filters.get(name, ()):
                if not (without == name and (without_value is None or without_value == value)):
                    items.append((name, value))
        if self.has_image and without != "has_image":
            items.append(("has_image", "1"))
        if self.year and without != "year":
            items.append(("year", str(self.year[0]) if self.year[0] == self.year[1] else f"{self.year[0]}-{self.year[1]}"))
        if self.mids_level is not None and without != "mids_level":
            items.append(("mids_level", str(self.mids_level)))
        if self.recorded_by and without != "recorded_by":
            items.append(("recorded_by", self.recorded_by))
        if self.bbox and without != "bbox":
            items.append(("bbox", ",".join(_fmt(v) for v in self.bbox)))
        if self.sort != DEFAULT_SORT and without != "sort":
            items.append(("sort", self.sort))
        if self.view != "list" and without != "view":
            items.append(("view", self.view))
        return items


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _clean_text(value: str, *, name: str, limit: int = VALUE_MAX_CHARS) -> str:
    value = " ".join((value or "").replace("\x00", "").split())
    if len(value) > limit:
        raise SearchInputError(f"{name} is too long: at most {limit} characters.", param=name)
    return value


def bbox_parse(value: str, *, name: str = "bbox") -> tuple[float, float, float, float]:
    """west,south,east,north in degrees; clamped to the world; a box with no area is refused."""
    parts = value.split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise SearchInputError(f"{name} must be four numbers: west,south,east,north.", param=name) from None
    if any(v != v or v in (float("inf"), float("-inf")) for v in (west, south, east, north)):
        raise SearchInputError(f"{name} must be four finite numbers.", param=name)
    if east - west >= 360:
        west, east = -180.0, 180.0
    # A box wrapped past the date line comes back into -180..180 (Leaflet gives such boxes).
    west = ((west + 180) % 360) - 180 if not -180 <= west <= 180 else west
    east = ((east + 180) % 360) - 180 if not -180 <= east <= 180 else east
    south, north = max(-90.0, min(90.0, south)), max(-90.0, min(90.0, north))
    if south >= north or west == east:
        raise SearchInputError(f"{name} has no area: south must be below north and west differ from east.", param=name)
    return west, south, east, north


def search_params_parse(query) -> SearchParams:
    """A QueryDict (or a dict of lists/strings) → SearchParams, or SearchInputError."""
    def getlist(name):
        if hasattr(query, "getlist"):
            return query.getlist(name)
        value = query.get(name)
        return [] if value is None else (list(value) if isinstance(value, (list, tuple)) else [value])

    def get(name):
        values = getlist(name)
        return values[-1] if values else ""

    q = " ".join(get("q").replace("\x00", "").split())
    if len(q) > Q_MAX_CHARS:
        raise SearchInputError(f"The search is too long: at most {Q_MAX_CHARS} characters.", param="q")
    filters = {}
    for name in EQUALITY_FILTERS:
        values = [_clean_text(v, name=name) for v in getlist(name)]
        values = tuple(dict.fromkeys(v for v in values if v))
        if len(values) > VALUES_PER_PARAM:
            raise SearchInputError(f"At most {VALUES_PER_PARAM} values of {name}.", param=name)
        if name == "institution":
            values = tuple(v.upper() for v in values)
        if name == "collection":
            if any(v.count(":") != 1 for v in values):
                raise SearchInputError("Use INSTITUTION:COLLECTION, e.g. NHMUK:BOT.", param=name)
            values = tuple(v.upper() for v in values)
        if values:
            filters[name] = values
    has_image = get("has_image").lower() in ("1", "true", "yes", "on")
    year = None
    if get("year"):
        match = YEAR_FORM.match(get("year"))
        if not match:
            raise SearchInputError("year must be a year (1990) or a range (1990-1999).", param="year")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        year = (min(low, high), max(low, high))
    mids_level = None
    if get("mids_level") != "":
        try:
            mids_level = int(get("mids_level"))
        except ValueError:
            mids_level = None
        if mids_level not in (-1, 0, 1, 2, 3):
            raise SearchInputError("mids_level must be 0, 1, 2 or 3.", param="mids_level")
    recorded_by = _clean_text(get("recorded_by"), name="recorded_by")
    bbox = bbox_parse(get("bbox")) if get("bbox") else None
    sort = get("sort") or DEFAULT_SORT
    if sort not in SORTS:
        raise SearchInputError(f"sort must be one of: {', '.join(SORTS)}.", param="sort")
    view = get("view") or "list"
    if view not in VIEWS:
        raise SearchInputError(f"view must be one of: {', '.join(VIEWS)}.", param="view")
    params = SearchParams(q=q, filters=filters, has_image=has_image, year=year, mids_level=mids_level,
                          recorded_by=recorded_by, bbox=bbox, sort=sort, view=view)
    cursor = get("cursor")
    return cursor_decode(cursor, params=params) if cursor else params


# --- cursors ------------------------------------------------------------------------------------


def _cursor_scope(params: SearchParams) -> str:
    # A cursor belongs to one search: replayed on another, it would skip or repeat rows.
    return json.dumps([params.sort, params.query_items(without="view")], sort_keys=True)[:2000]


def cursor_encode(key: tuple, *, params: SearchParams) -> str:
    import hashlib

    scope = hashlib.sha256(_cursor_scope(params).encode()).hexdigest()[:16]
    data = {"k": list(key), "s": params.sort, "h": scope}
    if params.names:
        data["n"] = list(params.names)
    return signing.dumps(data, salt=CURSOR_SALT, compress=True)


INVALID_CURSOR = "This page link is not valid (changed or from another search); start again from the first page."


def cursor_decode(value: str, *, params: SearchParams) -> SearchParams:
    """`params` at the page the cursor points to (and with the names a forgiven typo stood for)."""
    import hashlib

    try:
        data = signing.loads(value, salt=CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise SearchInputError(INVALID_CURSOR, param="cursor") from None
    scope = hashlib.sha256(_cursor_scope(params).encode()).hexdigest()[:16]
    if not isinstance(data, dict) or data.get("s") != params.sort or data.get("h") != scope:
        raise SearchInputError(INVALID_CURSOR, param="cursor")
    key = data.get("k")
    expected = len(SORTS[params.sort][1])
    names = data.get("n", [])
    if (not isinstance(key, list) or len(key) != expected or not isinstance(key[-1], int)
            or not isinstance(names, list) or not all(isinstance(n, str) for n in names[:5])):
        raise SearchInputError(INVALID_CURSOR, param="cursor")
    return replace(params, cursor=tuple(key), names=tuple(names[:5]))


# --- SQL over SpecimenSearch -------------------------------------------------------------------


def _tsquery(text: str, *, weights: str = "", prefix_from: int = 3) -> str:
    """Words of `text` as a to_tsquery string: every word must match, longer ones as prefixes.
    Only \\w characters reach it, so SQL, HTML or regex characters in a search are just separators."""
    words = WORD.findall(text.lower())[:Q_MAX_WORDS]
    terms = []
    for word in words:
        word = word[:100]
        suffix = (":*" if len(word) >= prefix_from else ":") + weights if (weights or len(word) >= prefix_from) else ""
        terms.append(f"'{word}'{suffix}")
    return " & ".join(terms)


def search_where_sql(params: SearchParams, *, alias: str = "r") -> tuple[str, list]:
    """WHERE clause (over SpecimenSearch aliased `alias`) and its parameters for `params`, without
    the cursor: the same rows for the page, the API, the map and a download."""
    clauses: list[str] = []
    values: list = []
    if params.names:  # a forgiven typo: the names it was taken for, instead of the words
        clauses.append("r.name_key = ANY(%s)")
        values.append(list(params.names))
    elif params.q:
        tsquery = _tsquery(params.q)
        from .services import catalog_number_normalise

        number = catalog_number_normalise(params.q)
        if tsquery:
            clauses.append(f"(r.document @@ to_tsquery('{SEARCH_CONFIG}', %s) OR r.catalog_number_normalised = %s)")
            values += [tsquery, number]
        else:
            clauses.append("r.catalog_number_normalised = %s")
            values.append(number)
    for name, column in EQUALITY_FILTERS.items():
        chosen = params.filters.get(name)
        if chosen:
            clauses.append(f"{column} = ANY(%s)")
            values.append(list(chosen))
    if params.has_image:
        clauses.append("r.has_image")
    if params.year:
        # Written on the year sort's own key when sorting by year, so its index range-scans the years
        # asked for (the same rows: the keys' stand-ins for "no year" lie outside any year range).
        column = {"year": "COALESCE(r.year, 32767)", "-year": "COALESCE(r.year, -32768)"}.get(params.sort, "r.year")
        clauses.append(f"{column} BETWEEN %s AND %s")
        values += list(params.year)
    if params.mids_level is not None:
        clauses.append("r.mids_level = %s")
        values.append(params.mids_level)
    if params.recorded_by:
        tsquery = _tsquery(params.recorded_by, weights="C", prefix_from=1)
        if tsquery:
            clauses.append(f"r.document @@ to_tsquery('{SEARCH_CONFIG}', %s)")
            values.append(tsquery)
    if params.bbox:
        clause, box_values = _box_sql(params.bbox)
        clauses.append(clause)
        values += box_values
    where = " AND ".join(clauses) or "true"
    if alias != "r":
        where = where.replace("r.", f"{alias}.")
    return where, values


def _box_sql(box: tuple[float, float, float, float]) -> tuple[str, list]:
    west, south, east, north = box
    lat = "r.decimal_latitude BETWEEN %s AND %s"
    if west <= east:
        return f"({lat} AND r.decimal_longitude BETWEEN %s AND %s)", [south, north, west, east]
    return f"({lat} AND (r.decimal_longitude >= %s OR r.decimal_longitude <= %s))", [south, north, west, east]


def search_ids_sql(params: SearchParams) -> tuple[str, list]:
    """`SELECT specimen_id …` of every match, for a download of this search (publishing)."""
    where, values = search_where_sql(params)
    return f"SELECT r.specimen_id FROM {TABLE} r WHERE {where}", values


class _Timeout:
    """A transaction with a statement timeout: one slow search cannot hold a worker."""

    def __enter__(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}")
        return self

    def __exit__(self, kind, exc, tb):
        self.atomic.__exit__(kind, exc, tb)
        if isinstance(exc, OperationalError) and "statement timeout" in str(exc):
            raise SearchTimeout("This search took too long; add a filter or a more specific word.") from exc
        return False


RESULT_COLUMNS = (
    "specimen_id", "uuid", "occurrence_id", "institution_code", "collection_code", "catalog_number",
    "scientific_name", "vernacular_name", "basis_of_record", "event_date", "year", "country", "country_code",
    "place", "recorded_by", "type_status", "decimal_latitude", "decimal_longitude", "mids_level",
    "media_count", "has_image", "thumbnail", "modified", "name_key", "catalog_number_normalised",
)


@dataclass
class SearchPage:
    rows: list[dict]
    next_cursor: str | None
    params: SearchParams
    corrected_to: tuple[str, ...] = ()  # names shown instead, when the words matched nothing


def _page_query(params: SearchParams, size: int, *, sort_after_filter: bool = False) -> tuple[str, list]:
    where, values = search_where_sql(params)
    _, keys, descending = SORTS[params.sort]
    if sort_after_filter:
        # The same order written so that no index provides it: the planner filters first, then sorts.
        keys = tuple(f"({k} || '')" if k in ("r.name_key", "r.catalog_number_normalised") else f"({k} + 0)" for k in keys)
    if params.cursor:
        op = "<" if descending else ">"
        where += f" AND ({', '.join(keys)}) {op} ({', '.join(['%s'] * len(keys))})"
        values += list(params.cursor)
    order = ", ".join(f"{k} {'DESC' if descending else 'ASC'}" for k in keys)
    columns = ", ".join(f"r.{c}" if c != "order" else 'r."order"' for c in RESULT_COLUMNS)
    return f"SELECT {columns} FROM {TABLE} r WHERE {where} ORDER BY {order} LIMIT %s", [*values, size + 1]


def _sort_key(row: dict, sort: str) -> tuple:
    return {
        "name": lambda: (row["name_key"], row["specimen_id"]),
        "catalog": lambda: (row["catalog_number_normalised"], row["specimen_id"]),
        "year": lambda: (row["year"] if row["year"] is not None else 32767, row["specimen_id"]),
        "-year": lambda: (row["year"] if row["year"] is not None else -32768, row["specimen_id"]),
        "newest": lambda: (row["specimen_id"],),
    }[sort]()


def _fetch(sql: str, values) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _page(params: SearchParams, size: int) -> SearchPage:
    sort_after_filter = False
    if not params.is_unfiltered:
        # Taxonomic and text conditions match rows that cluster in name order; others (year, place,
        # collector, MIDS level) spread evenly, and walking the sort index finds a page of them at once.
        clustered = bool(params.q or params.names or any(name in params.filters for name in TAXONOMIC_FILTERS))
        where, values = search_where_sql(params)
        estimate = _estimate(where, values)
        sort_after_filter = estimate <= (SORT_AFTER_FILTER_UP_TO if clustered else FACET_SAMPLE)
    rows = _fetch(*_page_query(params, size, sort_after_filter=sort_after_filter))
    next_cursor = cursor_encode(_sort_key(rows[size - 1], params.sort), params=params) if len(rows) > size else None
    return SearchPage(rows=rows[:size], next_cursor=next_cursor, params=params)


def names_like(text: str, *, limit: int = 5) -> list[str]:
    """Public names closest to `text` (pg_trgm word similarity over the counted names)."""
    text = " ".join(WORD.findall(text))[:100]
    if len(text) < 3:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL pg_trgm.word_similarity_threshold = 0.45")
        cursor.execute(
            "SELECT value FROM specimens_facetcount WHERE facet = %s AND n > 0 AND %s <%% value "
            "ORDER BY word_similarity(%s, value) DESC, n DESC, value LIMIT %s",
            [NAME_FACET, text, text, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def search_page(params: SearchParams, *, size: int = PAGE_SIZE) -> SearchPage:
    """One keyset page. Words that match nothing are tried once as a misspelt name (pg_trgm)."""
    size = max(1, min(size, PAGE_SIZE_MAX))
    with _Timeout():
        page = _page(params, size)
        if page.rows or not params.q or params.cursor or params.names:
            return page
        names = names_like(params.q)
        if not names:
            return page
        corrected = replace(params, names=tuple(n.lower() for n in names))
        page = _page(corrected, size)
        page.corrected_to = tuple(names)
        return page


@dataclass
class SearchSummary:
    total: int
    total_is_estimate: bool
    facets: dict[str, list[dict]]  # name → [{"value", "count"}], largest first
    facets_are_estimates: bool


def _estimate(where: str, values) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {TABLE} r WHERE {where}", values)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def _top(counts: dict[str, list[tuple[str, int]]]) -> dict[str, list[dict]]:
    facets = {}
    for name in FACET_NAMES:
        pairs = sorted(counts.get(name, []), key=lambda p: (-p[1], p[0]))[:FACET_TOP]
        facets[name] = [{"value": value, "count": n} for value, n in pairs if n > 0]
    return facets


def search_summary(params: SearchParams) -> SearchSummary:
    """Total and facet counts. Unfiltered: the stored counts (exact). Filtered: one GROUP BY over at
    most FACET_SAMPLE matches; beyond that the total is the planner's estimate and the facet counts
    are scaled from the sample, both marked as estimates."""
    with _Timeout():
        if params.is_unfiltered:
            rows = _fetch(
                "SELECT facet, value, n FROM (SELECT facet, value, n, row_number() OVER "
                "(PARTITION BY facet ORDER BY n DESC, value) AS place FROM specimens_facetcount "
                "WHERE facet = ANY(%s) AND n > 0) ranked WHERE place <= %s",
                [[*FACET_NAMES, TOTAL_FACET], FACET_TOP])
            counts: dict[str, list] = {}
            for row in rows:
                counts.setdefault(row["facet"], []).append((row["value"], row["n"]))
            total = counts.get(TOTAL_FACET, [("all", 0)])[0][1]
            return SearchSummary(total=total, total_is_estimate=False, facets=_top(counts), facets_are_estimates=False)
        where, values = search_where_sql(params)
        facet_columns = "r.institution_code, r.collection_code, r.kingdom, r.phylum, r.class_name, r.\"order\", " \
                        "r.family, r.country, r.type_status, r.has_image, r.year, r.mids_level, r.scientific_name"
        rows = _fetch(
            f"SELECT f.facet, f.value, count(*) AS n FROM (SELECT {facet_columns} FROM {TABLE} r WHERE {where} "
            f"LIMIT %s) r {_facet_unpivot_sql('r')} WHERE f.value <> '' AND f.facet <> %s GROUP BY 1, 2",
            [*values, FACET_SAMPLE + 1, NAME_FACET])
        counts = {}
        for row in rows:
            counts.setdefault(row["facet"], []).append((row["value"], row["n"]))
        sampled = counts.get(TOTAL_FACET, [("all", 0)])[0][1]
        if sampled <= FACET_SAMPLE:
            return SearchSummary(total=sampled, total_is_estimate=False, facets=_top(counts), facets_are_estimates=False)
        total = max(_estimate(where, values), sampled)
        scale = total / sampled
        scaled = {name: [(value, max(1, round(n * scale))) for value, n in pairs] for name, pairs in counts.items()}
        return SearchSummary(total=total, total_is_estimate=True, facets=_top(scaled), facets_are_estimates=True)


# --- the map ------------------------------------------------------------------------------------


def search_grid(params: SearchParams, *, zoom: int, extent: tuple[float, float, float, float] | None) -> dict:
    """What the map draws for `params` in the visible `extent` at `zoom`: the points themselves
    (public coordinates) when fewer than POINTS_MAX are located there, else counted cells."""
    where, values = search_where_sql(params)
    if extent is not None:
        box, box_values = _box_sql(extent)
        where, values = f"{where} AND {box}", [*values, *box_values]
    else:
        where = f"{where} AND r.decimal_latitude IS NOT NULL"
    level = grid_level_for_zoom(zoom)
    size = GRID_SIZES[level]
    estimated = False
    with _Timeout():
        points = _fetch(
            f"SELECT r.uuid, r.scientific_name, r.catalog_number, r.institution_code, r.decimal_latitude, "
            f"r.decimal_longitude, r.coordinate_grain FROM {TABLE} r WHERE {where} LIMIT %s", [*values, POINTS_MAX + 1])
        if len(points) <= POINTS_MAX:
            return {"mode": "points", "level": level, "size": float(size), "points": [
                {"uuid": str(p["uuid"]), "name": p["scientific_name"], "catalog_number": p["catalog_number"],
                 "institution": p["institution_code"], "lat": float(p["decimal_latitude"]),
                 "lon": float(p["decimal_longitude"]), "grain": float(p["coordinate_grain"])} for p in points]}
        if params.is_unfiltered:
            cell_where, cell_values = "level = %s AND n > 0", [min(level, GRID_STORED - 1)]
            if extent is not None:
                west, south, east, north = extent
                cell_where += " AND south + size >= %s AND south <= %s"
                cell_values += [south, north]
                if west <= east:
                    cell_where += " AND west + size >= %s AND west <= %s"
                    cell_values += [west, east]
            cells = _fetch(f"SELECT west, south, size, n FROM specimens_gridcount WHERE {cell_where}", cell_values)
        else:
            west_sql, south_sql, size_sql = _cell_sql(f"{size}::numeric")
            cells = _fetch(
                f"SELECT {west_sql} AS west, {south_sql} AS south, {size_sql} AS size, count(*) AS n "
                f"FROM (SELECT r.decimal_latitude, r.decimal_longitude, r.coordinate_grain FROM {TABLE} r "
                f"WHERE {where} LIMIT %s) r GROUP BY 1, 2, 3", [*values, GRID_SAMPLE + 1])
            sampled = sum(c["n"] for c in cells)
            if sampled > GRID_SAMPLE:  # a broad search: the cells of a sample, scaled to the estimate
                scale = max(_estimate(where, values), sampled) / sampled
                cells = [{**c, "n": max(1, round(c["n"] * scale))} for c in cells]
                estimated = True
    return {"mode": "cells", "level": level, "size": float(size), "estimated": estimated, "cells": [
        {"west": float(c["west"]), "south": float(c["south"]), "size": float(c["size"]), "count": int(c["n"])}
        for c in cells]}
