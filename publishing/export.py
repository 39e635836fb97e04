"""The archive's SQL: every file of a Darwin Core Archive as one `COPY (SELECT …) TO STDOUT`.

Every record is read through the public read model (specimens.public.public_columns_sql with its
LATERAL level), so a sensitive locality is generalised in the archive exactly as on the public
pages. Only published records are selected. The query is composed at run time from public.py, not
frozen into a database view, so a change to the read model reaches the archives with no migration.

Text values pass through `regexp_replace()` (control characters, tabs and line breaks → spaces:
see standards.dwca_write.CONTROL_CHARACTERS), empty values are written empty, never `NULL` or `\\N`.
COPY's CSV mode writes them with a tab delimiter and a quote character (U+0001) that the
replacement has removed, so no value is ever quoted: the file is plain tab-separated text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from psycopg import sql

from specimens.dwc import HIGHER_RANKS
from specimens.models import Specimen
from specimens.public import PUBLIC_LEVEL_COLUMN, public_columns_sql, public_level_join_sql
from standards.dwca_write import (
    CONTROL_CHARACTERS, ROW_TYPE_IDENTIFICATION, ROW_TYPE_MEASUREMENT, ROW_TYPE_MULTIMEDIA, ArchiveFile,
)
from standards.terms import ROW_TYPE_OCCURRENCE

PUBLISHED = Specimen.Status.PUBLISHED.value
QUOTE_NEVER = "\x01"  # removed from every text value; numbers never hold it


# --- which records ------------------------------------------------------------------------------


@dataclass
class RecordScope:
    """Which published records a file holds: collections, narrowed by saved filters (a dataset),
    or an SQL condition built elsewhere (a search) over the aliases s (specimen) and t (taxon)."""

    collection_ids: list[int] = field(default_factory=list)
    record_filter: dict = field(default_factory=dict)
    condition: sql.Composable | None = None


def _base(scope: RecordScope) -> sql.Composed:
    """FROM … WHERE … over s (specimen), c (collection), i (institution), t (taxon), s_public."""
    where = [sql.SQL("s.status = {}").format(sql.Literal(PUBLISHED))]
    if scope.collection_ids:
        where.append(sql.SQL("s.collection_id = ANY({})").format(sql.Literal(sorted(scope.collection_ids))))
    narrow = scope.record_filter or {}
    for key, column in (("kingdom", "t.kingdom"), ("family", "t.family"), ("country_code", "s.country_code"),
                        ("basis_of_record", "s.basis_of_record")):
        if narrow.get(key):
            where.append(sql.SQL(column + " = {}").format(sql.Literal(narrow[key])))
    if narrow.get("type_specimens_only"):
        where.append(sql.SQL("s.type_status <> ''"))
    if scope.condition is not None:
        where.append(scope.condition)
    return sql.SQL(
        "FROM specimens_specimen s "
        "JOIN institutions_collection c ON c.id = s.collection_id "
        "JOIN institutions_institution i ON i.id = s.institution_id "
        "LEFT JOIN specimens_taxon t ON t.id = s.taxon_id "
        + public_level_join_sql("s", taxon_level="t.effective_sensitivity") + " WHERE {}"
    ).format(sql.SQL(" AND ").join(where))


# --- the columns --------------------------------------------------------------------------------


# The same characters as a regular-expression class: one compiled, cached pattern is ten times
# faster than translate() with a 66-character list on UTF-8 text.
CONTROL_CLASS = "[\\x01-\\x1f\\x7f-\\x9f\\u2028\\u2029]"
assert len(CONTROL_CHARACTERS) == 31 + 33 + 2
NUMERIC_TERMS = {"individualCount", "year", "month", "day", "minimumElevationInMeters", "maximumElevationInMeters",
                 "minimumDepthInMeters", "maximumDepthInMeters", "decimalLatitude", "decimalLongitude",
                 "coordinateUncertaintyInMeters", "coordinatePrecision", "measurementValue"}


def _text(expression: str, term: str = "") -> str:
    """A value as text for the file: control characters → spaces, empty → NULL (written empty)."""
    if term in NUMERIC_TERMS:
        return f"({expression})::text"
    return f"NULLIF(regexp_replace(({expression})::text, '{CONTROL_CLASS}', ' ', 'g'), '')"


def _base_url() -> str:
    return "'" + settings.PUBLIC_BASE_URL.replace("'", "''") + "'"


def core_columns() -> list[tuple[str, str]]:
    """(term, SQL expression) of the Occurrence core, occurrenceID first (the id column)."""
    public = public_columns_sql("s", level=f"s_public.{PUBLIC_LEVEL_COLUMN}")
    base = _base_url()
    media_url = (f"CASE WHEN (m->>'iiif_service') IS NOT NULL THEN {base} || (m->>'iiif_service') || '/full/max/0/default.jpg' "
                 f"ELSE m->>'url' END")
    label_hidden = f"(s_public.{PUBLIC_LEVEL_COLUMN} <> 'none' AND c.sensitive_label_images_private)"
    # kingdom … genus, named once in specimens/dwc.py; psycopg quotes the columns (`order` is an SQL keyword).
    higher = [(term, sql.Identifier("t", column).as_string()) for term, column in HIGHER_RANKS.items()]
    text = [
        ("occurrenceID", "s.occurrence_id"),
        ("dcterms:modified", "to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
        ("dcterms:license", "s.license"),
        ("dcterms:rightsHolder", "s.rights_holder"),
        ("dcterms:references", f"{base} || '/specimen/' || s.uuid::text || '.html'"),
        ("institutionID", "COALESCE(NULLIF(i.ror_id, ''), 'https://www.gbif.org/grscicoll/institution/' || i.grscicoll_key::text)"),
        ("collectionID", "'https://www.gbif.org/grscicoll/collection/' || c.grscicoll_key::text"),
        ("institutionCode", "i.code"),
        ("collectionCode", "c.code"),
        ("basisOfRecord", "s.basis_of_record"),
        ("informationWithheld", public["information_withheld"]),
        ("dataGeneralizations", public["data_generalizations"]),
        ("catalogNumber", "s.catalog_number"),
        ("otherCatalogNumbers", "s.other_catalog_numbers"),
        ("recordNumber", public["record_number"]),
        ("recordedBy", "s.recorded_by"),
        ("recordedByID", "s.recorded_by_id"),
        ("individualCount", "s.individual_count"),
        ("sex", "s.sex"),
        ("lifeStage", "s.life_stage"),
        ("preparations", "s.preparations"),
        ("disposition", "s.disposition"),
        # Our images (label images of a sensitive record left out where its collection asks) and
        # the links an import brought, as GBIF reads associatedMedia: URLs separated by " | ".
        ("associatedMedia", (
            "CASE WHEN s.media = '[]'::jsonb AND s.external_media = '[]'::jsonb THEN NULL ELSE "
            f"(SELECT string_agg({media_url}, ' | ') FROM jsonb_array_elements(s.media || s.external_media) AS m "
            f"WHERE NOT (m->>'kind' = 'label' AND {label_hidden})) END")),
        ("eventDate", "s.event_date"),
        ("eventTime", "s.event_time"),
        ("year", "s.year"),
        ("month", "s.month"),
        ("day", "s.day"),
        ("verbatimEventDate", "s.verbatim_event_date"),
        ("fieldNumber", public["field_number"]),
        ("habitat", public["habitat"]),
        ("country", "s.country"),
        ("countryCode", "s.country_code"),
        ("stateProvince", public["state_province"]),
        ("county", public["county"]),
        ("locality", public["locality"]),
        ("verbatimLocality", public["verbatim_locality"]),
        ("waterBody", "s.water_body"),
        ("minimumElevationInMeters", public["minimum_elevation_in_meters"]),
        ("maximumElevationInMeters", public["maximum_elevation_in_meters"]),
        ("minimumDepthInMeters", public["minimum_depth_in_meters"]),
        ("maximumDepthInMeters", public["maximum_depth_in_meters"]),
        ("decimalLatitude", f"trim_scale({public['decimal_latitude']})"),
        ("decimalLongitude", f"trim_scale({public['decimal_longitude']})"),
        ("geodeticDatum", "s.geodetic_datum"),
        ("coordinateUncertaintyInMeters", public["coordinate_uncertainty_in_meters"]),
        ("coordinatePrecision", f"trim_scale({public['coordinate_precision']})"),
        ("locationID", public["location_id"]),
        ("scientificName", "s.scientific_name"),
        ("scientificNameAuthorship", "t.authorship"),
        ("scientificNameID", "t.name_id"),
        *higher,
        ("taxonRank", "NULLIF(t.rank, 'unranked')"),
        ("vernacularName", "t.vernacular_name"),
        ("identifiedBy", "s.identified_by"),
        ("dateIdentified", "s.date_identified"),
        ("identificationQualifier", "s.identification_qualifier"),
        ("typeStatus", "s.type_status"),
        ("verbatimIdentification", "s.verbatim_identification"),
    ]
    return [(term, _text(expression, term)) for term, expression in text]


def identification_columns() -> list[tuple[str, str]]:
    return [(term, _text(expression, term)) for term, expression in [
        ("occurrenceID", "r.occurrence_id"),
        ("identificationID", "'urn:uuid:' || d.uuid::text"),
        ("scientificName", "COALESCE(NULLIF(btrim(concat_ws(' ', dt.name, dt.authorship)), ''), d.verbatim_identification)"),
        ("verbatimIdentification", "d.verbatim_identification"),
        ("identifiedBy", "d.identified_by"),
        ("dateIdentified", "d.date_identified"),
        ("identificationQualifier", "d.identification_qualifier"),
        ("typeStatus", "d.type_status"),
        ("identificationRemarks", "d.remarks"),
        ("identificationVerificationStatus", "CASE WHEN d.is_current THEN 'current' ELSE 'superseded' END"),
    ]]


def multimedia_columns(image_licence: str) -> list[tuple[str, str]]:
    base = _base_url()
    licence = "'" + image_licence.replace("'", "''") + "'"
    ours = "(m->>'iiif_service') IS NOT NULL"
    return [(term, _text(expression, term)) for term, expression in [
        ("occurrenceID", "r.occurrence_id"),
        ("dcterms:type", f"CASE WHEN {ours} THEN 'StillImage' ELSE COALESCE(NULLIF(m->>'type', ''), 'StillImage') END"),
        ("dcterms:format", f"CASE WHEN {ours} THEN 'image/jpeg' ELSE m->>'format' END"),
        ("dcterms:identifier", f"CASE WHEN {ours} THEN {base} || (m->>'iiif_service') || '/full/max/0/default.jpg' ELSE m->>'url' END"),
        ("dcterms:references", f"CASE WHEN {ours} THEN {base} || '/iiif/specimen/' || r.specimen_uuid::text || '/manifest.json' END"),
        ("dcterms:title", f"CASE WHEN {ours} THEN initcap(COALESCE(m->>'kind', 'specimen')) || ' image' ELSE m->>'title' END"),
        ("dcterms:license", f"COALESCE(NULLIF(m->>'licence', ''), NULLIF(m->>'license', ''), {licence})"),
        ("dcterms:rightsHolder", "COALESCE(NULLIF(m->>'rights_holder', ''), NULLIF(r.rights_holder, ''), r.institution_name)"),
        ("dcterms:creator", "m->>'creator'"),
    ]]


def measurement_columns() -> list[tuple[str, str]]:
    return [(term, _text(expression, term)) for term, expression in [
        ("occurrenceID", "r.occurrence_id"),
        ("measurementType", "'MIDS level'"),
        ("measurementValue", "r.mids_level"),
        ("measurementMethod", "'Minimum Information about a Digital Specimen (TDWG MIDS), mapping ' || COALESCE(ma.mapping_set || ' ' || ma.mapping_version, 'unknown')"),
        ("measurementDeterminedDate", "to_char(r.mids_assessed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        ("measurementRemarks", "'Digitisation completeness, 0 (identified) to 3; -1 below MIDS-0'"),
    ]]


def _records(scope: RecordScope, extra: str) -> sql.Composed:
    return sql.SQL("(SELECT s.id AS specimen_id, s.occurrence_id, s.uuid AS specimen_uuid" + extra + " ") + _base(scope) + sql.SQL(") AS r")


def _query(columns: list[tuple[str, str]], from_: sql.Composable, tail: str = "") -> sql.Composed:
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(term.rpartition(":")[2]))
        for term, expression in columns)
    return sql.SQL("SELECT {} FROM {} {}").format(select, from_, sql.SQL(tail))


def core_query(scope: RecordScope) -> sql.Composed:
    columns = core_columns()
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(term.rpartition(":")[2]))
        for term, expression in columns)
    return sql.SQL("SELECT {} ").format(select) + _base(scope)


def row_hashes_query(scope: RecordScope) -> sql.Composed:
    """(specimen id, md5 of its core row as published): the manifest a version is compared with."""
    columns = core_columns()
    row = sql.SQL("md5(concat_ws(chr(9), {}))::uuid").format(
        sql.SQL(", ").join(sql.SQL("COALESCE({}, '')").format(sql.SQL(expression)) for _, expression in columns))
    return sql.SQL("SELECT s.id, {} ").format(row) + _base(scope)


def identification_query(scope: RecordScope) -> sql.Composed:
    from_ = sql.SQL("{} JOIN specimens_identification d ON d.specimen_id = r.specimen_id "
                    "LEFT JOIN specimens_taxon dt ON dt.id = d.taxon_id").format(_records(scope, ""))
    return _query(identification_columns(), from_, "ORDER BY r.specimen_id, d.is_current DESC, d.created_at DESC")


def multimedia_query(scope: RecordScope, *, image_licence: str) -> sql.Composed:
    label_hidden = f"(s_public.{PUBLIC_LEVEL_COLUMN} <> 'none' AND c.sensitive_label_images_private)"
    extra = (", s.rights_holder, i.name AS institution_name, s.media || s.external_media AS all_media, "
             f"{label_hidden} AS label_hidden")
    from_ = sql.SQL("{} CROSS JOIN LATERAL jsonb_array_elements(r.all_media) AS m").format(_records(scope, extra))
    return _query(multimedia_columns(image_licence), from_,
                  "WHERE NOT (m->>'kind' = 'label' AND r.label_hidden) AND r.all_media <> '[]'::jsonb")


def measurement_query(scope: RecordScope) -> sql.Composed:
    extra = ", s.mids_level, s.mids_assessed_at, s.mids_assessment_id"
    from_ = sql.SQL("{} LEFT JOIN specimens_midsassessment ma ON ma.id = r.mids_assessment_id").format(_records(scope, extra))
    return _query(measurement_columns(), from_, "WHERE r.mids_level IS NOT NULL")


def archive_files(*, image_licence: str) -> list[tuple[ArchiveFile, callable]]:
    """Each data file of our archives and the function giving its query for a scope."""
    def spec(row_type, location, columns, is_core=False):
        return ArchiveFile(row_type, location, tuple(term for term, _ in columns), is_core)

    return [
        (spec(ROW_TYPE_OCCURRENCE, "occurrence.txt", core_columns(), True), core_query),
        (spec(ROW_TYPE_IDENTIFICATION, "identification.txt", identification_columns()), identification_query),
        (spec(ROW_TYPE_MULTIMEDIA, "multimedia.txt", multimedia_columns(image_licence)),
         lambda scope: multimedia_query(scope, image_licence=image_licence)),
        (spec(ROW_TYPE_MEASUREMENT, "measurementorfact.txt", measurement_columns()), measurement_query),
    ]


def copy_tsv(query: sql.Composable) -> sql.Composed:
    return sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\t', HEADER true, NULL '', QUOTE {})").format(
        query, sql.Literal(QUOTE_NEVER))


def copy_stream(query: sql.Composable) -> Iterator[bytes]:
    """The bytes of COPY (query) TO STDOUT as tab-separated text with a header line."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy(copy_tsv(query)) as copy:
            for chunk in copy:
                yield chunk


