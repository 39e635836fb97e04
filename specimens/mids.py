"""MIDS levels of specimens, kept current (DESIGN §4.5): the writes around standards.mids.

A few records (an edit's service): `specimen_mids_assess` reads their Darwin Core values in one
query (our columns, the institution, the taxon, agents with an ORCID or Wikidata id, images, the
collection's licence, and the terms an import kept in `mids_terms`), evaluates them in Python
(records with the same terms present share one MidsAssessment), then writes `mids_level`,
`mids_assessment` and `mids_assessed_at` in one UPDATE with VALUES.

Many records (an import, `compute_mids`): the same values are reduced in SQL to each record's
signature, the state of every mapped term (absent, present, or the placeholder it holds; the
exact same rules as standards.mids.value_state), grouped, and only each distinct signature is
evaluated in Python (a few hundred for a million records); one UPDATE … FROM then joins the
records to their signature's level. Callers own the transaction: an edit's service, the import's
write transaction, or `compute_mids`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from functools import cache

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql as psql

from standards.mids import MAPPING_SETS, MappingSet, MidsResult, _control, value_state

from .models import MidsAssessment, Specimen

# Darwin Core term → SQL over s (specimen), c (collection), i (institution), t (taxon).
SPECIMEN_TERM_SQL = {
    "catalogNumber": "s.catalog_number",
    "otherCatalogNumbers": "s.other_catalog_numbers",
    "occurrenceID": "s.occurrence_id",
    "institutionCode": "i.code",
    "institutionID": "coalesce(nullif(i.ror_id, ''), 'https://www.gbif.org/grscicoll/institution/' || i.grscicoll_key::text)",
    "scientificName": "s.scientific_name",
    "scientificNameID": "t.name_id",
    "vernacularName": "t.vernacular_name",
    "verbatimIdentification": "s.verbatim_identification",
    "preparations": "s.preparations",
    # GBIF reads a record without a licence under its dataset's; ours is the collection's.
    "license": "coalesce(nullif(btrim(s.license), ''), c.default_license)",
    "modified": "s.updated_at::text",
    "locality": "s.locality",
    "county": "s.county",
    "verbatimLocality": "s.verbatim_locality",
    "country": "s.country",
    "countryCode": "s.country_code",
    "stateProvince": "s.state_province",
    "waterBody": "s.water_body",
    "locationID": "s.location_id",
    "decimalLatitude": "s.decimal_latitude::text",
    "decimalLongitude": "s.decimal_longitude::text",
    "geodeticDatum": "s.geodetic_datum",
    "coordinateUncertaintyInMeters": "s.coordinate_uncertainty_in_meters::text",
    "coordinatePrecision": "s.coordinate_precision::text",
    "recordedBy": "s.recorded_by",
    "recordedByID": "s.recorded_by_id",
    "eventDate": "s.event_date",
    "year": "s.year::text",
    "verbatimEventDate": "s.verbatim_event_date",
    "recordNumber": "s.record_number",
    "fieldNumber": "s.field_number",
    # An image of our own is a multimedia row with an identifier (its IIIF service).
    "Multimedia.identifier": "CASE WHEN s.media_count > 0 THEN 'image' END",
}
# Facts from related rows, read per record (few records) or joined once (many).
RELATED_TERM_SQL = {
    "preparations": ("(SELECT min(p.preparation_type) FROM specimens_preparation p WHERE p.specimen_id = s.id)",
                     "prep.value"),
    "recordedByID": (
        "(SELECT min(coalesce(a.orcid, a.wikidata_qid)) FROM specimens_specimenagent l JOIN specimens_agent a "
        "ON a.id = l.agent_id WHERE l.specimen_id = s.id AND l.role = 'collector' "
        "AND (a.orcid IS NOT NULL OR a.wikidata_qid IS NOT NULL))", "ag.collector"),
    "identifiedByID": (
        "(SELECT min(coalesce(a.orcid, a.wikidata_qid)) FROM specimens_specimenagent l JOIN specimens_agent a "
        "ON a.id = l.agent_id WHERE l.specimen_id = s.id AND l.role = 'determiner' "
        "AND (a.orcid IS NOT NULL OR a.wikidata_qid IS NOT NULL))", "ag.determiner"),
}
RELATED_JOINS = (
    "LEFT JOIN (SELECT specimen_id, min(preparation_type) AS value FROM specimens_preparation GROUP BY specimen_id) prep "
    "ON prep.specimen_id = s.id "
    "LEFT JOIN (SELECT l.specimen_id, min(coalesce(a.orcid, a.wikidata_qid)) FILTER (WHERE l.role = 'collector') AS collector, "
    "min(coalesce(a.orcid, a.wikidata_qid)) FILTER (WHERE l.role = 'determiner') AS determiner "
    "FROM specimens_specimenagent l JOIN specimens_agent a ON a.id = l.agent_id "
    "WHERE a.orcid IS NOT NULL OR a.wikidata_qid IS NOT NULL GROUP BY l.specimen_id) ag ON ag.specimen_id = s.id"
)
# Terms a mapping set reads that no Specimen column holds: an import keeps their values in mids_terms.
ALL_MAPPED_TERMS = tuple(dict.fromkeys(t for m in MAPPING_SETS.values() for t in m.terms))
IMPORT_WRITES_TERMS: set[str] = set()  # filled lazily from specimens.dwc.TERM_FIELDS
FEW = 500  # up to this many records: VALUES in the UPDATE itself; beyond: COPY into a temporary table

def import_kept_terms() -> tuple[str, ...]:
    """MIDS-mapped terms an import keeps in mids_terms: those it writes to no column."""
    from .dwc import TERM_FIELDS

    return tuple(t for t in ALL_MAPPED_TERMS if t not in TERM_FIELDS and not t.startswith("Multimedia."))


def specimen_mids_record(values: dict, kept: dict | None) -> dict:
    """The record the evaluator reads: kept import terms, then our own values over them."""
    record = dict(kept) if kept else {}
    for term, value in values.items():
        if value is not None and value != "":
            record[term] = value
    return record


def _states_key(states) -> str:
    return hashlib.sha256(json.dumps(states, separators=(",", ":")).encode()).hexdigest()


def mids_assessment_for(mapping: MappingSet, states, seen: dict) -> tuple[int, MidsResult]:
    """The shared assessment row for these states, created on first sight.

    No lock and no wait: two open transactions that meet the same new states each write their own
    row (see MidsAssessment.Meta); lookups take the first. `seen` caches ids for one pass only: a
    row created in a transaction that rolls back is gone.
    """
    result = mapping.evaluate_states(states)
    key = (mapping.mapping_version, mapping.id, states)
    found = seen.get(key)
    if found is None:
        lookup = {"mapping_version": key[0], "mapping_set": key[1], "states_key": _states_key(states)}
        found = MidsAssessment.objects.filter(**lookup).order_by("pk").values_list("pk", flat=True).first()
        if found is None:
            found = MidsAssessment.objects.create(
                **lookup, level=result.level, elements=[e.as_dict() for e in result.elements],
                blocking=list(result.blocking), failing=list(result.failing)).pk
        seen[key] = found
    return found, result


def _value_columns(*, many: bool) -> list[str]:
    """SQL for each term of TERM_ORDER: related facts joined once (many) or read per record (few)."""
    columns = []
    for term, expression in SPECIMEN_TERM_SQL.items():
        if term in RELATED_TERM_SQL:
            single, joined = RELATED_TERM_SQL[term]
            expression = f"coalesce(nullif({expression}, ''), {joined if many else single})"
        columns.append(expression)
    columns.append(RELATED_TERM_SQL["identifiedByID"][1 if many else 0])
    return columns


def _select_sql(*, where: str, many: bool, extra_select: str = "", extra_from: str = "") -> str:
    columns = _value_columns(many=many)
    return (
        f"SELECT s.id, c.mids_discipline, s.mids_terms, s.mids_level, s.mids_assessment_id, {', '.join(columns)}{extra_select} "
        "FROM specimens_specimen s JOIN institutions_collection c ON c.id = s.collection_id "
        "JOIN institutions_institution i ON i.id = s.institution_id LEFT JOIN specimens_taxon t ON t.id = s.taxon_id "
        f"{RELATED_JOINS if many else ''} {extra_from} WHERE {where}"
    )


TERM_ORDER = (*SPECIMEN_TERM_SQL, "identifiedByID")


def _assess_rows(rows: Iterable[tuple], *, kept_terms: tuple[str, ...] = ()) -> Iterable[tuple]:
    """(id, level, assessment id, new mids_terms or the old, changed?) per row read by _select_sql."""
    width = len(TERM_ORDER)
    seen: dict = {}
    for row in rows:
        specimen_id, discipline, old_kept, old_level, old_assessment = row[:5]
        if isinstance(old_kept, str):  # Django's connection hands jsonb over as text
            old_kept = json.loads(old_kept)
        values = dict(zip(TERM_ORDER, row[5:5 + width]))
        kept = old_kept
        if kept_terms:  # an import: the file's values of the kept terms replace the old ones
            kept = dict(old_kept or {})
            for term, value in zip(kept_terms, row[5 + width:]):
                if value is None or value == "":
                    kept.pop(term, None)
                else:
                    kept[term] = value
            kept = kept or None
        mapping = MAPPING_SETS[discipline or "biology"]
        assessment_id, result = mids_assessment_for(mapping, mapping.states(specimen_mids_record(values, kept)), seen)
        changed = (old_level, old_assessment) != (result.level, assessment_id) or kept != old_kept
        yield specimen_id, result.level, assessment_id, kept, changed


def _write(assessed: list[tuple], *, with_terms: bool) -> int:
    """One UPDATE for the changed rows: VALUES when few, else COPY into a temporary table first."""
    changed = [row for row in assessed if row[4]]
    if not changed:
        return 0
    now = timezone.now()
    terms_set = psql.SQL(", mids_terms = v.terms") if with_terms else psql.SQL("")
    with connection.cursor() as cursor:
        if len(changed) <= FEW:
            values = psql.SQL(", ").join(
                psql.SQL("({}::bigint, {}::smallint, {}::bigint, {}::jsonb)").format(
                    psql.Literal(i), psql.Literal(level), psql.Literal(aid),
                    psql.Literal(json.dumps(terms) if terms is not None else None))
                for i, level, aid, terms, _ in changed
            )
            source = psql.SQL("(VALUES {}) AS v (id, level, aid, terms)").format(values)
        else:
            cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS mids_assessed "
                           "(id bigint, level smallint, aid bigint, terms jsonb) ON COMMIT DROP")
            cursor.execute("TRUNCATE mids_assessed")
            with cursor.copy("COPY mids_assessed (id, level, aid, terms) FROM STDIN") as copy:
                for i, level, aid, terms, _ in changed:
                    copy.write_row((i, level, aid, json.dumps(terms) if terms is not None else None))
            source = psql.SQL("mids_assessed v")
        statement = psql.SQL(
            "UPDATE specimens_specimen s SET mids_level = v.level, mids_assessment_id = v.aid, mids_assessed_at = {}{} "
            "FROM {} WHERE s.id = v.id"
        ).format(psql.Literal(now), terms_set, source)
        cursor.execute(statement.as_string(cursor.connection))
        return cursor.rowcount


def _stream(query: str, params, *, many: bool, batch: int = 10_000):
    if not many:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            yield from cursor.fetchall()
        return
    # A server-side cursor: a million rows never sit in memory at once.
    connection.ensure_connection()
    with connection.connection.cursor(name=f"mids_{id(query)}") as cursor:
        cursor.itersize = batch
        cursor.execute(query, params)
        while rows := cursor.fetchmany(batch):
            yield from rows


def _assess(query: str, params, *, many: bool, kept_terms: tuple[str, ...] = ()) -> Counter:
    levels: Counter = Counter()
    assessed = []
    for row in _assess_rows(_stream(query, params, many=many), kept_terms=kept_terms):
        levels[row[1]] += 1
        assessed.append(row)
    _write(assessed, with_terms=bool(kept_terms))
    return levels


def specimen_mids_assess(*, specimens: Iterable[Specimen]) -> dict[int, int]:
    """Re-assess these records (an edit's service calls it inside its transaction); sets the
    instances' mids_level too, so the page rendered after the save shows the new level."""
    by_id = {s.pk: s for s in specimens if s.pk}
    if not by_id:
        return {}
    query = _select_sql(where="s.id = ANY(%s)", many=len(by_id) > FEW)
    levels = {}
    rows = list(_assess_rows(_stream(query, [list(by_id)], many=False)))
    _write(rows, with_terms=False)
    for specimen_id, level, assessment_id, _, _ in rows:
        specimen = by_id[specimen_id]
        specimen.mids_level, specimen.mids_assessment_id = level, assessment_id
        levels[specimen_id] = level
    return levels


def specimen_mids_assess_ids(*, specimen_ids: Iterable[int]) -> Counter:
    ids = list(specimen_ids)
    if not ids:
        return Counter()
    if len(ids) > FEW:
        return _assess_by_signature(where="s.id = ANY(%s)", params=[ids])
    return _assess(_select_sql(where="s.id = ANY(%s)", many=False), [ids], many=False)


# --- many records: evaluate each distinct signature once ---------------------------------------

PLACEHOLDER_PREFIX, RAW_PREFIX = "p:", "r:"  # signature states besides NULL (absent) and "" (present)


@cache
def _strip_chars() -> str:
    """What standards.mids._strip removes from both ends: whitespace and control characters
    (Python's whitespace stops at U+3000). PostgreSQL's btrim with this set gives the same text."""
    return "".join(chr(c) for c in range(1, 0x3001) if chr(c).isspace() or _control(chr(c)))


@cache
def _casefolds_to_ascii() -> str:
    """Non-ASCII characters whose casefold is ASCII (ß → ss, the Kelvin sign → k, ligatures …):
    a short value holding one of these might still fold to a placeholder, so Python decides it."""
    return "".join(chr(c) for c in range(0x80, 0x10000) if chr(c).casefold().isascii())


def _placeholders(term: str) -> frozenset[str]:
    """Every mapping set's placeholders for the term (a signature serves each discipline)."""
    found: set[str] = set()
    for mapping in MAPPING_SETS.values():
        found |= mapping.exclusions.get(term, frozenset())
    return frozenset(found)


def _literal(text: str) -> str:
    return psql.Literal(text).as_string(None)


def _state_of_stripped(stripped: str, raw: str, placeholders: frozenset[str]) -> str:
    """SQL for the state of a value whose ends are already stripped (`stripped`); `raw` is the
    value as stored, handed to Python in the rare case SQL cannot decide."""
    if not placeholders:
        return f"CASE WHEN {stripped} = '' THEN NULL ELSE '' END"
    longest = max(len(p) for p in placeholders)
    folded = f'lower({stripped} COLLATE "C")'  # ASCII only: casefold is lower-casing A-Z
    listed = ", ".join(_literal(p) for p in sorted(placeholders))
    may_fold = _literal("[^\x01-\x7f" + _casefolds_to_ascii() + "]")
    return (
        f"CASE WHEN {stripped} = '' THEN NULL "
        # casefold never shortens a text, so a longer one is no placeholder
        f"WHEN char_length({stripped}) > {longest} THEN '' "
        f"WHEN octet_length({stripped}) = char_length({stripped}) THEN "
        f"CASE WHEN {folded} IN ({listed}) THEN {_literal(PLACEHOLDER_PREFIX)} || {folded} ELSE '' END "
        f"WHEN {stripped} ~ {may_fold} THEN '' "
        f"ELSE {_literal(RAW_PREFIX)} || {raw} END"
    )


def _state_sql(value: str, term: str) -> str:
    """SQL for a term's state: NULL (absent), '' (present), 'p:' + the placeholder it holds, or
    'r:' + the value itself when only Python's casefold can tell."""
    placeholders = _placeholders(term)
    stripped = f"btrim({value}, {_literal(_strip_chars())})"
    return (
        f"CASE WHEN {value} IS NULL OR {value} = '' THEN NULL "
        # the common case: graphic ASCII at both ends, nothing to strip
        f"WHEN ascii({value}) BETWEEN 33 AND 126 AND ascii(right({value}, 1)) BETWEEN 33 AND 126 "
        f"THEN {_state_of_stripped(value, value, placeholders)} "
        f"ELSE {_state_of_stripped(stripped, value, placeholders)} END"
    )


def _signature_states(mapping: MappingSet, signature: list, position: dict[str, int]) -> tuple:
    """The states tuple MappingSet.states() would build, from a signature read back from SQL."""
    states = []
    for term in mapping.terms:
        state = signature[position[term]]
        if state is None:
            continue
        exclusions = mapping.exclusions.get(term, frozenset())
        if state.startswith(PLACEHOLDER_PREFIX):
            placeholder = state[len(PLACEHOLDER_PREFIX):]
            state = placeholder if placeholder in exclusions else ""
        elif state.startswith(RAW_PREFIX):
            state = value_state(state[len(RAW_PREFIX):], exclusions)
            if state is None:
                continue
        states.append((term, state))
    return tuple(states)


def _signatures_select_sql(*, where: str, extra_from: str, kept_columns: dict[str, str],
                           source: str = "specimens_specimen s", related_joins: str = RELATED_JOINS) -> str:
    """Per record: id, discipline, old level and assessment, old and new mids_terms, signature.

    `kept_columns` maps the MIDS terms an import keeps to the staging column holding the file's
    value: those replace what mids_terms held (an empty value removes the term), as in _assess_rows.
    `source` gives the records (aliased s) and `related_joins` the prep and ag facts about them:
    stored records by default, or an import's rows before they are inserted.
    """
    ours = dict(zip(TERM_ORDER, _value_columns(many=True)))
    values = []
    for term in ALL_MAPPED_TERMS:
        kept = f"nullif({kept_columns[term]}, '')" if term in kept_columns else f"s.mids_terms ->> {_literal(term)}"
        values.append(f"coalesce(nullif({ours[term]}, ''), {kept})" if term in ours else kept)
    if kept_columns:
        removed = ", ".join(_literal(t) for t in kept_columns)
        added = ", ".join(f"{_literal(t)}, nullif({c}, '')" for t, c in kept_columns.items())
        new_terms = (f"nullif((coalesce(s.mids_terms, '{{}}'::jsonb) - ARRAY[{removed}]::text[]) "
                     f"|| jsonb_strip_nulls(jsonb_build_object({added})), '{{}}'::jsonb)")
    else:
        new_terms = "s.mids_terms"
    inner = (
        "SELECT s.id, coalesce(nullif(c.mids_discipline, ''), 'biology') AS discipline, s.mids_level AS old_level, "
        f"s.mids_assessment_id AS old_aid, s.mids_terms AS old_terms, {new_terms} AS new_terms, "
        + ", ".join(f"{v} AS v{n}" for n, v in enumerate(values))
        + f" FROM {source} JOIN institutions_collection c ON c.id = s.collection_id "
        "JOIN institutions_institution i ON i.id = s.institution_id LEFT JOIN specimens_taxon t ON t.id = s.taxon_id "
        f"{related_joins} {extra_from} WHERE {where} OFFSET 0"  # OFFSET 0: each value worked out once
    )
    states = ", ".join(_state_sql(f"x.v{n}", term) for n, term in enumerate(ALL_MAPPED_TERMS))
    return (f"SELECT x.id, x.discipline, x.old_level, x.old_aid, x.old_terms, x.new_terms, "
            f"ARRAY[{states}]::text[] AS signature FROM ({inner}) x")


def _signatures_evaluate(cursor, *, records: str, levels: str) -> Counter:
    """Evaluate each distinct (discipline, signature) of the temporary table `records` once; the
    results go to the temporary table `levels` (discipline, signature, level, aid)."""
    position = {term: n for n, term in enumerate(ALL_MAPPED_TERMS)}
    counted: Counter = Counter()
    seen: dict = {}
    cursor.execute(f"ANALYZE {records}")
    cursor.execute(f"SELECT discipline, signature, count(*) FROM {records} GROUP BY 1, 2")
    assessed = []
    for discipline, signature, count in cursor.fetchall():
        mapping = MAPPING_SETS[discipline]
        aid, result = mids_assessment_for(mapping, _signature_states(mapping, signature, position), seen)
        counted[result.level] += count
        assessed.append((discipline, signature, result.level, aid))
    cursor.execute(f"DROP TABLE IF EXISTS {levels}")
    cursor.execute(f"CREATE TEMPORARY TABLE {levels} "
                   "(discipline text, signature text[], level smallint, aid bigint) ON COMMIT DROP")
    with cursor.cursor.copy(f"COPY {levels} (discipline, signature, level, aid) FROM STDIN") as copy:
        for row in assessed:
            copy.write_row(row)
    cursor.execute(f"ANALYZE {levels}")
    return counted


def _assess_by_signature(*, where: str = "true", params=None, extra_from: str = "",
                         kept_columns: dict[str, str] | None = None) -> Counter:
    """Assess many records set-based: each record's signature worked out once in SQL (kept in a
    temporary table), the distinct ones evaluated in Python, one UPDATE … FROM for the changes."""
    kept_columns = kept_columns or {}
    select = _signatures_select_sql(where=where, extra_from=extra_from, kept_columns=kept_columns)
    terms = ", r.old_terms, r.new_terms" if kept_columns else ""
    with connection.cursor() as cursor:
        # Seventy-one state expressions a row: PostgreSQL's JIT spent longer compiling them than
        # running them (a bulk edit of 100,000 records: 19.5 s with it, 8.4 s without). The
        # caller's transaction holds the temporary tables, so the setting ends with it.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("DROP TABLE IF EXISTS mids_records")
        cursor.execute(f"CREATE TEMPORARY TABLE mids_records ON COMMIT DROP AS SELECT r.id, r.discipline, r.old_level, "
                       f"r.old_aid, r.signature{terms} FROM ({select}) r", params)
        levels = _signatures_evaluate(cursor, records="mids_records", levels="mids_signature")
        terms_set, terms_changed = "", ""
        if kept_columns:
            terms_set, terms_changed = ", mids_terms = r.new_terms", " OR r.new_terms IS DISTINCT FROM r.old_terms"
        cursor.execute(
            f"UPDATE specimens_specimen target SET mids_level = m.level, mids_assessment_id = m.aid, "
            f"mids_assessed_at = %s{terms_set} FROM mids_records r "
            "JOIN mids_signature m ON m.discipline = r.discipline AND m.signature = r.signature "
            "WHERE target.id = r.id AND (r.old_level IS DISTINCT FROM m.level OR r.old_aid IS DISTINCT FROM m.aid"
            f"{terms_changed})",
            [timezone.now()],
        )
        cursor.execute("DROP TABLE mids_records")
    return levels


def import_kept_columns(*, stage_alias: str, columns: dict[str, int]) -> dict[str, str]:
    """The MIDS terms an import keeps in mids_terms → the staging column (aliased stage_alias) holding them."""
    return {t: f'{stage_alias}."c{columns[t]}"' for t in import_kept_terms() if t in columns}


# Temporary tables an import's INSERT joins to carry each new record's MIDS level (DESIGN §4.5).
NEW_RECORDS, NEW_LEVELS = "mids_new_records", "mids_new_levels"


def mids_assess_new(*, source: str, related_joins: str, extra_from: str, kept_columns: dict[str, str]) -> Counter:
    """MIDS of records an import is about to insert, so the INSERT writes them with the row.

    `source` is a subquery (aliased s) giving each new record as it will be stored, with its id;
    `related_joins` gives its prep and ag facts (collectors' and determiners' ORCID or Wikidata
    ids), which in the database exist only after the INSERT. Leaves NEW_RECORDS (id, discipline,
    signature, new_terms) and NEW_LEVELS (discipline, signature, level, aid) for the INSERT to
    join; both go at COMMIT. Updating the rows after the INSERT instead cost a second version of
    every row with its index entries: more than half of a million-row import.
    """
    select = _signatures_select_sql(where="true", extra_from=extra_from, kept_columns=kept_columns,
                                    source=source, related_joins=related_joins)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # as in _assess_by_signature
        cursor.execute(f"DROP TABLE IF EXISTS {NEW_RECORDS}")
        cursor.execute(f"CREATE TEMPORARY TABLE {NEW_RECORDS} ON COMMIT DROP AS "
                       f"SELECT r.id, r.discipline, r.signature, r.new_terms FROM ({select}) r")
        return _signatures_evaluate(cursor, records=NEW_RECORDS, levels=NEW_LEVELS)


def mids_assess_import(*, rows_table: str, stage_table: str, columns: dict[str, int]) -> Counter:
    """Every record an import matched (updated or not), after its write, in one pass: records it
    inserted carry their level from the INSERT (mids_assess_new). The write has ANALYZEd the
    specimen table when it added many rows (imports.write.targets_analyze).

    The file's values of MIDS terms we have no column for are kept in mids_terms (terms the file
    does not carry keep what an earlier import left there).
    """
    kept_columns = import_kept_columns(stage_alias="st", columns=columns)
    extra_from = (
        f'JOIN "{rows_table}" ir ON s.id = ir.match_id '
        + (f'JOIN "{stage_table}" st ON st.line = ir.line' if kept_columns else "")
    )
    return _assess_by_signature(extra_from=extra_from, kept_columns=kept_columns)


def mids_compute(*, collection=None) -> Counter:
    """Re-assess every record (of one collection): `compute_mids`, and after a new mapping release."""
    where, params = ("s.collection_id = %s", [collection.pk]) if collection is not None else ("true", None)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL jit = off")
        levels = _assess_by_signature(where=where, params=params)
        from .search import search_mids_refresh  # the search's mids_level facet, in the same transaction

        search_mids_refresh(collection_id=collection.pk if collection is not None else None)
        return levels
