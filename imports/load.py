"""Reading: the archive opened and checked (standards), its core rows COPY'd into an UNLOGGED
all-text staging table (parsed by PostgreSQL when the file is regular, else by the tolerant Python
reader), sampling events joined to their occurrences, multimedia rows read into JSON items."""

from __future__ import annotations

import itertools
import json
import logging

import psycopg
from django.db import DatabaseError, connection, transaction
from psycopg import sql as psql

from standards.archive import ArchiveError
from standards.reader import dwc_open
from standards.terms import (
    media_term, row_type_is_event, row_type_is_multimedia, row_type_is_occurrence, term_local_name,
)

from .batches import staging_name
from .sql import sql_copy, sql_execute, sql_fetch
from .values import media_item_read

logger = logging.getLogger(__name__)

NOT_OCCURRENCE_CORE = (
    "The core of this archive is {row_type}, not occurrences: it describes {what}. A specimen import "
    "needs an Occurrence core (http://rs.tdwg.org/dwc/terms/Occurrence)."
)
EVENT_WITHOUT_OCCURRENCES = (
    "The core of this archive is {row_type}: sampling events. A specimen import reads the occurrences "
    "of such an archive, and it has no Occurrence extension."
)
EVENT_NOT_JOINABLE = (
    "meta.xml gives the event core or its Occurrence extension no <id>/<coreid> column, so occurrences "
    "cannot be joined to their events."
)
EVENT_EXTENSION_SKIPPED = "The extension {name} ({row_type}) describes events, not specimens; it was not imported."
EVENT_ORPHANS = "{count} occurrence row(s) name an event that is not in {name}; they were imported without event data."
EVENT_PARENT_DEPTH = 10  # parentEventID links followed (a cycle stops there too)
NO_CATALOG_NUMBER = "The file has no catalogNumber column; every specimen needs a catalogue number."
NO_ROWS = "The file has no data rows."
MEDIA_WITHOUT_CORE_ID = (
    "The archive has a multimedia extension, but meta.xml gives the core no <id>, so its rows cannot be "
    "joined to records; the media links were not imported."
)


def data_rows(records, *, header_lines: int):
    """(line, values) of a file's data rows: its header lines skipped."""
    return itertools.islice(records, header_lines, None)


def archive_open(run) -> None:
    run.archive = archive = dwc_open(run.batch.source_path)
    run.warnings.extend(archive.warnings)
    core = archive.core
    if core.declared and row_type_is_event(core.row_type):
        core = _event_core_swap(run)
    elif core.declared and not row_type_is_occurrence(core.row_type):
        what = "taxa (a checklist)" if core.row_type.endswith("/Taxon") else "records that are not specimens"
        raise ArchiveError(NOT_OCCURRENCE_CORE.format(row_type=core.row_type or "(no rowType)", what=what))
    for spec in core.fields:
        if spec.canonical and spec.index is not None:
            if spec.canonical in run.columns and run.columns[spec.canonical] != spec.index:
                run.warnings.append(f"{spec.canonical} is mapped to two columns; the first one is used.")
                continue
            run.columns[spec.canonical] = spec.index
    if "catalogNumber" not in run.columns:
        raise ArchiveError(NO_CATALOG_NUMBER)
    run.media_files = [(spec, name) for spec, name in archive.extensions
                        if name and spec.id_index is not None and row_type_is_multimedia(spec.row_type)]
    if run.media_files and core.id_index is None:
        run.warnings.append(MEDIA_WITHOUT_CORE_ID)
        run.media_files = []
    archive.core_format  # noqa: B018 — the full encoding/line-length scan; raises ArchiveError


def _event_core_swap(run):
    """An Event core with an Occurrence extension (a sampling-event archive): the occurrences are
    the rows imported, and each is joined to its event's fields after loading (event_join), as
    GBIF does. Other extensions hang off events, not specimens, and are left out."""
    archive = run.archive
    event, event_name = archive.core, archive.core_name
    found = [(spec, name) for spec, name in archive.extensions if name and row_type_is_occurrence(spec.row_type)]
    if not found:
        raise ArchiveError(EVENT_WITHOUT_OCCURRENCES.format(row_type=event.row_type))
    spec, name = found[0]
    if event.id_index is None or spec.id_index is None:
        raise ArchiveError(EVENT_NOT_JOINABLE)
    for other, other_name in archive.extensions:
        if other is not spec:
            run.warnings.append(EVENT_EXTENSION_SKIPPED.format(name=other_name or other.location, row_type=other.row_type))
    run.event_file = (event, event_name)
    archive.core, archive.core_name, archive._format, archive.extensions = spec, name, None, []
    return spec


