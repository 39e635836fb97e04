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
from .sql import sql_copy, sql_execute, sql_fetch, uuid7_sql
from .values import basis_of_record_read, event_date_from_parts, event_date_read, license_read

YMD_KEY_SEPARATOR = "\x1f"  # joins a row's year, month and day texts into one value-map key (chr(31) in SQL)


def rows_prepare(run) -> None:
    stage, value_map = psql.Identifier(run.stage), psql.Identifier(run.maps)
    sql_execute(psql.SQL(
        "CREATE UNLOGGED TABLE {} (term text, raw text, value text, start_date date, end_date date, "
        "year int, month int, day int, error text, java boolean DEFAULT false, time text, changed boolean DEFAULT false)"
    ).format(value_map))
    today = timezone.localdate()
    rows = []
    for term in ("eventDate", "basisOfRecord", "license"):
        if term not in run.columns:
            continue
        raws = [raw for (raw,) in sql_fetch(psql.SQL("SELECT DISTINCT {0} FROM {1} s WHERE {0} IS NOT NULL").format(
            run.raw(term), stage))]
        if term == "eventDate":
            rows += _event_dates_read(run, raws, today=today)
            continue
        for raw in raws:
            value, error = (basis_of_record_read if term == "basisOfRecord" else license_read)(raw)
            rows.append((term, raw, value, None, None, None, None, None, error, False, None, False))
    if "year" in run.columns:  # eventDate derived from year/month/day where the row has none
        empty = psql.SQL("{} IS NULL").format(run.raw("eventDate")) if "eventDate" in run.columns else psql.SQL("true")
        parts = sql_fetch(psql.SQL("SELECT DISTINCT {}, {}, {} FROM {} s WHERE {} AND {} IS NOT NULL").format(
            run.raw("year"), run.raw("month"), run.raw("day"), stage, empty, run.raw("year")))
        for year, month, day in parts:
            reading = event_date_from_parts(year, month, day, today=today)
            rows.append(("ymd", YMD_KEY_SEPARATOR.join(p or "" for p in (year, month, day)), reading.text or None,
                         reading.start, reading.end, reading.year, reading.month, reading.day, reading.error,
                         False, None, False))
    sql_copy(run.maps, None, rows)
    sql_execute(psql.SQL("CREATE INDEX ON {} (term, raw)").format(value_map))
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
        found = sql_fetch(psql.SQL(
            "SELECT m.raw, m.value, count(*) OVER () FROM {} s JOIN {} m "
            "ON m.term = 'eventDate' AND m.raw = {} AND m.changed AND m.java = %s LIMIT 1"
        ).format(psql.Identifier(run.stage), psql.Identifier(run.maps), run.raw("eventDate")), [java])
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
    inner = psql.SQL(", ").join(psql.SQL("NULLIF(btrim({}), '') AS {}").format(
        psql.Identifier(f"c{i}"), psql.Identifier(f"t{i}")) for i in used)
    source = psql.SQL("(SELECT line, nextval({}::regclass) AS new_id, {} FROM {} OFFSET 0) s").format(
        psql.Literal(_specimen_sequence(run)), inner, psql.Identifier(run.stage))
    SQL = psql.SQL  # noqa: N806 — the constant pieces below read as SQL

    def raw(term: str) -> psql.Composable:
        return psql.Identifier("s", f"t{run.columns[term]}") if term in run.columns else SQL("NULL::text")

    def named(expression: psql.Composable, name: str) -> psql.Composed:
        return SQL("{} AS {}").format(expression, psql.Identifier(name))

    select: list[psql.Composable] = [SQL("s.line"), SQL("s.new_id")]
    for field in IMPORT_FIELDS:
        term, name = field.term, field.name
        value = raw(term)
        if term not in run.columns and term != "catalogNumber":
            continue
        if field.kind == "text":
            select.append(named(SQL("upper({})").format(value) if name == "country_code" else value, name))
        elif field.kind in ("float", "decimal", "int"):
            cast = SQL({"decimal": "numeric", "float": "float8", "int": "bigint"}[field.kind])
            pattern, longest = (INTEGER, INTEGER_MAX_LENGTH) if field.kind == "int" else (NUMBER, NUMBER_MAX_LENGTH)
            select.append(named(value, f"{name}__raw"))
            typed = SQL("({})::{}").format(value, cast)
            if field.soft and field.low is not None:  # out of range: dropped, not stored
                typed = SQL("CASE WHEN {typed} BETWEEN {low} AND {high} THEN {typed} END").format(
                    typed=typed, low=psql.Literal(field.low), high=psql.Literal(field.high))
            # Nested CASE: the cast runs only on text the pattern accepted.
            select.append(named(SQL("CASE WHEN length({value}) <= {longest} AND {value} ~ {pattern} THEN {typed} END").format(
                value=value, longest=psql.Literal(longest), pattern=psql.Literal(pattern), typed=typed), name))
    if run.has_dates:
        # eventDate as read (md), else as derived from year/month/day (my): one of them per row.
        maps = [m for m, term in (("md", "eventDate"), ("my", "year")) if term in run.columns]

        def either(column: str) -> psql.Composable:
            found = [psql.Identifier(m, column) for m in maps]
            return SQL("coalesce({})").format(SQL(", ").join(found)) if len(found) > 1 else found[0]

        select += [
            named(raw("eventDate"), "event_date__raw"), named(either("value"), "event_date"),
            named(either("start_date"), "event_date_start"), named(either("end_date"), "event_date_end"),
            named(either("year"), "event_year"), named(either("month"), "event_month"), named(either("day"), "event_day"),
        ]
        if "eventDate" in run.columns:
            select += [SQL("md.error AS event_date__error"), SQL("md.java AS event_date__java"),
                       SQL("md.time AS event_date_time"), SQL("md.changed AS event_date__changed")]
        if "year" in run.columns:
            select += [named(SQL("concat_ws('-', {}, {}, {})").format(raw("year"), raw("month"), raw("day")), "ymd__raw"),
                       SQL("my.error AS ymd__warning")]
    if "basisOfRecord" in run.columns:
        select += [named(raw("basisOfRecord"), "basis_of_record__raw"), SQL("mb.value AS basis_of_record"),
                   SQL("mb.error AS basis_of_record__error")]
    if "license" in run.columns:
        select += [named(raw("license"), "license__raw"), SQL("ml.value AS license"), SQL("ml.error AS license__error")]

    def key_of(terms) -> psql.Composed:  # the texts joined by chr(31), as the value map keys them
        return SQL("concat_ws(chr(31), {})").format(SQL(", ").join(SQL("coalesce({}, '')").format(raw(t)) for t in terms))

    select.append(named(key_of(TAXON_TERMS), "taxon_key"))
    occurrence = raw("occurrenceID")
    collection = psql.Literal(run.collection.pk)
    select += [
        named(occurrence, "occurrence_id__raw"),
        named(SQL("CASE WHEN {0} ~* '^(https?://|urn:|doi:)[^[:space:]]+$' THEN {0} END").format(occurrence),
              "occurrence_uri"),
        named(SQL("coalesce(ec.id, CASE WHEN eo.collection_id = {} THEN eo.id END)").format(collection), "match_id"),
        named(SQL("(eo.id IS NOT NULL AND (eo.collection_id <> {} OR eo.id <> coalesce(ec.id, eo.id)))").format(collection),
              "occurrence_taken"),
        named(uuid7_sql(SQL("s.new_id")), "uuid"),
    ]
    if run.media_files:
        select.append(named(psql.Identifier("s", f"t{run.archive.core.id_index}"), "core_id"))
    value_map = psql.Identifier(run.maps)
    joins = []
    if "eventDate" in run.columns:
        joins.append(SQL("LEFT JOIN {} md ON md.term = 'eventDate' AND md.raw = {}").format(value_map, raw("eventDate")))
    if "year" in run.columns:
        joins.append(SQL("LEFT JOIN {} my ON my.term = 'ymd' AND my.raw = {} AND {} IS NULL").format(
            value_map, key_of(("year", "month", "day")), raw("eventDate")))
    if "basisOfRecord" in run.columns:
        joins.append(SQL("LEFT JOIN {} mb ON mb.term = 'basisOfRecord' AND mb.raw = {}").format(
            value_map, raw("basisOfRecord")))
    if "license" in run.columns:
        joins.append(SQL("LEFT JOIN {} ml ON ml.term = 'license' AND ml.raw = {}").format(value_map, raw("license")))
    joins.append(SQL("LEFT JOIN specimens_specimen ec ON ec.collection_id = {} AND ec.catalog_number = {}").format(
        collection, raw("catalogNumber")))
    joins.append(SQL("LEFT JOIN specimens_specimen eo ON eo.occurrence_id = {}").format(occurrence))
    rows = psql.Identifier(run.rows)
    sql_execute(SQL("CREATE UNLOGGED TABLE {} AS SELECT {} FROM {} {}").format(
        rows, SQL(", ").join(select), source, SQL(" ").join(joins)))
    if run.media_files:  # each row's media links, in file order
        sql_execute(SQL("ALTER TABLE {} ADD COLUMN external_media jsonb").format(rows))
        sql_execute(SQL(
            "UPDATE {} r SET external_media = m.items FROM (SELECT core_id, jsonb_agg(item ORDER BY file, line) "
            "AS items FROM {} GROUP BY core_id) m WHERE m.core_id = r.core_id").format(rows, psql.Identifier(run.media)))
    sql_execute(SQL("ANALYZE {}").format(rows))


def _specimen_sequence(run) -> str:
    return sql_fetch("SELECT pg_get_serial_sequence('specimens_specimen', 'id')")[0][0]