# --- GBIF's required terms ----------------------------------------------------------------------

REQUIRED_TERMS = {"occurrenceID": "s.occurrence_id", "scientificName": "s.scientific_name", "eventDate": "s.event_date"}
# basisOfRecord is held to its vocabulary by a CHECK constraint, so it is never missing.


def missing_required_query(scope: RecordScope, *, limit: int) -> sql.Composed:
    """Records GBIF would refuse, with the terms each lacks, first `limit` by catalogue number."""
    missing = sql.SQL(", ").join(
        sql.SQL("CASE WHEN btrim({}) = '' THEN {} END").format(sql.SQL(column), sql.Literal(term))
        for term, column in REQUIRED_TERMS.items())
    any_missing = sql.SQL(" OR ").join(sql.SQL(f"btrim({column}) = ''") for column in REQUIRED_TERMS.values())
    return (sql.SQL("SELECT s.uuid, s.catalog_number, array_remove(ARRAY[{}], NULL) ").format(missing) + _base(scope)
            + sql.SQL(" AND ({}) ORDER BY s.catalog_number LIMIT {}").format(any_missing, sql.Literal(limit)))


def missing_required(scope: RecordScope, *, limit: int = 200) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(missing_required_query(scope, limit=limit).as_string(cursor.connection))
        return [{"uuid": str(uuid), "catalog_number": number, "missing": list(missing)}
                for uuid, number, missing in cursor.fetchall()]


def coverage_query(scope: RecordScope) -> sql.Composed:
    public = public_columns_sql("s", level=f"s_public.{PUBLIC_LEVEL_COLUMN}")
    return (sql.SQL(f"SELECT count(*), min({public['decimal_longitude']}), max({public['decimal_longitude']}), "
                    f"max({public['decimal_latitude']}), min({public['decimal_latitude']}), "
                    "min(s.event_date_start), max(COALESCE(s.event_date_end, s.event_date_start)), "
                    "array_remove(array_agg(DISTINCT t.kingdom), ''), "
                    "(array_remove(array_agg(DISTINCT t.family), ''))[1:50] ") + _base(scope))