def events_join(run) -> None:
    """Each occurrence gets its event's fields where it has none of its own (parent events
    fill what their children leave empty), as GBIF interprets sampling-event archives."""
    event, name = run.event_file
    terms = {f.canonical: f for f in event.fields if f.canonical and f.canonical not in ("eventID", "parentEventID")
             and (f.index is not None or f.default)}
    parent_field = next((f for f in event.fields if f.canonical == "parentEventID" and f.index is not None), None)
    events: dict[str, dict[str, str]] = {}
    parents: dict[str, str] = {}
    for _, values in data_rows(run.archive.extension_records(event, name), header_lines=event.header_lines):
        event_id = values[event.id_index].strip() if event.id_index < len(values) else ""
        row = {}
        for term, spec in terms.items():
            value = values[spec.index].strip() if spec.index is not None and spec.index < len(values) else ""
            if value or spec.default:
                row[term] = value or spec.default
        events.setdefault(event_id, row)
        if parent_field and parent_field.index < len(values) and values[parent_field.index].strip():
            parents[event_id] = values[parent_field.index].strip()
    for event_id, row in events.items():
        parent, depth = parents.get(event_id), 0
        while parent in events and depth < EVENT_PARENT_DEPTH:
            for term, value in events[parent].items():
                row.setdefault(term, value)
            parent, depth = parents.get(parent), depth + 1
    used = sorted(terms)
    if not used:
        return
    table = staging_name("events", run.batch)
    run.extra_tables.append(table)
    events_table, stage = psql.Identifier(table), psql.Identifier(run.stage)
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} (event_id text PRIMARY KEY, {})").format(
        events_table, psql.SQL(", ").join(psql.SQL("{} text").format(psql.Identifier(t)) for t in used)))
    sql_copy(table, None, ((event_id, *(row.get(t) or None for t in used)) for event_id, row in events.items()))
    joined = psql.SQL("e.event_id = btrim({})").format(psql.Identifier("s", f"c{run.archive.core.id_index}"))
    assignments = []
    for term in used:
        value = psql.Identifier("e", term)
        if term in run.columns:
            column = f"c{run.columns[term]}"
            assignments.append(psql.SQL("{} = CASE WHEN NULLIF(btrim({}), '') IS NULL THEN {} ELSE {} END").format(
                psql.Identifier(column), psql.Identifier("s", column), value, psql.Identifier("s", column)))
        else:
            column = psql.Identifier(f"c{run.width}")
            sql_execute(psql.SQL("ALTER TABLE {} ADD COLUMN {} text").format(stage, column))
            run.columns[term] = run.width
            assignments.append(psql.SQL("{} = {}").format(column, value))
            run.width += 1
    sql_execute(psql.SQL("UPDATE {} s SET {} FROM {} e WHERE {}").format(
        stage, psql.SQL(", ").join(assignments), events_table, joined))
    orphans = sql_fetch(psql.SQL("SELECT count(*) FROM {} s WHERE NOT EXISTS (SELECT 1 FROM {} e WHERE {})").format(
        stage, events_table, joined))[0][0]
    if orphans:
        run.warnings.append(EVENT_ORPHANS.format(count=orphans, name=name))


def staging_load(run) -> None:
    archive = run.archive
    core = archive.core
    records = archive.core_records()
    first = next(records, None)
    records.close()
    if first is None:
        raise ArchiveError(NO_ROWS)
    run.width = max(core.max_index + 1, len(first[1]))
    stage = psql.Identifier(run.stage)
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} (line bigint GENERATED BY DEFAULT AS IDENTITY (START WITH {}), {})").format(
        stage, psql.Literal(int(core.header_lines) + 1),
        psql.SQL(", ").join(psql.SQL("{} text").format(psql.Identifier(f"c{i}")) for i in range(run.width))))
    loaded = False
    if _fast_path_possible(run, len(first[1])):
        try:
            with transaction.atomic():
                _copy_fast(run)
            loaded = True
        except (DatabaseError, psycopg.Error) as exc:  # ragged or irregular: the tolerant reader takes over
            logger.info("import %s: COPY fast path refused (%s); reading in Python", run.batch.pk, exc)
    if not loaded:
        sql_execute(psql.SQL("TRUNCATE {}").format(stage))
        _copy_python(run)
    sql_execute(psql.SQL("ANALYZE {}").format(stage))  # fresh statistics: hash joins, not a million index probes
    total = sql_fetch(psql.SQL("SELECT count(*) FROM {}").format(stage))[0][0] + len({e[0] for e in run.python_errors})
    if total == 0:
        raise ArchiveError(NO_ROWS)
    run.lease.set(run.batch, rows_total=total)


