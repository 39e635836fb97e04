"""The typed rows: distinct dates, basisOfRecord and licence values read once in Python into a value
map, then one typed, matched row per staged row, built set-based (a new row's id drawn up front,
the existing record it matches by catalogNumber or occurrenceID found by join)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from psycopg import sql as psql

from specimens.dates import slash_order_detect

from .fields import IMPORT_FIELDS, INTEGER, INTEGER_MAX_LENGTH, NUMBER, NUMBER_MAX_LENGTH, TAXON_TERMS
from .load import media_load
from .sql import literal, sql_copy, sql_execute, sql_fetch, sql_text, uuid7_sql
from .values import basis_of_record_read, event_date_from_parts, event_date_read, license_read

YMD_KEY_SEPARATOR = "\x1f"  # joins a row's year, month and day texts into one value-map key (chr(31) in SQL)


def rows_prepare(run) -> None:
    sql_execute(
        f'CREATE UNLOGGED TABLE "{run.maps}" (term text, raw text, value text, start_date date, end_date date, '
        "year int, month int, day int, error text, java boolean DEFAULT false, time text, changed boolean DEFAULT false)"
    )
    today = timezone.localdate()
    rows = []
    for term in ("eventDate", "basisOfRecord", "license"):
        if term not in run.columns:
            continue
        raws = [raw for (raw,) in sql_fetch(
            f"SELECT DISTINCT {run.raw(term)} FROM \"{run.stage}\" s WHERE {run.raw(term)} IS NOT NULL")]
        if term == "eventDate":
            rows += _event_dates_read(run, raws, today=today)
            continue
        for raw in raws:
            value, error = (basis_of_record_read if term == "basisOfRecord" else license_read)(raw)
            rows.append((term, raw, value, None, None, None, None, None, error, False, None, False))
    if "year" in run.columns:  # eventDate derived from year/month/day where the row has none
        empty = f"{run.raw('eventDate')} IS NULL" if "eventDate" in run.columns else "true"
        parts = sql_fetch(
            f"SELECT DISTINCT {run.raw('year')}, {run.raw('month')}, {run.raw('day')} FROM \"{run.stage}\" s "
            f"WHERE {empty} AND {run.raw('year')} IS NOT NULL"
        )
        for year, month, day in parts:
            reading = event_date_from_parts(year, month, day, today=today)
            rows.append(("ymd", YMD_KEY_SEPARATOR.join(p or "" for p in (year, month, day)), reading.text or None,
                         reading.start, reading.end, reading.year, reading.month, reading.day, reading.error,
                         False, None, False))
    sql_copy(run.maps, None, rows)
    sql_execute(f'CREATE INDEX ON "{run.maps}" (term, raw)')
    _rewritten_dates_warn(run)
    if run.media_files:
        with run.phase("media"):
            media_load(run)
    with transaction.atomic():  # room for the hash joins of a million rows, this statement only
        sql_execute("SET LOCAL work_mem = '256MB'")
        sql_execute("SET LOCAL jit = off")  # see write()
        _rows_build(run)


def _event_dates_read(run, raws: list[str], *, today) -> list[tuple]:
    """The map rows of a file's distinct eventDate values, slash dates read in the file's order."""
    slash = slash_order_detect(raws, chosen=run.batch.date_order)
    if slash.note:
        run.warnings.append(f"eventDate: {slash.note}")
    rows = []
    for raw in raws:
        reading = event_date_read(raw, today=today, order=slash.order)
        rows.append(("eventDate", raw, reading.text or None, reading.start, reading.end, reading.year,
                     reading.month, reading.day, reading.error, reading.java, reading.time or None, reading.changed))
    return rows


def _rewritten_dates_warn(run) -> None:
    """One warning per kind of rewritten eventDate, with an example and the rows it touched."""
    if "eventDate" not in run.columns:
        return
    for java in (True, False):
        found = sql_fetch(
            f"SELECT m.raw, m.value, count(*) OVER () FROM \"{run.stage}\" s JOIN \"{run.maps}\" m "
            f"ON m.term = 'eventDate' AND m.raw = {run.raw('eventDate')} AND m.changed AND m.java = %s LIMIT 1",
            [java],
        )
        if not found:
            continue
        raw, iso, count = found[0]
        if java:
            run.java_rows = count
            run.warnings.append(
                f"eventDate: {count} value(s) were Java date strings (e.g. '{raw}') and were read as "
                f"ISO dates (e.g. {iso}); the original text is kept in verbatimEventDate."
            )
        else:
            run.warnings.append(
                f"eventDate: {count} value(s) were written in another form (e.g. '{raw}') and were stored in ISO "
                "8601 (times other than midnight go to eventTime); the original text is kept in verbatimEventDate."
            )


def _rows_build(run) -> None:
    """One typed, matched row per staged row; values stay NULL where the text is invalid."""
    # The inner query trims each used column once (PostgreSQL would repeat the expression at
    # every use) and draws the id a new row will get: the links then need no join back
    # through the uuid index.
    used = sorted({run.columns[t] for t in run.columns} | ({run.archive.core.id_index} if run.media_files else set()))
    inner = ", ".join(f"NULLIF(btrim(\"c{i}\"), '') AS \"t{i}\"" for i in used)
    source = (f'(SELECT line, nextval({literal(_specimen_sequence(run))}::regclass) AS new_id, {inner} '
              f'FROM "{run.stage}" OFFSET 0) s')

    def raw(term: str) -> str:
        return f's."t{run.columns[term]}"' if term in run.columns else "NULL::text"

    select = ["s.line", "s.new_id"]
    for field in IMPORT_FIELDS:
        term, name = field.term, field.name
        value = raw(term)
        if term not in run.columns and term != "catalogNumber":
            continue
        if field.kind == "text":
            expression = f"upper({value})" if name == "country_code" else value
            select.append(f'{expression} AS "{name}"')
        elif field.kind in ("float", "decimal", "int"):
            cast = {"decimal": "numeric", "float": "float8", "int": "bigint"}[field.kind]
            pattern, longest = (INTEGER, INTEGER_MAX_LENGTH) if field.kind == "int" else (NUMBER, NUMBER_MAX_LENGTH)
            select.append(f"{value} AS \"{name}__raw\"")
            typed = f"({value})::{cast}"
            if field.soft and field.low is not None:  # out of range: dropped, not stored
                typed = f"CASE WHEN {typed} BETWEEN {field.low} AND {field.high} THEN {typed} END"
            # Nested CASE: the cast runs only on text the pattern accepted.
            select.append(f"CASE WHEN length({value}) <= {longest} AND {value} ~ '{pattern}' THEN {typed} END AS \"{name}\"")
    if run.has_dates:
        # eventDate as read (md), else as derived from year/month/day (my): one of them per row.
        maps = [m for m, term in (("md", "eventDate"), ("my", "year")) if term in run.columns]

        def either(column: str) -> str:
            return f"coalesce({', '.join(f'{m}.{column}' for m in maps)})" if len(maps) > 1 else f"{maps[0]}.{column}"

        select += [
            f"{raw('eventDate')} AS event_date__raw", f"{either('value')} AS event_date",
            f"{either('start_date')} AS event_date_start", f"{either('end_date')} AS event_date_end",
            f"{either('year')} AS event_year", f"{either('month')} AS event_month", f"{either('day')} AS event_day",
        ]
        if "eventDate" in run.columns:
            select += ["md.error AS event_date__error", "md.java AS event_date__java", "md.time AS event_date_time",
                       "md.changed AS event_date__changed"]
        if "year" in run.columns:
            select += [f"concat_ws('-', {raw('year')}, {raw('month')}, {raw('day')}) AS ymd__raw", "my.error AS ymd__warning"]
    if "basisOfRecord" in run.columns:
        select += [f"{raw('basisOfRecord')} AS basis_of_record__raw", "mb.value AS basis_of_record",
                   "mb.error AS basis_of_record__error"]
    if "license" in run.columns:
        select += [f"{raw('license')} AS license__raw", "ml.value AS license", "ml.error AS license__error"]
    taxon_parts = [f"coalesce({raw(t)}, '')" for t in TAXON_TERMS]
    select.append(f"concat_ws(chr(31), {', '.join(taxon_parts)}) AS taxon_key")
    occurrence = raw("occurrenceID")
    select += [
        f"{occurrence} AS occurrence_id__raw",
        f"CASE WHEN {occurrence} ~* '^(https?://|urn:|doi:)[^[:space:]]+$' THEN {occurrence} END AS occurrence_uri",
        "coalesce(ec.id, CASE WHEN eo.collection_id = %(collection)s THEN eo.id END) AS match_id",
        "(eo.id IS NOT NULL AND (eo.collection_id <> %(collection)s OR eo.id <> coalesce(ec.id, eo.id))) AS occurrence_taken",
        f"{sql_text(uuid7_sql(psql.SQL('s.new_id')))} AS uuid",
    ]
    if run.media_files:
        select.append(f's."t{run.archive.core.id_index}" AS core_id')
    joins = []
    if "eventDate" in run.columns:
        joins.append(f"LEFT JOIN \"{run.maps}\" md ON md.term = 'eventDate' AND md.raw = {raw('eventDate')}")
    if "year" in run.columns:
        key = ", ".join(f"coalesce({raw(t)}, '')" for t in ("year", "month", "day"))
        joins.append(f"LEFT JOIN \"{run.maps}\" my ON my.term = 'ymd' AND my.raw = concat_ws(chr(31), {key}) "
                     f"AND {raw('eventDate')} IS NULL")
    if "basisOfRecord" in run.columns:
        joins.append(f"LEFT JOIN \"{run.maps}\" mb ON mb.term = 'basisOfRecord' AND mb.raw = {raw('basisOfRecord')}")
    if "license" in run.columns:
        joins.append(f"LEFT JOIN \"{run.maps}\" ml ON ml.term = 'license' AND ml.raw = {raw('license')}")
    joins.append(
        "LEFT JOIN specimens_specimen ec ON ec.collection_id = %(collection)s "
        f"AND ec.catalog_number = {raw('catalogNumber')}"
    )
    joins.append(f"LEFT JOIN specimens_specimen eo ON eo.occurrence_id = {occurrence}")
    sql_execute(
        f'CREATE UNLOGGED TABLE "{run.rows}" AS SELECT {", ".join(select)} FROM {source} {" ".join(joins)}',
        {"collection": run.collection.pk},
    )
    if run.media_files:  # each row's media links, in file order
        sql_execute(f'ALTER TABLE "{run.rows}" ADD COLUMN external_media jsonb')
        sql_execute(
            f'UPDATE "{run.rows}" r SET external_media = m.items FROM (SELECT core_id, jsonb_agg(item ORDER BY file, line) '
            f'AS items FROM "{run.media}" GROUP BY core_id) m WHERE m.core_id = r.core_id'
        )
    sql_execute(f'ANALYZE "{run.rows}"')


def _specimen_sequence(run) -> str:
    return sql_fetch("SELECT pg_get_serial_sequence('specimens_specimen', 'id')")[0][0]
