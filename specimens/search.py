"""Public search: SpecimenSearch kept current, and search parameters turned into SQL over it.

Two halves, one module, because both must agree on what a row holds:

- **Upkeep.** `search_specimens_refresh` / `search_refresh_where` rewrite the rows of the given
  specimens inside the caller's transaction (the specimen services, the importer, compute_mids),
  filling them through the SQL form of the public read model (specimens.public), and move
  FacetCount, FacetPairCount and GridCount by the same rows: one DELETE … RETURNING and one
  INSERT … RETURNING, each feeding the counts in the same statement. `search_rebuild` redoes
  everything in one pass (generate_specimens runs it; or to heal counts a raw DELETE of published
  rows left behind).
- **Queries.** `search_params_parse` checks a query string (400 on bad input, via SearchInputError);
  `search_resolve` turns a search that names a taxon, a country or names into that filter;
  `search_page`, `search_summary`, `search_grid` run the page, the counts and the map; the public
  API and engineer E's "download this search" use `search_where_sql` for the same rows.

At 10 M rows: keyset pages on (sort key, id), never OFFSET, read as an index range where a
(filter, name) index exists; exact counts from FacetCount (unfiltered) and FacetPairCount (one
filter); otherwise no COUNT(*) beyond a capped sample, scaled and marked as estimates ("about N");
a statement timeout on every public query.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Mapping

from django.core import signing
from django.db import OperationalError, connection, transaction

from .dwc import HIGHER_RANKS
from .public import PUBLIC_LEVEL_COLUMN, public_columns_sql, public_level_join_sql

TABLE = "specimens_specimensearch"
SEARCH_CONFIG = "simple"  # names and numbers are not English words: no stemming, no stop words
STATEMENT_TIMEOUT_MS = 2000
# Filtered facets count at most this many matches (their rows are read from the heap, one random
# page each: 5,000 cost ≈ 50 ms on a loaded 2-core machine, 20,000 ≈ 1 s); above it, estimates.
FACET_SAMPLE = 5_000
# Above FACET_SAMPLE matches (by FacetPairCount or the planner), facets are scaled from this many.
FACET_ESTIMATE_SAMPLE = 1_000
# Microseconds per row read in heap order and tested against words, and per match handed over by
# the text index (a prefix): what decides how a sample of word matches is read.
SEQ_ROW_COST, TEXT_MATCH_COST = 0.65, 0.45
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

def _column(column: str, alias: str = "r") -> str:
    """A SpecimenSearch column over alias `alias`, quoted (`order` is an SQL keyword)."""
    return f'{alias}."{column}"'


# The ranks come from specimens.dwc (HIGHER_RANKS: URL parameter → column), never listed here. The
# lowest (genus) has too many values for a facet list: it is a filter and a hidden count instead.
GENUS = tuple(HIGHER_RANKS)[-1]
FACET_RANKS = tuple(HIGHER_RANKS)[:-1]
# (URL parameter, label, SQL of the value over a SpecimenSearch row `r`). '' means "not counted".
FACETS = (
    ("institution", "Institution", "r.institution_code"),
    ("collection", "Collection", "r.collection_code"),
    *((rank, rank.title(), _column(HIGHER_RANKS[rank])) for rank in FACET_RANKS),
    ("country", "Country", "r.country"),
    ("type_status", "Type status", "r.type_status"),
    ("has_image", "Has image", "CASE WHEN r.has_image THEN '1' ELSE '' END"),
    ("year", "Year collected", "CASE WHEN r.year IS NULL THEN '' ELSE "
     "(floor(r.year / 10.0) * 10)::int::text || '-' || ((floor(r.year / 10.0) * 10)::int + 9)::text END"),
    ("mids_level", "MIDS level", "COALESCE(r.mids_level::text, '')"),
)
FACET_NAMES = tuple(name for name, _, _ in FACETS)
FACET_LABELS = {name: label for name, label, _ in FACETS}
# Counted too, not shown as facets: the genus and every public name (words resolved to filters,
# typo suggestions) and the total.
NAME_FACET, TOTAL_FACET = "scientific_name", "_total"
# The dimension of exact (lower-cased) names in FacetPairCount: what q and forgiven typos resolve to.
NAME_DIMENSION = "name"
_KEYS = (*((name, sql) for name, _, sql in FACETS), (GENUS, _column(HIGHER_RANKS[GENUS])),
         (NAME_FACET, "r.scientific_name"), (NAME_DIMENSION, "r.name_key"))
_COUNTED = (*FACET_NAMES, GENUS, NAME_FACET)
# FacetPairCount: for each single-filter dimension value, the counts of every shown facet under it,
# so a page filtered on one thing (a genus, a country, a decade, a name) reads its facets, not its rows.
PAIR_DIMENSIONS = (*FACET_NAMES, GENUS, NAME_DIMENSION)


def _keys_sql(source: str) -> str:
    """Each distinct combination of a row's facet values in `source` with its number of rows: the
    counts below unpivot these (tens of thousands at 1 M rows), not every row."""
    names = ", ".join(f'"{name}"' for name, _ in _KEYS)
    values = ", ".join(f'{sql} AS "{name}"' for name, sql in _KEYS)
    return f"SELECT {names}, count(*) AS n FROM (SELECT {values} FROM {source} r) k GROUP BY {names}"


def _unpivot_sql(names, alias: str, *, total: bool, as_: str) -> str:
    pairs = [f"('{name}', {alias}.\"{name}\")" for name in names]
    if total:
        pairs.append(f"('{TOTAL_FACET}', 'all')")
    return f"CROSS JOIN LATERAL (VALUES {', '.join(pairs)}) AS {as_}(facet, value)"


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

RANK_COLUMNS = tuple(f'"{column}"' for column in HIGHER_RANKS.values())
SEARCH_COLUMNS = (
    "specimen_id", "uuid", "occurrence_id", "institution_code", "collection_code", "catalog_number",
    "catalog_number_normalised", "scientific_name", "name_key", "vernacular_name", *RANK_COLUMNS,
    "country", "country_code", "place", "type_status",
    "recorded_by", "basis_of_record", "event_date", "year", "mids_level", "media_count", "has_image",
    "thumbnail", "decimal_latitude", "decimal_longitude", "coordinate_grain", "published_at", "modified",
    "document",
)
THUMB_SIDE = 256  # imaging's thumb-256 derivative: the longer side, never enlarged


def _rank_name(rank: str, column: str) -> str:
    # A taxon's own rank column is empty for itself in older rows; its name stands in.
    return f"COALESCE(CASE WHEN t.rank = '{rank}' THEN t.name ELSE NULLIF({_column(column, 't')}, '') END, '')"


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
    ranks = ", ".join(f'{_rank_name(rank, column)} AS "{column}"' for rank, column in HIGHER_RANKS.items())
    rank_values = ", ".join(_column(column, "p") for column in HIGHER_RANKS.values())
    return f"""
    SELECT p.id, p.uuid, p.occurrence_id, p.institution_code, p.collection_code, p.catalog_number,
      p.catalog_number_normalised, p.scientific_name, lower(p.scientific_name), p.vernacular_name,
      {rank_values}, p.country, p.country_code,
      p.place, p.type_status, p.recorded_by, p.basis_of_record, p.event_date, p.year, p.mids_level,
      p.media_n + p.external_n, (p.media_n + p.external_n) > 0, COALESCE(p.thumbnail, ''),
      p.decimal_latitude, p.decimal_longitude, p.coordinate_grain, p.published_at, p.updated_at,
      setweight(to_tsvector('{SEARCH_CONFIG}', concat_ws(' ', p.scientific_name, p.vernacular_name, {rank_values})), 'A')
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
    """CTEs adding (sign=1) or taking away (sign=-1) the rows of `source` (a CTE or the table) from
    FacetCount, FacetPairCount and GridCount."""
    return f"""
    keys AS ({_keys_sql(source)}),
    facets AS (
      INSERT INTO specimens_facetcount AS fc (facet, value, n)
      SELECT f.facet, f.value, {sign} * sum(k.n) FROM keys k {_unpivot_sql(_COUNTED, "k", total=True, as_="f")}
      WHERE f.value <> '' GROUP BY 1, 2 ORDER BY 1, 2
      ON CONFLICT (facet, value) DO UPDATE SET n = fc.n + EXCLUDED.n
      RETURNING 1),
    pairs AS (
      INSERT INTO specimens_facetpaircount AS pc (dimension, dimension_value, facet, value, n)
      SELECT d.facet, d.value, f.facet, f.value, {sign} * sum(k.n) FROM keys k
        {_unpivot_sql(PAIR_DIMENSIONS, "k", total=False, as_="d")} {_unpivot_sql(FACET_NAMES, "k", total=True, as_="f")}
      WHERE d.value <> '' AND f.value <> '' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT (dimension, dimension_value, facet, value) DO UPDATE SET n = pc.n + EXCLUDED.n
      RETURNING 1),
    cells AS (
      INSERT INTO specimens_gridcount AS gc (level, west, south, size, n)
      SELECT g.level, g.west, g.south, g.size, {sign} * count(*) FROM {source} r {_stored_cells_sql("r")}
      WHERE r.decimal_latitude IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
      ON CONFLICT (level, west, south, size) DO UPDATE SET n = gc.n + EXCLUDED.n
      RETURNING 1)"""