def _fast_path_possible(run, first_width: int) -> bool:
    core, fmt = run.archive.core, run.archive.core_format
    return (
        fmt.encoding == "utf-8" and core.terminator == "\n" and len(core.delimiter) == 1
        and core.quote in ('"', "") and first_width == run.width and not fmt.has_soh
        and core.delimiter not in ("\x01", "\n", "\r")
    )


def _copy_fast(run) -> None:
    """PostgreSQL parses the bytes: the fastest load, used when the file is regular."""
    core, fmt = run.archive.core, run.archive.core_format
    quote = core.quote or "\x01"  # no enclosure declared: a byte the scan found absent
    statement = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, DELIMITER {}, QUOTE {}, ESCAPE {})").format(
        psql.Identifier(run.stage), psql.SQL(", ").join(psql.Identifier(f"c{i}") for i in range(run.width)),
        psql.Literal(core.delimiter), psql.Literal(quote), psql.Literal(quote),
    )
    skip = core.header_lines
    with connection.cursor() as cursor, run.archive.source.open(run.archive.core_name) as handle:
        handle.read(len(fmt.bom))
        with cursor.copy(statement.as_string(cursor.connection)) as copy:
            pending = b""
            while chunk := handle.read(4 * 1024**2):
                if skip:
                    pending += chunk
                    while skip and b"\n" in pending:
                        pending = pending.split(b"\n", 1)[1]
                        skip -= 1
                    if skip:
                        continue
                    chunk, pending = pending, b""
                copy.write(chunk)


def _copy_python(run) -> None:
    core = run.archive.core
    short = 0
    statement = psql.SQL("COPY {} (line, {}) FROM STDIN").format(
        psql.Identifier(run.stage), psql.SQL(", ").join(psql.Identifier(f"c{i}") for i in range(run.width))
    )
    with connection.cursor() as cursor:
        with cursor.copy(statement.as_string(cursor.connection)) as copy:
            for line, values in data_rows(run.archive.core_records(), header_lines=core.header_lines):
                if len(values) < run.width:
                    short += 1
                    values = values + [""] * (run.width - len(values))
                elif len(values) > run.width:
                    if any(v.strip() for v in values[run.width:]):
                        run.python_errors.append((
                            line, "", f"{len(values)} values",
                            f"This row has {len(values)} values but the file declares {run.width} columns "
                            "(a stray field separator?); the row was not imported.",
                        ))
                        continue
                    values = values[: run.width]
                copy.write_row((line, *values))
    if short:
        run.warnings.append(
            f"{short} row(s) have fewer columns than meta.xml or the header declares ({run.width}); "
            "the missing values were read as empty."
        )
    declared_past_end = [
        f.canonical or f.term for f in core.fields if f.index is not None and f.index >= run.width
    ]
    if declared_past_end:
        run.warnings.append(
            f"meta.xml maps {', '.join(declared_past_end)} to columns the data file does not have; read as empty."
        )


def media_load(run) -> None:
    """Multimedia extension rows (GBIF Simple Multimedia, Audubon Core) → one JSON item each,
    keyed by core id; nothing is fetched. Refused addresses are reported and left out."""
    media = psql.Identifier(run.media)
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} (core_id text, file int, line int, item jsonb)").format(media))
    with connection.cursor() as cursor, cursor.copy(psql.SQL("COPY {} FROM STDIN").format(media)) as copy:
        for number, (spec, name) in enumerate(run.media_files):
            # accessURI (the file itself) last, so it wins over an identifier that names the media
            columns = sorted(((f.index, media_term(f.term), f.term) for f in spec.fields
                              if f.index is not None and media_term(f.term)),
                             key=lambda c: term_local_name(c[2]).lower() == "accessuri")
            defaults = {media_term(f.term): f.default for f in spec.fields if f.default and media_term(f.term)}
            url_term = next((term_local_name(t) for _, key, t in reversed(columns) if key == "url"), "identifier")
            try:
                for line, values in data_rows(run.archive.extension_records(spec, name), header_lines=spec.header_lines):
                    row = dict(defaults)
                    for index, key, _ in columns:
                        value = values[index].strip() if index < len(values) else ""
                        if value:
                            row[key] = value
                    item, refusal, url = media_item_read(row)
                    if refusal:
                        run.media_warnings.append((line, f"{name}: {url_term}"[:120], url, refusal))
                        continue
                    core_id = values[spec.id_index].strip() if spec.id_index < len(values) else ""
                    copy.write_row((core_id, number, line, json.dumps(item)))
            except ArchiveError as exc:
                run.warnings.append(f"Extension {name} could not be read: {exc}")
