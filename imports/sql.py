"""The importer's one SQL kit: every statement of the pipeline runs through `sql_execute`,
`sql_fetch` or `sql_copy`, and every value or name spliced into a statement is quoted by psycopg's
`sql` module (`Literal`, `Identifier`), never by hand: statements are `sql.Composable`s, or plain
text when constant. Each statement's time goes to the `imports.steps` log (benchmarks/import.py
--steps prints it).
"""

from __future__ import annotations

import logging
import secrets
import time

from django.db import connection
from psycopg import sql

steps_log = logging.getLogger("imports.steps")

# The SQL twin of specimens.services.catalog_number_normalise (upper, no spaces, no leading zeros).
CATALOG_NORMALISED_SQL = (
    "regexp_replace(upper(regexp_replace(r.catalog_number, '\\s+', '', 'g')), '(?<![0-9])0+(?=[0-9])', '', 'g')"
)


def _text(cursor, statement) -> str:
    return statement if isinstance(statement, str) else statement.as_string(cursor.connection)


def sql_execute(statement: str | sql.Composable, params=None) -> int:
    """Run one statement; its row count."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        try:
            cursor.execute(_text(cursor, statement), params)
            return cursor.rowcount
        finally:
            steps_log.debug("%.3f s %s", time.perf_counter() - started, str(statement)[:90])


def sql_fetch(statement: str | sql.Composable, params=None) -> list[tuple]:
    """Run one query; all its rows."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        try:
            cursor.execute(_text(cursor, statement), params)
            return cursor.fetchall()
        finally:
            steps_log.debug("%.3f s %s", time.perf_counter() - started, str(statement)[:90])


def sql_copy(table: str, columns: list[str] | None, rows) -> None:
    """COPY `rows` (tuples) into `table` (its `columns`, or all of them in order)."""
    statement = sql.SQL("COPY {} {} FROM STDIN").format(
        sql.Identifier(table),
        sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Identifier, columns))) if columns else sql.SQL(""),
    )
    with connection.cursor() as cursor, cursor.copy(_text(cursor, statement)) as copy:
        for row in rows:
            copy.write_row(row)


def uuid7_sql(counter: sql.Composable) -> sql.Composed:
    """SQL for time-ordered UUIDs (RFC 9562 version 7, "fixed bit-length dedicated counter").

    48 bits of Unix milliseconds (when this is called: the import's start), the version, 12
    random bits, the variant, then a 62-bit counter: a random offset plus `counter`, a unique
    bigint of the row (its id drawn from a sequence). Unique while the counter is, increasing
    with it, so a million inserts fill the right edge of the uuid and occurrenceID indexes
    instead of a random page each; and five times cheaper than gen_random_uuid() per row.
    """
    millis = int(time.time() * 1000)
    rand_a = secrets.randbits(12)
    offset = secrets.randbits(60)
    prefix = f"{millis >> 16:08x}-{millis & 0xFFFF:04x}-7{rand_a:03x}-"
    # (offset + counter) masked to 62 bits, with the top two bits set to the variant 10.
    return sql.SQL("({} || to_hex((({} + ({})) & 4611686018427387903) | -9223372036854775808))::uuid").format(
        sql.Literal(prefix), sql.Literal(offset), counter)