_COUNTS_DONE = "(SELECT count(*) FROM facets), (SELECT count(*) FROM pairs), (SELECT count(*) FROM cells)"


def search_refresh_where(*, where: str, params=(), ) -> tuple[int, int]:
    """Rewrite the search rows of the specimens `s` (specimens_specimen) matching `where`, in the
    caller's transaction: drafts and withdrawn records leave the index, published ones (re)enter it
    with their public values. Returns (rows removed, rows written)."""
    columns = ", ".join(SEARCH_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {TABLE} x USING specimens_specimen s WHERE x.specimen_id = s.id AND ({where}) "
            f"RETURNING x.*), {_counts_sql('gone', -1)} SELECT (SELECT count(*) FROM gone), {_COUNTS_DONE}",
            params,
        )
        removed = cursor.fetchone()[0]
        cursor.execute(
            f"WITH added AS (INSERT INTO {TABLE} ({columns}) {_rows_select_sql(where)} RETURNING *), "
            f"{_counts_sql('added', 1)} SELECT (SELECT count(*) FROM added), {_COUNTS_DONE}",
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


def search_mids_refresh(*, collection_id: int | None = None) -> tuple[int, int]:
    """After MIDS levels were re-assessed outside the specimen services (compute_mids): rewrite,
    set-based, the rows whose stored level no longer matches their specimen's, with their counts.
    The stale ids are kept first (a temporary table): the rewrite's DELETE would otherwise hide them
    from its INSERT."""
    scope, params = ("AND m.collection_id = %s", [collection_id]) if collection_id is not None else ("", [])
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS search_mids_stale")
        cursor.execute(
            "CREATE TEMPORARY TABLE search_mids_stale ON COMMIT DROP AS SELECT x.specimen_id AS id "
            f"FROM {TABLE} x JOIN specimens_specimen m ON m.id = x.specimen_id "
            f"WHERE x.mids_level IS DISTINCT FROM m.mids_level {scope}", params)
        done = search_refresh_where(where="s.id IN (SELECT id FROM search_mids_stale)")
        cursor.execute("DROP TABLE search_mids_stale")
    return done


def search_vacuum() -> None:
    """VACUUM (ANALYZE) SpecimenSearch after a rebuild, outside any transaction: the planner's
    statistics, and the visibility map that lets the map count cells from an index alone."""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {TABLE}")


def _identifier(name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


@transaction.atomic
def search_rebuild() -> int:
    """Every row and count again from the specimens (a new database, generate_specimens, or counts
    a raw DELETE of published records left behind). Returns the number of rows written.

    One pass: the table emptied, its secondary indexes and foreign key dropped (their definitions
    read back from the catalogue, so the migrations stay their only home), the rows written in one
    INSERT … SELECT, then the indexes built and the key validated once each, which costs a fraction
    of maintaining them row by row."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = %s AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [TABLE, TABLE])
        indexes = cursor.fetchall()
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                       "AND contype = 'f'", [TABLE])
        keys = cursor.fetchall()
        # Deferred checks of the caller's earlier writes run now: ALTER TABLE refuses pending ones.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {TABLE}")
        for name, _ in keys:
            cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {_identifier(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {_identifier(name)}")
        # Written in an order unrelated to any column (a hash of the id), so the first N matches in
        # the heap are a fair sample of every search's matches: the scaled facet counts of a broad
        # search come from all its taxa, places and institutions, not from the first ones in some
        # order. Pages and exact counts do not read the heap in bulk (index ranges, FacetPairCount).
        cursor.execute(f"INSERT INTO {TABLE} ({', '.join(SEARCH_COLUMNS)}) {_rows_select_sql('true')} "
                       f"ORDER BY hashint8(p.id), p.id")
        written = cursor.rowcount
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in keys:
            cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {_identifier(name)} {definition}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's foreign keys are initially deferred
    search_counts_rebuild()
    return written


@transaction.atomic
def search_counts_rebuild() -> None:
    """FacetCount, FacetPairCount and GridCount again from SpecimenSearch as it is."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("TRUNCATE specimens_facetcount, specimens_facetpaircount, specimens_gridcount")
        cursor.execute(f"WITH {_counts_sql(TABLE, 1)} SELECT {_COUNTS_DONE}")
        cursor.execute(f"ANALYZE {TABLE}")
        cursor.execute("ANALYZE specimens_facetcount")
        cursor.execute("ANALYZE specimens_facetpaircount")


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
    "institution": "r.institution_code", "collection": "r.collection_code",
    **{rank: _column(column) for rank, column in HIGHER_RANKS.items()},
    "country": "r.country", "type_status": "r.type_status",
}
# Whole searches that are the name of one of these are that filter (FacetCount holds their values).
RESOLVED_FILTERS = (*HIGHER_RANKS, "country")
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
    # What q turned out to be (search_resolve): (filter or NAME_DIMENSION, values), or None for words
    # matched against the text; `resolved` says the look-up was done.
    resolved: bool = False
    q_filter: tuple[str, tuple[str, ...]] | None = None

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
    if not all(math.isfinite(v) for v in (west, south, east, north)):
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


RESOLVE_NAMES_MAX = 1000  # a search that starts more names than this stays a word search


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("_", r"\_").replace("%", r"\%")


def search_resolve(params: SearchParams) -> SearchParams:
    """`params` with q turned into a filter where the whole search names something: a taxon at one
    rank ("Bombus": the genus and so every bumblebee below it, whatever words its records carry), a
    country, or the start of public names ("Juncus effusus": every name it begins, author and
    infraspecific names included). Such a search reads an index range in sort order and its facet
    counts from FacetPairCount; any other words are matched against the text (tsvector). One query."""
    if params.resolved:
        return params
    text = " ".join(WORD.findall(params.q.lower())) if params.q and not params.names else ""
    typed = " ".join(params.q.lower().split())
    q_filter = None
    if len(text) >= 3 and len(typed) <= 200:
        with connection.cursor() as cursor:
            cursor.execute(
                "(SELECT facet, value FROM specimens_facetcount WHERE facet = ANY(%s) AND lower(value) = %s AND n > 0) "
                "UNION ALL (SELECT %s, lower(value) FROM specimens_facetcount WHERE facet = %s AND n > 0 "
                "AND (lower(value) = %s OR lower(value) LIKE %s) LIMIT %s)",
                [list(RESOLVED_FILTERS), typed, NAME_DIMENSION, NAME_FACET, typed, _like_prefix(typed) + " %",
                 RESOLVE_NAMES_MAX + 1])
            found: dict[str, list[str]] = {}
            for facet, value in cursor.fetchall():
                found.setdefault(facet, []).append(value)
        named = [facet for facet in found if facet != NAME_DIMENSION]
        if len(named) == 1:
            q_filter = (named[0], tuple(sorted(found[named[0]])))
        elif not named and 0 < len(found.get(NAME_DIMENSION, ())) <= RESOLVE_NAMES_MAX:
            q_filter = (NAME_DIMENSION, tuple(sorted(set(found[NAME_DIMENSION]))))
    return replace(params, resolved=True, q_filter=q_filter)


def search_where_sql(params: SearchParams, *, alias: str = "r") -> tuple[str, list]:
    """WHERE clause (over SpecimenSearch aliased `alias`) and its parameters for `params`, without
    the cursor: the same rows for the page, the API, the map and a download."""
    params = search_resolve(params)
    clauses: list[str] = []
    values: list = []
    def among(column: str, chosen) -> None:
        # One value as plain equality: the planner then reads a (column, sort key) index in order.
        if len(chosen) == 1:
            clauses.append(f"{column} = %s")
            values.append(chosen[0])
        else:
            clauses.append(f"{column} = ANY(%s)")
            values.append(list(chosen))

    if params.names:  # a forgiven typo: the names it was taken for, instead of the words
        among("r.name_key", params.names)
    elif params.q_filter:
        name, chosen = params.q_filter
        among("r.name_key" if name == NAME_DIMENSION else EQUALITY_FILTERS[name], chosen)
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
            among(column, chosen)
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


# Filters with a (column, name_key, specimen_id) index: one value of them, sorted by name, is an
# index range read in order (migrations 0013, 0014).
NAME_ORDERED_FILTERS = (*HIGHER_RANKS, "country")
# Filters whose matches cluster in name order without such an index: a walk of the name index can
# pass most of the table before the first of them, so up to SORT_AFTER_FILTER_UP_TO they are read
# through their own index and sorted.
CLUSTERED_FILTERS = ("institution", "collection", *HIGHER_RANKS, "type_status")


def _equalities(params: SearchParams) -> list[tuple[str, tuple[str, ...]]]:
    """The equality conditions in force, q's resolved filter included."""
    conditions = [(name, tuple(values)) for name, values in params.filters.items() if values]
    if params.names:
        conditions.append((NAME_DIMENSION, tuple(params.names)))
    elif params.q_filter:
        conditions.append(params.q_filter)
    return conditions


def _in_name_order(params: SearchParams) -> bool:
    """Whether an index yields this search's matches in name order (a range read plus LIMIT)."""
    if params.sort != "name":
        return False
    for name, values in _equalities(params):
        if name == NAME_DIMENSION or (name in NAME_ORDERED_FILTERS and len(values) == 1):
            return True
    return False


def search_page_sql(params: SearchParams, size: int) -> tuple[str, list] | None:
    """The SELECT one keyset page runs for `params` (resolved, in the order its plan reads), or
    None when FacetPairCount already says nothing matches. The benchmark's bare SQL is this."""
    params = search_resolve(params)
    sort_after_filter = False
    conditions = _conditions(params)
    if conditions and len(conditions) == 2 and _known_total(params) == 0:
        # FacetPairCount knows nothing matches (a genus with no images): no range to read through
        return None
    if not params.is_unfiltered and not _in_name_order(params):
        # Conditions that match rows spread evenly over the sort order (words, years, places,
        # collectors, MIDS levels) find a page at once by walking the sort index; few matches, or
        # matches clustered in name order, are read first and sorted.
        clustered = any(name in CLUSTERED_FILTERS for name, _ in _equalities(params))
        estimate = _known_total(params) if conditions and len(conditions) == 1 else None
        if estimate is None:
            estimate = _estimate(*search_where_sql(params))
        sort_after_filter = estimate <= (SORT_AFTER_FILTER_UP_TO if clustered else FACET_SAMPLE)
    return _page_query(params, size, sort_after_filter=sort_after_filter)


def _page(params: SearchParams, size: int) -> SearchPage:
    params = search_resolve(params)
    query = search_page_sql(params, size)
    rows = _fetch(*query) if query is not None else []
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


def _conditions(params: SearchParams) -> list[tuple[str, list[str]]] | None:
    """The search as FacetPairCount dimensions and their values (values of a facet, a genus, names,
    a decade, images, a MIDS level), or None when it has words, a collector, a box or a year range
    that is not one decade. Every record has one value in each dimension, so sums over several
    values are exact."""
    if (params.q and not (params.names or params.q_filter)) or params.recorded_by or params.bbox:
        return None
    conditions = [(name, list(values)) for name, values in _equalities(params)]
    if params.has_image:
        conditions.append(("has_image", ["1"]))
    if params.year:
        low, high = params.year
        if low % 10 or high != low + 9:
            return None
        conditions.append(("year", [f"{low}-{high}"]))
    if params.mids_level is not None:
        conditions.append(("mids_level", [str(params.mids_level)]))
    return conditions


def _known_total(params: SearchParams) -> int | None:
    """The exact number of matches from FacetPairCount when the search is one dimension, or one
    dimension and one facet (a genus with images, a family in a country); else None."""
    conditions = _conditions(params)
    if not conditions or len(conditions) > 2:
        return None
    (dimension, chosen), rest = conditions[0], conditions[1:]
    if rest and rest[0][0] not in FACET_NAMES:
        (dimension, chosen), rest = rest[0], [conditions[0]]
        if rest[0][0] not in FACET_NAMES:
            return None
    facet, values = rest[0] if rest else (TOTAL_FACET, ["all"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(sum(n), 0)::bigint FROM specimens_facetpaircount WHERE dimension = %s "
            "AND dimension_value = ANY(%s) AND facet = %s AND value = ANY(%s)", [dimension, chosen, facet, values])
        return cursor.fetchone()[0]


def _counts(rows) -> dict[str, list[tuple[str, int]]]:
    counts: dict[str, list] = {}
    for row in rows:
        counts.setdefault(row["facet"], []).append((row["value"], row["n"]))
    return counts


def search_summary(params: SearchParams) -> SearchSummary:
    """Total and facet counts, exact where they can be read: unfiltered, FacetCount; filtered on one
    thing, FacetPairCount. Otherwise a GROUP BY over the matches when there are at most FACET_SAMPLE;
    beyond that over the first FACET_ESTIMATE_SAMPLE, scaled to the total (FacetPairCount's when
    the search is one dimension and one facet, else the planner's estimate) and marked as estimates."""
    with _Timeout():
        params = search_resolve(params)
        if params.is_unfiltered:
            counts = _counts(_fetch(
                "SELECT facet, value, n FROM (SELECT facet, value, n, row_number() OVER "
                "(PARTITION BY facet ORDER BY n DESC, value) AS place FROM specimens_facetcount "
                "WHERE facet = ANY(%s) AND n > 0) ranked WHERE place <= %s",
                [[*FACET_NAMES, TOTAL_FACET], FACET_TOP]))
            total = counts.get(TOTAL_FACET, [("all", 0)])[0][1]
            return SearchSummary(total=total, total_is_estimate=False, facets=_top(counts), facets_are_estimates=False)
        conditions = _conditions(params)
        if conditions is not None and len(conditions) == 1:
            (dimension, chosen), = conditions
            counts = _counts(_fetch(
                "SELECT facet, value, n FROM (SELECT facet, value, n, row_number() OVER "
                "(PARTITION BY facet ORDER BY n DESC, value) AS place FROM (SELECT facet, value, sum(n)::bigint AS n "
                "FROM specimens_facetpaircount WHERE dimension = %s AND dimension_value = ANY(%s) AND n > 0 "
                "GROUP BY 1, 2) summed) ranked WHERE place <= %s",
                [dimension, chosen, FACET_TOP]))
            total = counts.get(TOTAL_FACET, [("all", 0)])[0][1]
            return SearchSummary(total=total, total_is_estimate=False, facets=_top(counts), facets_are_estimates=False)
        known = _known_total(params)
        if known == 0:
            return SearchSummary(total=0, total_is_estimate=False, facets=_top({}), facets_are_estimates=False)
        where, values = search_where_sql(params)
        estimate = known if known is not None else _estimate(where, values)
        limit = FACET_SAMPLE if estimate <= FACET_SAMPLE else FACET_ESTIMATE_SAMPLE
        columns = ", ".join(f'{sql} AS "{name}"' for name, _, sql in FACETS)
        with connection.cursor() as cursor:
            # The matches in heap order (rows lie in hash order: search_rebuild), not in an index's
            # name order, so a sample is spread over all of them.
            cursor.execute("SET LOCAL enable_indexscan = off")
            if limit < estimate and (params.recorded_by or (params.q and conditions is None)):
                # Words: the text index hands over every match before the first is read (a prefix
                # on 170,000 matches ≈ 75 ms at 10 M rows); reading the heap until `limit` have
                # matched scans limit × rows / matches rows (≈ 40 ms there). The cheaper one, by
                # the costs measured on the benchmark machine (docs/BENCHMARKS.md, search).
                cursor.execute(f"SELECT reltuples FROM pg_class WHERE oid = '{TABLE}'::regclass")
                rows = max(float(cursor.fetchone()[0]), 1.0)
                if limit * rows / estimate * SEQ_ROW_COST < estimate * TEXT_MATCH_COST:
                    cursor.execute("SET LOCAL enable_bitmapscan = off")
        counts = _counts(_fetch(
            f"SELECT f.facet, f.value, count(*) AS n FROM (SELECT {columns} FROM {TABLE} r WHERE {where} "
            f"LIMIT %s) k {_unpivot_sql(FACET_NAMES, 'k', total=True, as_='f')} WHERE f.value <> '' GROUP BY 1, 2",
            [*values, limit + 1]))
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = on")
            cursor.execute("SET LOCAL enable_bitmapscan = on")
        sampled = counts.get(TOTAL_FACET, [("all", 0)])[0][1]
        if sampled <= limit:
            return SearchSummary(total=sampled, total_is_estimate=False, facets=_top(counts), facets_are_estimates=False)
        total = max(estimate, sampled)
        scale = total / sampled
        scaled = {name: [(value, max(1, round(n * scale))) for value, n in pairs] for name, pairs in counts.items()}
        return SearchSummary(total=total, total_is_estimate=known is None, facets=_top(scaled), facets_are_estimates=True)


# --- the map ------------------------------------------------------------------------------------


def search_grid(params: SearchParams, *, zoom: int, extent: tuple[float, float, float, float] | None) -> dict:
    """What the map draws for `params` in the visible `extent` at `zoom`: the points themselves
    (public coordinates) when at most POINTS_MAX are located there, else counted cells.

    The cells come first, as they bound the points: unfiltered from GridCount, filtered counted over
    at most GRID_SAMPLE matches (read from a filter index that carries the coordinates, so a genus
    or a country is counted from the index alone). Only when they hold few records are the points read."""
    params = search_resolve(params)
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
            located = sum(c["n"] for c in cells)  # at least the records in the extent: cells overlap its edges
        elif _known_total(params) == 0:
            cells, located = [], 0
        else:
            west_sql, south_sql, size_sql = _cell_sql(f"{size}::numeric")
            cells = _fetch(
                f"SELECT {west_sql} AS west, {south_sql} AS south, {size_sql} AS size, count(*) AS n "
                f"FROM (SELECT r.decimal_latitude, r.decimal_longitude, r.coordinate_grain FROM {TABLE} r "
                f"WHERE {where} LIMIT %s) r GROUP BY 1, 2, 3", [*values, GRID_SAMPLE + 1])
            located = sum(c["n"] for c in cells)
            if located > GRID_SAMPLE:  # a broad search: the cells of a sample, scaled to the estimate
                scale = max(_estimate(where, values), located) / located
                cells = [{**c, "n": max(1, round(c["n"] * scale))} for c in cells]
                estimated = True
        if located <= POINTS_MAX:
            points = _fetch(
                f"SELECT r.uuid, r.scientific_name, r.catalog_number, r.institution_code, r.decimal_latitude, "
                f"r.decimal_longitude, r.coordinate_grain FROM {TABLE} r WHERE {where} LIMIT %s",
                [*values, POINTS_MAX + 1])
            if len(points) <= POINTS_MAX:
                return {"mode": "points", "level": level, "size": float(size), "points": [
                    {"uuid": str(p["uuid"]), "name": p["scientific_name"], "catalog_number": p["catalog_number"],
                     "institution": p["institution_code"], "lat": float(p["decimal_latitude"]),
                     "lon": float(p["decimal_longitude"]), "grain": float(p["coordinate_grain"])} for p in points]}
    return {"mode": "cells", "level": level, "size": float(size), "estimated": estimated, "cells": [
        {"west": float(c["west"]), "south": float(c["south"]), "size": float(c["size"]), "count": int(c["n"])}
        for c in cells]}
