"""Bulk import of specimens from a Darwin Core Archive or a CSV/TSV file (DESIGN §2.2 path 2).

file → guards + meta.xml (standards) → COPY into an UNLOGGED all-text staging table (parsed by
PostgreSQL when the file is regular, else by the tolerant Python reader) → one typed, matched
table built set-based → every check as SQL, problems written to ImportRowError → (dry run
stops) → one transaction: taxa and agents ensured set-based, UPDATE … FROM for changed matches,
INSERT … SELECT for new rows (their insert events, each record's version 1, written set-based
by one more INSERT … SELECT instead of row by row; updates are tracked row by row). Each row
ends once: inserted, updated, unchanged or rejected.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import secrets
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
import psycopg
from psycopg import sql as psql

from institutions.models import Collection
from institutions.selectors import ALL, institution_scope
from specimens.models import BULK_IMPORT_SETTING, ImportBatch, ImportRowError, Specimen, Taxon
from specimens.history import specimen_events_insert
from specimens.mids import mids_assess_import
from specimens.selectors import specimen_state_refusal, specimen_states_editable
from specimens.services import HIGHER as HIGHER_COLUMNS
from specimens.services import AGENT_LINK_ROLES, AGENT_NAME_SPLIT, agents_ensure, taxa_make_public, taxon_path_segment
from specimens.dates import slash_order_detect
from standards.archive import ArchiveError
from standards.reader import DwcArchive, dwc_open
from standards.terms import (
    media_term, row_type_is_event, row_type_is_multimedia, row_type_is_occurrence, term_local_name,
)

from .batches import ImportLease, LeaseLost, import_batch_claim, import_batches_enqueue, staging_name
from .fields import IMPORT_FIELDS, INTEGER, INTEGER_MAX_LENGTH, NUMBER, NUMBER_MAX_LENGTH, TAXON_TERMS, TERM_FIELDS
from .values import (
    basis_of_record_read, event_date_from_parts, event_date_read, license_read, media_item_read, taxon_path_for,
)

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
NOT_A_SPECIMEN = (
    "Not a specimen: in a sampling-event archive only rows whose basisOfRecord is a specimen kind "
    "({kinds}) are imported."
)
SPECIMEN_KINDS = ("PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample")
EVENT_PARENT_DEPTH = 10  # parentEventID links followed (a cycle stops there too)
IMPORT_PUBLISH_NEEDS_USER = (
    "Publishing on import needs --user NAME: the curator or collection manager who publishes these records."
)
IMPORT_PUBLISH_NOT_ALLOWED = (
    "{user} may not publish records of {institution}: only its curators and collection managers can publish on import."
)
IMPORT_PUBLISH_KEPT_DRAFT = "This record has no scientificName, so it was imported as a draft, not published."
IMPORT_PUBLISH_NO_NAMES = "The file has no scientificName column, so its records were imported as drafts, not published."
IMPORT_PUBLISHED = "Published on import: {count} record(s)."
NO_CATALOG_NUMBER = "The file has no catalogNumber column; every specimen needs a catalogue number."
NO_ROWS = "The file has no data rows."
MEDIA_WITHOUT_CORE_ID = (
    "The archive has a multimedia extension, but meta.xml gives the core no <id>, so its rows cannot be "
    "joined to records; the media links were not imported."
)
EXTERNAL_MEDIA_SQL = "coalesce(r.external_media, '[]'::jsonb)"
YMD_KEY_SEPARATOR = "\x1f"  # joins a row's year, month and day texts into one value-map key (chr(31) in SQL)
ADVISORY_LOCK = 7_240_001  # serialises the creation of shared taxa and agents between imports
COLLECTION_LOCK = 7_240_002  # with the collection id: one write (import or undo) per collection at a time


def collection_write_lock(collection_id: int) -> None:
    """Transaction-scoped: imports into different collections write at the same time; into the
    same collection, or an undo of one, one after the other."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [COLLECTION_LOCK, int(collection_id) % 2**31])
AGENT_SPLIT = AGENT_NAME_SPLIT.pattern  # the same separators in SQL (the pattern means the same there)
# (term, column, role) of the name lists linked to Agents, collectors first, as the services link them.
AGENT_ROLES = tuple((term, column, AGENT_LINK_ROLES[column].value) for term, column in TERM_FIELDS.items()
                    if column in AGENT_LINK_ROLES)


# The current identification of a record the import inserts or renames; the SELECTs follow this order.
IDENTIFICATION_INSERT = (
    "INSERT INTO specimens_identification (uuid, created_at, updated_at, specimen_id, taxon_id, verbatim_identification, "
    "identified_by, date_identified, identification_qualifier, type_status, remarks, is_current)"
)


def uuid7_sql(counter: str) -> str:
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
    return (f"({_literal(prefix)} || to_hex((({offset} + ({counter})) & 4611686018427387903) "
            f"| -9223372036854775808))::uuid")


# --- entry points -----------------------------------------------------------------------------


def import_publish_refusal(*, user, collection: Collection) -> str | None:
    """Why `user` may not publish the records an import writes into `collection`, or None: the
    publish rule of the record page (institutions.selectors, action "publish")."""
    if user is None:
        return IMPORT_PUBLISH_NEEDS_USER
    scope = institution_scope(user=user, action="publish")
    if scope != ALL and collection.institution_id not in scope:
        return IMPORT_PUBLISH_NOT_ALLOWED.format(user=user.get_username(), institution=collection.institution.name)
    return None


def import_batch_create(*, collection: Collection, path: str | Path, user=None, dry_run: bool = False,
                        date_order: str = "", publish: bool = False) -> ImportBatch:
    """`date_order` ("dmy", "mdy" or ""): how slash dates are read when the file does not show it.
    `publish`: the records written are published (ValidationError unless `user` may publish there)."""
    if publish and (refusal := import_publish_refusal(user=user, collection=collection)):
        raise ValidationError({"publish": refusal})
    path = Path(path)
    batch = ImportBatch(
        collection=collection, institution_id=collection.institution_id, created_by=user,
        file_name=path.name[:255], source_path=str(path), dry_run=dry_run, date_order=date_order or "",
        publish=publish,
    )
    batch.full_clean()
    batch.save()
    return batch


def import_batch_run(*, batch_id: int) -> ImportBatch | None:
    """Claim the batch's lease, run the import from the start while renewing it, release it.

    A batch that is gone, settled, or run by another live task is returned as it is: so a
    redelivered task does nothing (imports.batches explains the lease).
    """
    batch, owner = import_batch_claim(batch_id=batch_id, kind=ImportBatch.Kind.SPECIMENS)
    if owner is None:
        return batch
    lease = ImportLease(batch, owner)
    with lease.kept():
        run = _ImportRun(batch, lease)
        try:
            run.execute()
        except LeaseLost:
            logger.warning("import batch %s: another task runs it now; this attempt stopped", batch.pk)
        except ArchiveError as exc:
            _settle_unless_lost(run, status=ImportBatch.Status.REJECTED, file_errors=[str(exc)])
        except Exception as exc:  # never a traceback for the curator; the log keeps it
            if not lease.lost.is_set():
                logger.exception("import batch %s failed", batch.pk)
            _settle_unless_lost(run, status=ImportBatch.Status.FAILED,
                                file_errors=[f"The import stopped unexpectedly: {exc}"])
        finally:
            run.cleanup()
    batch.refresh_from_db()
    return batch


def _settle_unless_lost(run: _ImportRun, **values) -> None:
    """Record how the attempt ended, unless another task holds the batch now (its outcome counts)."""
    if run.lease.lost.is_set():
        return
    try:
        with transaction.atomic():
            run.lease.fence()
            run.discard()
            run.lease.set(run.batch, file_warnings=run.warnings, finished_at=timezone.now(), **values)
    except LeaseLost:
        pass
    except DatabaseError:  # the database is gone: the lease lapses and the reconciler sends the batch again
        logger.exception("import batch %s: recording its outcome failed", run.batch.pk)


def import_batch_set(batch: ImportBatch, **values) -> None:
    """Progress, counts and outcomes of an import (or of its undo) onto the row and the object: one
    UPDATE of just these columns, which a page polling the batch sees at once."""
    for key, value in values.items():
        setattr(batch, key, value)
    ImportBatch.objects.filter(pk=batch.pk).update(**values, updated_at=timezone.now())


# --- report -----------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")


def spreadsheet_safe(value) -> str:
    """Text a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def import_report_write(*, out: io.TextIOBase, file_errors, warnings, rows, warned: str) -> int:
    """The curator's report: file errors and warnings, then one line per row problem.

    `rows` yields (line, column, value, message, severity); `warned` is what a warning did to its
    row. Returns the number of row lines written.
    """
    writer = csv.writer(out)
    writer.writerow(["line", "field", "value", "problem", "outcome"])
    for message in file_errors:
        writer.writerow(["", "(file)", "", spreadsheet_safe(message), "file rejected"])
    for message in warnings:
        writer.writerow(["", "(file)", "", spreadsheet_safe(message), "warning"])
    outcome = {"error": "row not imported", "warning": warned}
    count = 0
    for line, column, value, message, severity in rows:
        writer.writerow([line or "", spreadsheet_safe(column), spreadsheet_safe(value), spreadsheet_safe(message), outcome[severity]])
        count += 1
    return count


def import_batch_report_write(*, batch: ImportBatch, out: io.TextIOBase) -> int:
    rows = ImportRowError.objects.filter(batch=batch).order_by("line", "id").values_list(
        "line", "column", "value", "message", "severity"
    )
    # A specimen row's warning drops one value; a checklist row's warning keeps the whole row.
    warned = "row imported" if batch.kind == ImportBatch.Kind.TAXA else "value left out"
    return import_report_write(out=out, file_errors=batch.file_errors, warnings=batch.file_warnings,
                               rows=rows.iterator(chunk_size=5000), warned=warned)


# --- the run ----------------------------------------------------------------------------------


def _q(name: str) -> psql.Identifier:
    return psql.Identifier(name)


class _ImportRun:
    def __init__(self, batch: ImportBatch, lease: ImportLease):
        self.batch = batch
        self.lease = lease
        self.collection = batch.collection
        self.warnings: list[str] = []
        # This attempt's own tables (import_<part>_<batch>_<attempt>), dropped at its end, or by
        # the next claim or the reconciler if it dies.
        self.stage = staging_name("stage", batch)
        self.rows = staging_name("rows", batch)
        self.maps = staging_name("map", batch)
        self.taxa = staging_name("taxa", batch)
        self.agents = staging_name("agents", batch)
        self.media = staging_name("media", batch)
        self.media_files: list = []  # (FileSpec, name) of multimedia extensions
        self.event_file = None  # (FileSpec, name) of an Event core whose Occurrence extension is imported
        self.extra_tables: list[str] = []
        self.media_warnings: list[tuple[int, str, str, str]] = []
        self.archive: DwcArchive | None = None
        self.columns: dict[str, int] = {}  # term → staging column index
        self.width = 0
        self.python_errors: list[tuple[int, str, str, str]] = []
        self.extension_errors: list[tuple[int, str, str, str]] = []

    # -- helpers
    def sql(self, statement, params=None):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            try:
                return self._sql(cursor, statement, params)
            finally:
                logger.debug("import %s: %.3f s %s", self.batch.pk, time.perf_counter() - started, str(statement)[:90])

    @staticmethod
    def _sql(cursor, statement, params):
        cursor.execute(statement if isinstance(statement, str) else statement.as_string(cursor.connection), params)
        return cursor.rowcount

    def fetch(self, statement, params=None) -> list[tuple]:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            try:
                cursor.execute(statement, params)
                return cursor.fetchall()
            finally:
                logger.debug("import %s: %.3f s %s", self.batch.pk, time.perf_counter() - started, str(statement)[:90])

    def col(self, term: str) -> str | None:
        index = self.columns.get(term)
        return None if index is None else f's."c{index}"'

    @property
    def has_dates(self) -> bool:
        """The file dates its rows: an eventDate column, or year (month, day) to derive one from."""
        return "eventDate" in self.columns or "year" in self.columns

    def raw(self, term: str) -> str:
        column = self.col(term)
        return f"NULLIF(btrim({column}), '')" if column else "NULL::text"

    def discard(self) -> None:
        ImportRowError.objects.filter(batch=self.batch).delete()

    def cleanup(self) -> None:
        if self.archive is not None:
            self.archive.close()
        for table in (self.stage, self.rows, self.maps, self.taxa, self.agents, self.media, *self.extra_tables):
            try:
                self.sql(f'DROP TABLE IF EXISTS "{table}"')
            except DatabaseError:  # the connection may be gone; UNLOGGED leftovers are harmless
                logger.warning("could not drop %s", table)

    # -- phases
    @contextmanager
    def phase(self, name: str):
        """Times one phase in the log (benchmarks/import.py --steps prints it); a run whose lease
        another task took stops at the next phase."""
        self.lease.check()
        started = time.perf_counter()
        try:
            yield
        finally:
            logger.debug("import %s: %.3f s == phase %s", self.batch.pk, time.perf_counter() - started, name)

    def pause_for_tests(self, stage: str) -> None:
        """IMPORT_TEST_PAUSE = {stage: seconds} (crash tests only, never set in production): hold
        the run in `stage` so a test can SIGKILL the worker there."""
        seconds = getattr(settings, "IMPORT_TEST_PAUSE", {}).get(stage)
        if seconds:
            logger.warning("import %s: test pause in %s for %.1f s", self.batch.pk, stage, seconds)
            time.sleep(seconds)

    def execute(self) -> None:
        with self.phase("open"):
            self.open()
        with self.phase("load"):
            self.load()
            if self.event_file:
                self.event_join()
            self.pause_for_tests(ImportBatch.Status.READING)
        self.lease.set(self.batch, status=ImportBatch.Status.VALIDATING, file_warnings=self.warnings)
        with self.phase("prepare"):
            self.prepare()
        with self.phase("validate"):
            self.validate()
            self.check_extensions()
            counts = self.count()
            self.pause_for_tests(ImportBatch.Status.VALIDATING)
        if self.batch.dry_run:
            with transaction.atomic():
                self.lease.fence()
                self.write_extension_errors()
                self.lease.set(self.batch, status=ImportBatch.Status.DONE, finished_at=timezone.now(),
                               file_warnings=self.warnings, **counts)
            return
        self.lease.set(self.batch, status=ImportBatch.Status.WRITING, file_warnings=self.warnings)
        with self.phase("analyze targets"):
            self.analyze_targets()
        with self.phase("taxa+agents"), transaction.atomic():
            self.shared_rows_ensure()
        with self.phase("write+commit"), transaction.atomic():
            with self.phase("write"):
                self.lease.fence()  # the batch row stays locked to the COMMIT: ours, or nothing is written
                self.write()
                self.write_extension_errors()
                counts = self.count(after_write=True)
                self.lease.set(self.batch, status=ImportBatch.Status.DONE, finished_at=timezone.now(),
                               rows_done=self.batch.rows_total, file_warnings=self.warnings, **counts)
                self.pause_for_tests(ImportBatch.Status.WRITING)
            with self.phase("mids"):  # every record written, in one pass, in the same transaction
                mids_assess_import(rows_table=self.rows, stage_table=self.stage, columns=self.columns)

    def analyze_targets(self) -> None:
        """Statistics for the tables written, when they have none or the import is large beside them.

        Without them (a new database: indexes still say 0 rows) the planner may serve the foreign
        key check of every identification with a scan of a whole (institution, id) index instead of
        the primary key: 0.9 ms a row instead of 4 µs. ANALYZE samples, so it stays well under a
        second at any size, and it does not block reads or writes.
        """
        rows = self.fetch(f'SELECT count(*) FROM "{self.rows}" WHERE match_id IS NULL')[0][0]
        for table in ("specimens_specimen", "specimens_identification", "specimens_specimenagent"):
            known = self.fetch("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])[0][0]
            if known < 0 or rows > max(known, 1_000) * 0.2:
                self.sql(f"ANALYZE {table}")

    def open(self) -> None:
        self.archive = archive = dwc_open(self.batch.source_path)
        self.warnings.extend(archive.warnings)
        core = archive.core
        if core.declared and row_type_is_event(core.row_type):
            core = self._event_core_swap()
        elif core.declared and not row_type_is_occurrence(core.row_type):
            what = "taxa (a checklist)" if core.row_type.endswith("/Taxon") else "records that are not specimens"
            raise ArchiveError(NOT_OCCURRENCE_CORE.format(row_type=core.row_type or "(no rowType)", what=what))
        for spec in core.fields:
            if spec.canonical and spec.index is not None:
                if spec.canonical in self.columns and self.columns[spec.canonical] != spec.index:
                    self.warnings.append(f"{spec.canonical} is mapped to two columns; the first one is used.")
                    continue
                self.columns[spec.canonical] = spec.index
        if "catalogNumber" not in self.columns:
            raise ArchiveError(NO_CATALOG_NUMBER)
        self.media_files = [(spec, name) for spec, name in archive.extensions
                            if name and spec.id_index is not None and row_type_is_multimedia(spec.row_type)]
        if self.media_files and core.id_index is None:
            self.warnings.append(MEDIA_WITHOUT_CORE_ID)
            self.media_files = []
        archive.core_format  # noqa: B018 — the full encoding/line-length scan; raises ArchiveError

    def _event_core_swap(self):
        """An Event core with an Occurrence extension (a sampling-event archive): the occurrences are
        the rows imported, and each is joined to its event's fields after loading (event_join), as
        GBIF does. Other extensions hang off events, not specimens, and are left out."""
        archive = self.archive
        event, event_name = archive.core, archive.core_name
        found = [(spec, name) for spec, name in archive.extensions if name and row_type_is_occurrence(spec.row_type)]
        if not found:
            raise ArchiveError(EVENT_WITHOUT_OCCURRENCES.format(row_type=event.row_type))
        spec, name = found[0]
        if event.id_index is None or spec.id_index is None:
            raise ArchiveError(EVENT_NOT_JOINABLE)
        for other, other_name in archive.extensions:
            if other is not spec:
                self.warnings.append(EVENT_EXTENSION_SKIPPED.format(name=other_name or other.location, row_type=other.row_type))
        self.event_file = (event, event_name)
        archive.core, archive.core_name, archive._format, archive.extensions = spec, name, None, []
        return spec

    def event_join(self) -> None:
        """Each occurrence gets its event's fields where it has none of its own (parent events
        fill what their children leave empty), as GBIF interprets sampling-event archives."""
        event, name = self.event_file
        terms = {f.canonical: f for f in event.fields if f.canonical and f.canonical not in ("eventID", "parentEventID")
                 and (f.index is not None or f.default)}
        parent_field = next((f for f in event.fields if f.canonical == "parentEventID" and f.index is not None), None)
        events: dict[str, dict[str, str]] = {}
        parents: dict[str, str] = {}
        header_left = event.header_lines
        for _, values in self.archive.extension_records(event, name):
            if header_left:
                header_left -= 1
                continue
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
        table = staging_name("events", self.batch)
        self.extra_tables.append(table)
        self.sql(f'CREATE UNLOGGED TABLE "{table}" (event_id text PRIMARY KEY, '
                 + ", ".join(f'"{t}" text' for t in used) + ")")
        with connection.cursor() as cursor, cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
            for event_id, row in events.items():
                copy.write_row((event_id, *(row.get(t) or None for t in used)))
        coreid = f's."c{self.archive.core.id_index}"'
        assignments = []
        for term in used:
            if term in self.columns:
                column = f'"c{self.columns[term]}"'
                assignments.append(f"{column} = CASE WHEN NULLIF(btrim(s.{column}), '') IS NULL THEN e.\"{term}\" "
                                   f"ELSE s.{column} END")
            else:
                self.sql(f'ALTER TABLE "{self.stage}" ADD COLUMN "c{self.width}" text')
                self.columns[term] = self.width
                assignments.append(f'"c{self.width}" = e."{term}"')
                self.width += 1
        self.sql(f'UPDATE "{self.stage}" s SET {", ".join(assignments)} FROM "{table}" e WHERE e.event_id = btrim({coreid})')
        orphans = self.fetch(f'SELECT count(*) FROM "{self.stage}" s WHERE NOT EXISTS '
                             f'(SELECT 1 FROM "{table}" e WHERE e.event_id = btrim({coreid}))')[0][0]
        if orphans:
            self.warnings.append(EVENT_ORPHANS.format(count=orphans, name=name))

    def load(self) -> None:
        archive = self.archive
        core = archive.core
        records = archive.core_records()
        first = next(records, None)
        records.close()
        if first is None:
            raise ArchiveError(NO_ROWS)
        self.width = max(core.max_index + 1, len(first[1]))
        columns = ", ".join(f'"c{i}" text' for i in range(self.width))
        self.sql(
            f'CREATE UNLOGGED TABLE "{self.stage}" '
            f"(line bigint GENERATED BY DEFAULT AS IDENTITY (START WITH {int(core.header_lines) + 1}), {columns})"
        )
        loaded = False
        if self._fast_path_possible(len(first[1])):
            try:
                with transaction.atomic():
                    self._copy_fast()
                loaded = True
            except (DatabaseError, psycopg.Error) as exc:  # ragged or irregular: the tolerant reader takes over
                logger.info("import %s: COPY fast path refused (%s); reading in Python", self.batch.pk, exc)
        if not loaded:
            self.sql(f'TRUNCATE "{self.stage}"')
            self._copy_python()
        self.sql(f'ANALYZE "{self.stage}"')  # fresh statistics: hash joins, not a million index probes
        total = self.fetch(f'SELECT count(*) FROM "{self.stage}"')[0][0] + len({e[0] for e in self.python_errors})
        if total == 0:
            raise ArchiveError(NO_ROWS)
        self.lease.set(self.batch, rows_total=total)

    def _fast_path_possible(self, first_width: int) -> bool:
        core, fmt = self.archive.core, self.archive.core_format
        return (
            fmt.encoding == "utf-8" and core.terminator == "\n" and len(core.delimiter) == 1
            and core.quote in ('"', "") and first_width == self.width and not fmt.has_soh
            and core.delimiter not in ("\x01", "\n", "\r")
        )

    def _copy_fast(self) -> None:
        """PostgreSQL parses the bytes: the fastest load, used when the file is regular."""
        core, fmt = self.archive.core, self.archive.core_format
        quote = core.quote or "\x01"  # no enclosure declared: a byte the scan found absent
        statement = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, DELIMITER {}, QUOTE {}, ESCAPE {})").format(
            _q(self.stage), psql.SQL(", ").join(_q(f"c{i}") for i in range(self.width)),
            psql.Literal(core.delimiter), psql.Literal(quote), psql.Literal(quote),
        )
        skip = core.header_lines
        with connection.cursor() as cursor, self.archive.source.open(self.archive.core_name) as handle:
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

    def _copy_python(self) -> None:
        core = self.archive.core
        short = 0
        header_left = core.header_lines
        statement = psql.SQL("COPY {} (line, {}) FROM STDIN").format(
            _q(self.stage), psql.SQL(", ").join(_q(f"c{i}") for i in range(self.width))
        )
        with connection.cursor() as cursor:
            with cursor.copy(statement.as_string(cursor.connection)) as copy:
                for line, values in self.archive.core_records():
                    if header_left:
                        header_left -= 1
                        continue
                    if len(values) < self.width:
                        short += 1
                        values = values + [""] * (self.width - len(values))
                    elif len(values) > self.width:
                        if any(v.strip() for v in values[self.width:]):
                            self.python_errors.append((
                                line, "", f"{len(values)} values",
                                f"This row has {len(values)} values but the file declares {self.width} columns "
                                "(a stray field separator?); the row was not imported.",
                            ))
                            continue
                        values = values[: self.width]
                    copy.write_row((line, *values))
        if short:
            self.warnings.append(
                f"{short} row(s) have fewer columns than meta.xml or the header declares ({self.width}); "
                "the missing values were read as empty."
            )
        declared_past_end = [
            f.canonical or f.term for f in core.fields if f.index is not None and f.index >= self.width
        ]
        if declared_past_end:
            self.warnings.append(
                f"meta.xml maps {', '.join(declared_past_end)} to columns the data file does not have; read as empty."
            )

    # -- value maps: DISTINCT values read in Python, joined back in SQL
    def prepare(self) -> None:
        self.sql(
            f'CREATE UNLOGGED TABLE "{self.maps}" (term text, raw text, value text, start_date date, end_date date, '
            "year int, month int, day int, error text, java boolean DEFAULT false, time text, changed boolean DEFAULT false)"
        )
        today = timezone.localdate()
        rows = []
        for term in ("eventDate", "basisOfRecord", "license"):
            if term not in self.columns:
                continue
            raws = [raw for (raw,) in self.fetch(
                f"SELECT DISTINCT {self.raw(term)} FROM \"{self.stage}\" s WHERE {self.raw(term)} IS NOT NULL")]
            if term == "eventDate":
                rows += self._event_dates_read(raws, today=today)
                continue
            for raw in raws:
                value, error = (basis_of_record_read if term == "basisOfRecord" else license_read)(raw)
                rows.append((term, raw, value, None, None, None, None, None, error, False, None, False))
        if "year" in self.columns:  # eventDate derived from year/month/day where the row has none
            empty = f"{self.raw('eventDate')} IS NULL" if "eventDate" in self.columns else "true"
            parts = self.fetch(
                f"SELECT DISTINCT {self.raw('year')}, {self.raw('month')}, {self.raw('day')} FROM \"{self.stage}\" s "
                f"WHERE {empty} AND {self.raw('year')} IS NOT NULL"
            )
            for year, month, day in parts:
                reading = event_date_from_parts(year, month, day, today=today)
                rows.append(("ymd", YMD_KEY_SEPARATOR.join(p or "" for p in (year, month, day)), reading.text or None,
                             reading.start, reading.end, reading.year, reading.month, reading.day, reading.error,
                             False, None, False))
        with connection.cursor() as cursor:
            with cursor.copy(f'COPY "{self.maps}" FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        self.sql(f'CREATE INDEX ON "{self.maps}" (term, raw)')
        self._rewritten_dates_warn()
        if self.media_files:
            with self.phase("media"):
                self.media_load()
        with transaction.atomic():  # room for the hash joins of a million rows, this statement only
            self.sql("SET LOCAL work_mem = '256MB'")
            self.sql("SET LOCAL jit = off")  # see write()
            self._build_rows()

    def media_load(self) -> None:
        """Multimedia extension rows (GBIF Simple Multimedia, Audubon Core) → one JSON item each,
        keyed by core id; nothing is fetched. Refused addresses are reported and left out."""
        self.sql(f'CREATE UNLOGGED TABLE "{self.media}" (core_id text, file int, line int, item jsonb)')
        with connection.cursor() as cursor, cursor.copy(f'COPY "{self.media}" FROM STDIN') as copy:
            for number, (spec, name) in enumerate(self.media_files):
                # accessURI (the file itself) last, so it wins over an identifier that names the media
                columns = sorted(((f.index, media_term(f.term), f.term) for f in spec.fields
                                  if f.index is not None and media_term(f.term)),
                                 key=lambda c: term_local_name(c[2]).lower() == "accessuri")
                defaults = {media_term(f.term): f.default for f in spec.fields if f.default and media_term(f.term)}
                url_term = next((term_local_name(t) for _, key, t in reversed(columns) if key == "url"), "identifier")
                header_left = spec.header_lines
                try:
                    for line, values in self.archive.extension_records(spec, name):
                        if header_left:
                            header_left -= 1
                            continue
                        row = dict(defaults)
                        for index, key, _ in columns:
                            value = values[index].strip() if index < len(values) else ""
                            if value:
                                row[key] = value
                        item, refusal, url = media_item_read(row)
                        if refusal:
                            self.media_warnings.append((line, f"{name}: {url_term}"[:120], url, refusal))
                            continue
                        core_id = values[spec.id_index].strip() if spec.id_index < len(values) else ""
                        copy.write_row((core_id, number, line, json.dumps(item)))
                except ArchiveError as exc:
                    self.warnings.append(f"Extension {name} could not be read: {exc}")

    def _event_dates_read(self, raws: list[str], *, today) -> list[tuple]:
        """The map rows of a file's distinct eventDate values, slash dates read in the file's order."""
        slash = slash_order_detect(raws, chosen=self.batch.date_order)
        if slash.note:
            self.warnings.append(f"eventDate: {slash.note}")
        rows = []
        for raw in raws:
            reading = event_date_read(raw, today=today, order=slash.order)
            rows.append(("eventDate", raw, reading.text or None, reading.start, reading.end, reading.year,
                         reading.month, reading.day, reading.error, reading.java, reading.time or None, reading.changed))
        return rows

    def _rewritten_dates_warn(self) -> None:
        """One warning per kind of rewritten eventDate, with an example and the rows it touched."""
        if "eventDate" not in self.columns:
            return
        for java in (True, False):
            found = self.fetch(
                f"SELECT m.raw, m.value, count(*) OVER () FROM \"{self.stage}\" s JOIN \"{self.maps}\" m "
                f"ON m.term = 'eventDate' AND m.raw = {self.raw('eventDate')} AND m.changed AND m.java = %s LIMIT 1",
                [java],
            )
            if not found:
                continue
            raw, iso, count = found[0]
            if java:
                self.java_rows = count
                self.warnings.append(
                    f"eventDate: {count} value(s) were Java date strings (e.g. '{raw}') and were read as "
                    f"ISO dates (e.g. {iso}); the original text is kept in verbatimEventDate."
                )
            else:
                self.warnings.append(
                    f"eventDate: {count} value(s) were written in another form (e.g. '{raw}') and were stored in ISO "
                    "8601 (times other than midnight go to eventTime); the original text is kept in verbatimEventDate."
                )

    def _build_rows(self) -> None:
        """One typed, matched row per staged row; values stay NULL where the text is invalid."""
        # The inner query trims each used column once (PostgreSQL would repeat the expression at
        # every use) and draws the id a new row will get: the links then need no join back
        # through the uuid index.
        used = sorted({self.columns[t] for t in self.columns} | ({self.archive.core.id_index} if self.media_files else set()))
        inner = ", ".join(f"NULLIF(btrim(\"c{i}\"), '') AS \"t{i}\"" for i in used)
        source = (f'(SELECT line, nextval({_literal(self._sequence())}::regclass) AS new_id, {inner} '
                  f'FROM "{self.stage}" OFFSET 0) s')

        def raw(term: str) -> str:
            return f's."t{self.columns[term]}"' if term in self.columns else "NULL::text"

        select = ["s.line", "s.new_id"]
        for field in IMPORT_FIELDS:
            term, name = field.term, field.name
            value = raw(term)
            if term not in self.columns and term != "catalogNumber":
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
        if self.has_dates:
            # eventDate as read (md), else as derived from year/month/day (my): one of them per row.
            maps = [m for m, term in (("md", "eventDate"), ("my", "year")) if term in self.columns]

            def either(column: str) -> str:
                return f"coalesce({', '.join(f'{m}.{column}' for m in maps)})" if len(maps) > 1 else f"{maps[0]}.{column}"

            select += [
                f"{raw('eventDate')} AS event_date__raw", f"{either('value')} AS event_date",
                f"{either('start_date')} AS event_date_start", f"{either('end_date')} AS event_date_end",
                f"{either('year')} AS event_year", f"{either('month')} AS event_month", f"{either('day')} AS event_day",
            ]
            if "eventDate" in self.columns:
                select += ["md.error AS event_date__error", "md.java AS event_date__java", "md.time AS event_date_time",
                           "md.changed AS event_date__changed"]
            if "year" in self.columns:
                select += [f"concat_ws('-', {raw('year')}, {raw('month')}, {raw('day')}) AS ymd__raw", "my.error AS ymd__warning"]
        if "basisOfRecord" in self.columns:
            select += [f"{raw('basisOfRecord')} AS basis_of_record__raw", "mb.value AS basis_of_record",
                       "mb.error AS basis_of_record__error"]
        if "license" in self.columns:
            select += [f"{raw('license')} AS license__raw", "ml.value AS license", "ml.error AS license__error"]
        taxon_parts = [f"coalesce({raw(t)}, '')" for t in TAXON_TERMS]
        select.append(f"concat_ws(chr(31), {', '.join(taxon_parts)}) AS taxon_key")
        occurrence = raw("occurrenceID")
        select += [
            f"{occurrence} AS occurrence_id__raw",
            f"CASE WHEN {occurrence} ~* '^(https?://|urn:|doi:)[^[:space:]]+$' THEN {occurrence} END AS occurrence_uri",
            "coalesce(ec.id, CASE WHEN eo.collection_id = %(collection)s THEN eo.id END) AS match_id",
            "(eo.id IS NOT NULL AND (eo.collection_id <> %(collection)s OR eo.id <> coalesce(ec.id, eo.id))) AS occurrence_taken",
            f"{uuid7_sql('s.new_id')} AS uuid",
        ]
        if self.media_files:
            select.append(f's."t{self.archive.core.id_index}" AS core_id')
        joins = []
        if "eventDate" in self.columns:
            joins.append(f"LEFT JOIN \"{self.maps}\" md ON md.term = 'eventDate' AND md.raw = {raw('eventDate')}")
        if "year" in self.columns:
            key = ", ".join(f"coalesce({raw(t)}, '')" for t in ("year", "month", "day"))
            joins.append(f"LEFT JOIN \"{self.maps}\" my ON my.term = 'ymd' AND my.raw = concat_ws(chr(31), {key}) "
                         f"AND {raw('eventDate')} IS NULL")
        if "basisOfRecord" in self.columns:
            joins.append(f"LEFT JOIN \"{self.maps}\" mb ON mb.term = 'basisOfRecord' AND mb.raw = {raw('basisOfRecord')}")
        if "license" in self.columns:
            joins.append(f"LEFT JOIN \"{self.maps}\" ml ON ml.term = 'license' AND ml.raw = {raw('license')}")
        joins.append(
            "LEFT JOIN specimens_specimen ec ON ec.collection_id = %(collection)s "
            f"AND ec.catalog_number = {raw('catalogNumber')}"
        )
        joins.append(f"LEFT JOIN specimens_specimen eo ON eo.occurrence_id = {occurrence}")
        self.sql(
            f'CREATE UNLOGGED TABLE "{self.rows}" AS SELECT {", ".join(select)} FROM {source} {" ".join(joins)}',
            {"collection": self.collection.pk},
        )
        if self.media_files:  # each row's media links, in file order
            self.sql(f'ALTER TABLE "{self.rows}" ADD COLUMN external_media jsonb')
            self.sql(
                f'UPDATE "{self.rows}" r SET external_media = m.items FROM (SELECT core_id, jsonb_agg(item ORDER BY file, line) '
                f'AS items FROM "{self.media}" GROUP BY core_id) m WHERE m.core_id = r.core_id'
            )
        self.sql(f'ANALYZE "{self.rows}"')

    def _sequence(self) -> str:
        return self.fetch("SELECT pg_get_serial_sequence('specimens_specimen', 'id')")[0][0]

    # -- checks, all set-based
    def validate(self) -> None:
        checks: list[tuple[str, str, str, str]] = []  # term, value expression, condition, message
        warnings: list[tuple[str, str, str, str]] = []  # the same, for values dropped from kept rows
        present = set(self.columns)
        for field in IMPORT_FIELDS:
            term, name = field.term, field.name
            if term not in present:
                continue
            column = f'r."{name}"'
            if field.kind == "text" and field.max_length:
                checks.append((term, column, f"length({column}) > {field.max_length}",
                               f"{term} is longer than {field.max_length} characters."))
            if field.kind in ("float", "decimal", "int"):
                raw = f'r."{name}__raw"'
                what = "a whole number" if field.kind == "int" else "a number"
                if field.soft:
                    rule = f" between {field.low:g} and {field.high:g}" if field.low is not None else ""
                    warnings.append((term, raw, f"{raw} IS NOT NULL AND {column} IS NULL",
                                     f"{term} must be {what}{rule}; the value was left out and the row imported."))
                    continue
                checks.append((term, raw, f"{raw} IS NOT NULL AND {column} IS NULL", f"{term} must be {what}."))
                if field.low is not None:
                    checks.append((term, raw, f"{column} NOT BETWEEN {field.low} AND {field.high}",
                                   f"{term} must be between {field.low:g} and {field.high:g}."))
        if "countryCode" in present:
            checks.append(("countryCode", 'r."country_code"', "r.country_code !~ '^[A-Z]{2}$'",
                           "countryCode must be a two-letter ISO 3166 code, e.g. GB."))
        checks.append(("catalogNumber", "NULL", "r.catalog_number IS NULL",
                       "catalogNumber is empty; every specimen needs a catalogue number."))
        if "decimalLatitude" in present or "decimalLongitude" in present:
            lat = 'r."decimal_latitude__raw"' if "decimalLatitude" in present else "NULL"
            lon = 'r."decimal_longitude__raw"' if "decimalLongitude" in present else "NULL"
            checks.append(("decimalLatitude", f"concat_ws(', ', {lat}, {lon})", f"({lat} IS NULL) <> ({lon} IS NULL)",
                           "Give both decimalLatitude and decimalLongitude, or neither."))
        for term, prefix in (("eventDate", "event_date"), ("basisOfRecord", "basis_of_record"), ("license", "license")):
            if term in present:
                checks.append((term, f"r.{prefix}__raw", f"r.{prefix}__error IS NOT NULL", f"r.{prefix}__error"))
        if "year" in present:
            warnings.append(("year", "r.ymd__raw", "r.ymd__warning IS NOT NULL", "r.ymd__warning"))
        if self.batch.publish and "scientificName" in present:
            warnings.append(("scientificName", "NULL", "r.scientific_name IS NULL", IMPORT_PUBLISH_KEPT_DRAFT))
        if self.event_file:  # a sampling-event archive also holds observations: only specimens are imported
            kinds = ", ".join(f"'{k}'" for k in SPECIMEN_KINDS)
            if "basisOfRecord" in present:
                checks.append(("basisOfRecord", "r.basis_of_record__raw",
                               f"r.basis_of_record__error IS NULL AND coalesce(r.basis_of_record NOT IN ({kinds}), true)",
                               NOT_A_SPECIMEN.format(kinds=", ".join(SPECIMEN_KINDS))))
            else:
                checks.append(("basisOfRecord", "NULL", "true", NOT_A_SPECIMEN.format(kinds=", ".join(SPECIMEN_KINDS))))
        checks.append(("occurrenceID", "r.occurrence_id__raw", "r.occurrence_taken",
                       "This occurrenceID already belongs to another specimen (in this or another collection)."))
        values = ",\n".join(
            f"('{severity}', '{term}', ({value})::text, CASE WHEN {condition} THEN "
            f"{message if message.startswith('r.') else quote_literal(message)} END)"
            for severity, group in (("error", checks), ("warning", warnings))
            for term, value, condition, message in group
        )
        self.sql(
            f'INSERT INTO "specimens_importrowerror" (batch_id, severity, line, "column", value, message) '
            f"SELECT %s, e.severity, r.line, e.term, coalesce(e.value, ''), e.message FROM \"{self.rows}\" r "
            f"CROSS JOIN LATERAL (VALUES {values}) AS e(severity, term, value, message) "
            f"WHERE ({' OR '.join(f'coalesce({c[2]}, false)' for c in checks + warnings)}) AND e.message IS NOT NULL",
            [self.batch.pk],
        )
        # Duplicates inside the file: the first row wins, later ones are reported.
        for term, key in (("catalogNumber", "catalog_number"), ("occurrenceID", "occurrence_uri"), ("occurrenceID", "match_id")):
            if key != "catalog_number" and "occurrenceID" not in present:
                continue
            message = (
                f"'{term} ' || r.{key}::text || ' also appears on line ' || d.first_line || '; only the first row is imported.'"
                if key != "match_id" else
                "'This row matches the same existing specimen as line ' || d.first_line || '; only the first row is imported.'"
            )
            self.sql(
                f'INSERT INTO "specimens_importrowerror" (batch_id, severity, line, "column", value, message) '
                f"SELECT %s, 'error', r.line, '{term}', coalesce(r.{key}::text, ''), {message} FROM \"{self.rows}\" r JOIN "
                f"(SELECT {key} AS k, min(line) AS first_line FROM \"{self.rows}\" WHERE {key} IS NOT NULL "
                f"GROUP BY {key} HAVING count(*) > 1) d ON d.k = r.{key} AND r.line > d.first_line",
                [self.batch.pk],
            )
        if self.python_errors:
            ImportRowError.objects.bulk_create(
                [ImportRowError(batch=self.batch, line=line, column=column, value=value, message=message)
                 for line, column, value, message in self.python_errors],
                batch_size=5000,
            )
        self.states_check()
        self.sql(
            f'CREATE UNLOGGED TABLE "{self.rows}_bad" AS SELECT DISTINCT line FROM specimens_importrowerror '
            "WHERE batch_id = %s AND severity = 'error'",
            [self.batch.pk],
        )
        self.sql(f'DELETE FROM "{self.rows}" r USING "{self.rows}_bad" b WHERE b.line = r.line')
        self.sql(f'DROP TABLE "{self.rows}_bad"')

    def states_refused(self) -> list[str]:
        """The record states the uploader may not change in this collection: the rule the form and
        the API apply (specimens.selectors.specimen_states_editable); a digitiser changes drafts only."""
        user = self.batch.created_by
        if user is None:  # run by an operator from the command line: no role to limit it
            return []
        editable = specimen_states_editable(user=user, institution_id=self.collection.institution_id)
        return [status for status in Specimen.Status.values if status not in editable]

    def states_check(self, *, lock: bool = False) -> None:
        """Rows matching a record the uploader may not change in its state are rejected, each with
        the reason; the rest of the file imports. With `lock` (in the write transaction), the matched
        records are locked first, so none is published or sent for review between check and write."""
        refused = self.states_refused()
        if not refused:
            return
        if lock:
            self.fetch(
                "SELECT count(*) FROM (SELECT 1 FROM specimens_specimen t WHERE t.id IN "
                f'(SELECT match_id FROM "{self.rows}" WHERE match_id IS NOT NULL) FOR NO KEY UPDATE OF t) l'
            )
        self.sql(
            'INSERT INTO "specimens_importrowerror" (batch_id, severity, line, "column", value, message) '
            f"SELECT %s, 'error', r.line, 'catalogNumber', coalesce(r.catalog_number, ''), m.message FROM \"{self.rows}\" r "
            "JOIN specimens_specimen t ON t.id = r.match_id "
            "JOIN unnest(%s::text[], %s::text[]) AS m(status, message) ON m.status = t.status",
            [self.batch.pk, refused, [specimen_state_refusal(status=status) for status in refused]],
        )
        if lock:  # validate() drops its rejected rows itself
            self.sql(
                f'DELETE FROM "{self.rows}" r USING specimens_specimen t WHERE t.id = r.match_id AND t.status = ANY(%s)',
                [refused],
            )

    def check_extensions(self) -> None:
        """Extension rows whose coreid points at no core row are reported (they are not imported)."""
        core = self.archive.core
        if core.id_index is None or not self.archive.extensions:
            return
        core_ids = None
        for spec, name in self.archive.extensions:
            if name is None or spec.id_index is None:
                continue
            if core_ids is None:
                core_ids = {v for (v,) in self.fetch(f'SELECT btrim(s."c{core.id_index}") FROM "{self.stage}" s')}
            try:
                header_left = spec.header_lines
                for line, values in self.archive.extension_records(spec, name):
                    if header_left:
                        header_left -= 1
                        continue
                    value = values[spec.id_index].strip() if spec.id_index < len(values) else ""
                    if value not in core_ids:
                        self.extension_errors.append((
                            line, f"{name}: coreid", value,
                            f"{name} line {line} refers to core id '{value}', which is not in the core file; "
                            "this extension row was not imported.",
                        ))
            except ArchiveError as exc:
                self.warnings.append(f"Extension {name} could not be read: {exc}")

    def write_extension_errors(self) -> None:
        problems = [(ImportRowError.Severity.ERROR, *e) for e in self.extension_errors]
        problems += [(ImportRowError.Severity.WARNING, *w) for w in self.media_warnings]
        if problems:
            ImportRowError.objects.bulk_create(
                [ImportRowError(batch=self.batch, severity=severity, line=line, column=column[:120], value=value,
                                message=message)
                 for severity, line, column, value, message in problems],
                batch_size=5000,
            )

    # -- counts
    def _compare_columns(self) -> list[str]:
        names = []
        for field in IMPORT_FIELDS:
            if field.term in self.columns and field.name != "occurrence_id":
                names.append(field.name)
        if "eventDate" in self.columns:
            names += ["event_date_start", "event_date_end"]
        if "scientificName" in self.columns:
            names.append("taxon_id")
        return names

    def count(self, *, after_write: bool = False) -> dict[str, int]:
        rejected = self.fetch(
            "SELECT count(DISTINCT line) FROM specimens_importrowerror WHERE batch_id = %s AND severity = 'error' "
            "AND \"column\" NOT LIKE '%%: coreid'",
            [self.batch.pk],
        )[0][0]
        rejected += len(self.extension_errors)
        if after_write:
            return {"inserted_count": self.inserted, "updated_count": self.updated,
                    "unchanged_count": self.matched - self.updated, "rejected_count": rejected}
        new, matched = self.fetch(
            f'SELECT count(*) FILTER (WHERE match_id IS NULL), count(match_id) FROM "{self.rows}"'
        )[0]
        changed = 0
        if matched:
            assignments = self._assignments(taxon=False)
            left = ", ".join(f't."{a}"' for a, _ in assignments)
            right = ", ".join(expr for _, expr in assignments)
            changed = self.fetch(
                f'SELECT count(*) FROM "{self.rows}" r JOIN specimens_specimen t ON t.id = r.match_id '
                f"WHERE ({left}, '') IS DISTINCT FROM ({right}, '')"
            )[0][0]
        return {"inserted_count": new, "updated_count": changed, "unchanged_count": matched - changed,
                "rejected_count": rejected}

    # -- values written
    def _assignments(self, *, taxon: bool) -> list[tuple[str, str]]:
        """(Specimen column, SQL value from r) for every column the file carries."""
        result = []
        for field in IMPORT_FIELDS:
            term, name = field.term, field.name
            if term not in self.columns and term != "catalogNumber":
                continue
            if name == "occurrence_id":
                continue  # never changed on an existing record
            if field.kind == "text":
                result.append((name, f"coalesce(r.\"{name}\", '')"))
            elif field.kind == "decimal":
                result.append((name, f"round(r.\"{name}\", {Specimen._meta.get_field(name).decimal_places})"))
            elif field.kind == "mapped":
                if name == "event_date":
                    continue  # with the other date columns, below
                elif name == "basis_of_record":
                    result.append((name, f"coalesce(r.basis_of_record, '{Specimen._meta.get_field(name).default}')"))
                else:
                    result.append((name, f"coalesce(r.license, {_literal(self.collection.default_license)})"))
            else:
                result.append((name, f'r."{name}"'))
        result.append(("catalog_number_normalised", CATALOG_NORMALISED_SQL))
        if self.has_dates:
            dated = self._date_assignments()
            names = {name for name, _ in dated}
            result = [(name, value) for name, value in result if name not in names] + dated
        if self.media_files:  # the file's media links replace those an earlier import brought
            result.append(("external_media", EXTERNAL_MEDIA_SQL))
        if taxon or "scientificName" in self.columns:
            result.append(("taxon_id", "tx.taxon_id" if taxon else "t.taxon_id"))
        return result

    def _date_assignments(self) -> list[tuple[str, str]]:
        """eventDate, its range, year/month/day, eventTime and verbatimEventDate, read together.

        An eventDate the file holds fills year, month and day (the columns count only without it);
        without one, year/month/day give the eventDate and its range. A value stored in another
        form than the file's (Java dates, timestamps, slash dates) keeps the file's text in
        verbatimEventDate unless the file fills that itself; a time other than midnight goes to
        eventTime unless the file has an eventTime.
        """
        result = [("event_date", "coalesce(r.event_date, '')"), ("event_date_start", "r.event_date_start"),
                  ("event_date_end", "r.event_date_end")]
        for part in ("year", "month", "day"):
            own = f'r."{part}"' if part in self.columns else "NULL::int"
            result.append((part, f"coalesce(r.event_{part}, CASE WHEN r.event_date IS NULL THEN {own} END)"))
        verbatim = "r.verbatim_event_date" if "verbatimEventDate" in self.columns else "NULL::text"
        own_time = "r.event_time" if "eventTime" in self.columns else "NULL::text"
        if "eventDate" in self.columns:
            result.append(("verbatim_event_date", f"coalesce({verbatim}, CASE WHEN r.event_date__changed THEN r.event_date__raw END, '')"))
            result.append(("event_time", f"coalesce({own_time}, r.event_date_time, '')"))
        return result

    # -- the write transaction
    def _history_context(self) -> dict:
        return {"user": getattr(self.batch.created_by, "pk", None), "source": "import",
                "import_batch": str(self.batch.uuid), "action": "specimen_import"}

    def shared_rows_ensure(self) -> None:
        """Taxa and agents the rows name, found or created in a short transaction of their own.

        They are shared by every collection, so their creation is serialised between imports (a
        name two imports both lack is created once); committing them here keeps that lock brief
        and lets the long write below run beside other collections' imports. Should the write
        fail, the names stay: real names, as a later import would create them.
        """
        with pghistory.context(**self._history_context()):
            # pghistory attaches the context to the next statement that is not a SELECT, CREATE or
            # COPY: this first one, so the taxa and agents created below carry it.
            self.sql("SET CONSTRAINTS ALL IMMEDIATE")
            self.sql("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            with self.phase("taxa"):
                self._taxa_ensure()
            with self.phase("agents"):
                self._agents_ensure()

    def write(self) -> None:
        with pghistory.context(**self._history_context()):
            # Foreign keys are DEFERRABLE INITIALLY DEFERRED (Django's default): a million-row INSERT
            # would queue millions of checks for COMMIT. Checked per statement instead.
            self.sql("SET CONSTRAINTS ALL IMMEDIATE")
            # A crash before the WAL reaches the disk loses this import (reported as failed, run again),
            # never consistency: the transaction commits or not as a whole.
            self.sql("SET LOCAL synchronous_commit = off")
            self.sql("SET LOCAL work_mem = '256MB'")
            # JIT compiles the wide expression lists of these statements anew each time (≈ 1 s apiece
            # at a million rows, more than it saves on row-at-a-time INSERT work).
            self.sql("SET LOCAL jit = off")
            collection_write_lock(self.collection.pk)
            self.states_check(lock=True)  # a record published or sent for review since validate()
            with self.phase("update"):
                self._update()
                self._published_names_make_public()
            # Row insert events skipped (see specimens.models.BULK_IMPORT_SETTING): written set-based
            # below instead, one INSERT … SELECT of every new record's version 1.
            self.sql("SELECT set_config(%s, 'on', true)", [BULK_IMPORT_SETTING])
            set_based = self._references_lock()
            with self.phase("insert"):
                self._insert()  # with each new record's insert event
            with self.phase("links"):
                self._links()
            if set_based:
                self.sql("SELECT set_config('session_replication_role', 'origin', true)")
            self.sql("SELECT set_config(%s, 'off', true)", [BULK_IMPORT_SETTING])
            if self.batch.publish:
                with self.phase("publish"):
                    self._publish()

    def _references_lock(self) -> bool:
        """Referential integrity of the new rows checked set-based, when the role may do so.

        The foreign keys' triggers check each new row on its own (≈ 5 µs a key, four keys a specimen
        and two a link). Here every referenced row — collection, institution, batch, user, the
        batch's taxa and agents — is locked FOR KEY SHARE in one statement per table, exactly the
        lock those checks take, and counted; then session_replication_role = replica skips the
        per-row triggers for the INSERTs (new specimen ids are drawn from the sequence, so the
        links can only point at rows this transaction inserts). Needs the SET privilege on the
        parameter (superuser, or GRANT SET ON PARAMETER session_replication_role); otherwise the
        triggers check as usual.
        """
        if not self.fetch("SELECT has_parameter_privilege('session_replication_role', 'SET')")[0][0]:
            return False
        user_id = getattr(self.batch.created_by, "pk", None)
        checks = [
            ("institutions_collection", "SELECT %s::bigint", [self.collection.pk]),
            ("institutions_institution", "SELECT %s::bigint", [self.collection.institution_id]),
            ("specimens_importbatch", "SELECT %s::bigint", [self.batch.pk]),
            ("specimens_taxon", f'SELECT DISTINCT taxon_id FROM "{self.taxa}" WHERE taxon_id IS NOT NULL', None),
            ("specimens_agent", f'SELECT DISTINCT agent_id FROM "{self.agents}"', None),
        ]
        if user_id is not None:
            checks.append(("auth_user", "SELECT %s::bigint", [user_id]))
        for table, ids, params in checks:
            wanted, found = self.fetch(
                f"WITH wanted AS ({ids}) SELECT (SELECT count(*) FROM wanted), "
                f"(SELECT count(*) FROM (SELECT 1 FROM {table} x WHERE x.id IN (SELECT * FROM wanted) FOR KEY SHARE OF x) l)",
                params,
            )[0]
            if wanted != found:
                raise DatabaseError(f"{table}: {wanted - found} referenced row(s) vanished during the import")
        self.sql("SELECT set_config('session_replication_role', 'replica', true)")
        return True

    def _taxa_ensure(self) -> None:
        self.sql(f'CREATE UNLOGGED TABLE "{self.taxa}" (taxon_key text PRIMARY KEY, taxon_id bigint)')
        if "scientificName" not in self.columns and "genus" not in self.columns:
            return
        keys = [k for (k,) in self.fetch(f'SELECT DISTINCT taxon_key FROM "{self.rows}"')]
        paths = {}
        for key in keys:
            values = dict(zip(TAXON_TERMS, key.split("\x1f")))
            path = taxon_path_for(values)
            if path:
                paths[key] = path
        resolved = taxa_ensure_paths(list(paths.values()))
        with connection.cursor() as cursor:
            with cursor.copy(f'COPY "{self.taxa}" (taxon_key, taxon_id) FROM STDIN') as copy:
                for key, path in paths.items():
                    copy.write_row((key, resolved[tuple(path)]))

    def _agent_roles(self) -> list[tuple[str, str]]:
        """(staging column, SpecimenAgent role) for the name lists this file carries."""
        return [(column, role) for term, column, role in AGENT_ROLES if term in self.columns]

    def _agents_ensure(self) -> None:
        self.sql(f'CREATE UNLOGGED TABLE "{self.agents}" (name text PRIMARY KEY, agent_id bigint)')
        roles = self._agent_roles()
        if not roles:
            return
        union = " UNION ALL ".join(
            f"SELECT btrim(n.name) AS name, ARRAY[r.line, {k}, n.ord] AS place FROM \"{self.rows}\" r, "
            f"regexp_split_to_table(r.{column}, %s) WITH ORDINALITY AS n(name, ord) WHERE r.{column} IS NOT NULL"
            for k, (column, _) in enumerate(roles)
        )
        # In order of first appearance (line, collectors before determiners, position in the list):
        # a new agent takes the spelling the file uses first.
        names = [n for (n,) in self.fetch(f"SELECT name FROM ({union}) u GROUP BY name ORDER BY min(place)",
                                          [AGENT_SPLIT] * len(roles)) if n and len(n) <= 255]
        mapping = agents_ensure(names)
        with connection.cursor() as cursor:
            with cursor.copy(f'COPY "{self.agents}" (name, agent_id) FROM STDIN') as copy:
                for name, agent_id in mapping.items():
                    copy.write_row((name, agent_id))

    def _agent_links_insert(self, *, source: str, id_column: str, column: str, role: str, where: str = "true") -> None:
        """Ordered links of one role for the rows of `source` (aliased r), in key order so the
        (specimen, agent, role) index fills at its right edge, page by page."""
        self.sql(
            "INSERT INTO specimens_specimenagent (specimen_id, agent_id, role, \"order\") "
            f"SELECT {id_column}, a.agent_id, %s, min(n.ord) - 1 FROM {source} "
            f"CROSS JOIN LATERAL regexp_split_to_table(r.{column}, %s) WITH ORDINALITY AS n(name, ord) "
            f'JOIN "{self.agents}" a ON a.name = btrim(n.name) '
            f"WHERE {where} AND r.{column} IS NOT NULL GROUP BY {id_column}, a.agent_id ORDER BY {id_column}, a.agent_id",
            [role, AGENT_SPLIT],
        )

    def _update(self) -> None:
        if not self.fetch(f'SELECT EXISTS (SELECT 1 FROM "{self.rows}" WHERE match_id IS NOT NULL)')[0][0]:
            self.updated = self.matched = 0  # nothing in the file exists yet: no joins over a million rows
            return
        assignments = self._assignments(taxon=True)
        if "scientificName" not in self.columns:
            assignments = [(n, e) for n, e in assignments if n != "taxon_id"]
        compare_left = ", ".join(f't."{n}"' for n, _ in assignments)
        compare_right = ", ".join(e for _, e in assignments)
        identification = ("scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status")
        changed_name = [n for n in identification if n in {a for a, _ in assignments}]
        self.sql(f'CREATE UNLOGGED TABLE "{self.rows}_renamed" (id bigint)')
        if changed_name:
            left = ", ".join(f't."{n}"' for n in changed_name)
            right = ", ".join(e for n, e in assignments if n in changed_name)
            self.sql(
                f'INSERT INTO "{self.rows}_renamed" SELECT t.id FROM "{self.rows}" r JOIN specimens_specimen t ON t.id = r.match_id '
                f'LEFT JOIN "{self.taxa}" tx ON tx.taxon_key = r.taxon_key WHERE ({left}, \'\') IS DISTINCT FROM ({right}, \'\')'
            )
        sets = ", ".join(f'"{n}" = {e}' for n, e in assignments)
        if self.media_files:  # our own images and the file's links, counted together
            sets += f", media_count = jsonb_array_length(t.media) + jsonb_array_length({EXTERNAL_MEDIA_SQL})"
        self.updated = self.sql(
            f"UPDATE specimens_specimen t SET {sets}, version = t.version + 1, updated_at = now(), import_batch_id = %s "
            f'FROM "{self.rows}" r LEFT JOIN "{self.taxa}" tx ON tx.taxon_key = r.taxon_key '
            f"WHERE t.id = r.match_id AND ({compare_left}, '') IS DISTINCT FROM ({compare_right}, '')",
            [self.batch.pk],
        )
        self.matched = self.fetch(f'SELECT count(match_id) FROM "{self.rows}"')[0][0]
        # A changed determination becomes the current Identification; earlier ones stay.
        self.sql(
            f'UPDATE specimens_identification i SET is_current = false, updated_at = now() FROM "{self.rows}_renamed" n '
            "WHERE i.specimen_id = n.id AND i.is_current"
        )
        self.sql(
            f"{IDENTIFICATION_INSERT} SELECT {uuid7_sql('t.id')}, now(), now(), t.id, t.taxon_id, t.scientific_name, t.identified_by, t.date_identified, "
            f"t.identification_qualifier, t.type_status, '', true FROM \"{self.rows}_renamed\" n "
            "JOIN specimens_specimen t ON t.id = n.id WHERE t.scientific_name <> '' OR t.taxon_id IS NOT NULL"
        )
        for column, role in self._agent_roles():
            # Links of matched rows follow the file when the value changed or the row has none yet.
            relinked = f"{self.rows}_relinked"
            self.sql(
                f'CREATE UNLOGGED TABLE "{relinked}" AS SELECT t.id, r.{column} FROM "{self.rows}" r '
                "JOIN specimens_specimen t ON t.id = r.match_id "
                "WHERE NOT EXISTS (SELECT 1 FROM specimens_specimenagent l WHERE l.specimen_id = t.id AND l.role = %s) "
                "OR t.import_batch_id = %s",
                [role, self.batch.pk],
            )
            self.sql(
                f'DELETE FROM specimens_specimenagent l USING "{relinked}" c WHERE l.specimen_id = c.id AND l.role = %s',
                [role],
            )
            self._agent_links_insert(source=f'"{relinked}" r', id_column="r.id", column=column, role=role)
            self.sql(f'DROP TABLE "{relinked}"')
        self.sql(f'DROP TABLE "{self.rows}_renamed"')

    def _publish(self) -> None:
        """Publish on import: records the file matched that are drafts or in review are published
        (a recorded status change; withdrawn and published ones stay as they are), new ones were
        inserted published; all need a name. Their provisional names join the public tree."""
        if "scientificName" not in self.columns:
            self.warnings.append(IMPORT_PUBLISH_NO_NAMES)
            return
        self.sql(
            "UPDATE specimens_specimen t SET status = %s, published_at = now(), version = t.version + 1, updated_at = now() "
            f'FROM "{self.rows}" r WHERE t.id = r.match_id AND t.status IN (%s, %s) AND t.scientific_name <> \'\'',
            [Specimen.Status.PUBLISHED.value, Specimen.Status.DRAFT.value, Specimen.Status.IN_REVIEW.value],
        )
        written = (f'SELECT coalesce(r.match_id, r.new_id) FROM "{self.rows}" r')
        published = RawSQL(
            f"SELECT t.taxon_id FROM specimens_specimen t WHERE t.id IN ({written}) AND t.status = %s "
            "AND t.taxon_id IS NOT NULL", [Specimen.Status.PUBLISHED.value],
        )
        taxa_make_public(taxa=Taxon.objects.filter(pk__in=published, is_provisional=True),
                         user=self.batch.created_by, action="specimen_import")
        count = self.fetch(  # now() is the transaction's start: the records published by this write
            f"SELECT count(*) FROM specimens_specimen t WHERE t.id IN ({written}) AND t.status = %s AND t.published_at = now()",
            [Specimen.Status.PUBLISHED.value])[0][0]
        self.warnings.append(IMPORT_PUBLISHED.format(count=count))

    def _published_names_make_public(self) -> None:
        """A published record this import renamed: its name joins the public tree (as specimen_update does)."""
        if self.updated and "scientificName" in self.columns:
            published = RawSQL(
                f'SELECT t.taxon_id FROM specimens_specimen t JOIN "{self.rows}" r ON t.id = r.match_id '
                "WHERE t.status = %s AND t.taxon_id IS NOT NULL", [Specimen.Status.PUBLISHED.value],
            )
            taxa_make_public(taxa=Taxon.objects.filter(pk__in=published, is_provisional=True),
                             user=self.batch.created_by, action="specimen_import")

    def _insert(self) -> None:
        assignments = dict(self._assignments(taxon=True))
        base = f"{settings.PUBLIC_BASE_URL}/specimen/"
        user_id = getattr(self.batch.created_by, "pk", None)
        # Literals, not placeholders (the statement is assembled from SQL fragments).
        values = {
            "id": "r.new_id",
            "uuid": "r.uuid",
            "created_at": "now()",
            "updated_at": "now()",
            "collection_id": str(int(self.collection.pk)),
            "institution_id": str(int(self.collection.institution_id)),
            "created_by_id": "NULL" if user_id is None else str(int(user_id)),
            "import_batch_id": str(int(self.batch.pk)),
            # An import creates drafts, whoever runs it; with publish (a curator's or manager's choice,
            # checked by import_batch_create) the rows that have a name are published.
            "status": _literal(Specimen.Status.DRAFT.value),
            "occurrence_id": f"coalesce(r.occurrence_uri, {_literal(base)} || r.uuid::text)",
            "license": _literal(self.collection.default_license),
            "taxon_id": "tx.taxon_id",
        }
        for field in Specimen._meta.concrete_fields:
            column = field.column
            if column in values:
                continue
            if field.name in assignments:
                values[column] = assignments[field.name]
            elif column in assignments:
                values[column] = assignments[column]
            else:
                default = field.get_default()
                values[column] = "NULL" if default is None else _literal(_sql_default(default))
        if "license" in assignments:
            values["license"] = assignments["license"]
        if self.media_files:
            values["media_count"] = f"jsonb_array_length({EXTERNAL_MEDIA_SQL})"
        if self.batch.publish and "scientific_name" in assignments:
            named = f"{assignments['scientific_name']} <> ''"
            values["status"] = (f"CASE WHEN {named} THEN {_literal(Specimen.Status.PUBLISHED.value)} "
                                f"ELSE {_literal(Specimen.Status.DRAFT.value)} END")
            values["published_at"] = f"CASE WHEN {named} THEN now() END"
        columns = ", ".join(f'"{c}"' for c in values)
        insert = (f"INSERT INTO specimens_specimen ({columns}) SELECT {', '.join(values.values())} "
                  f'FROM "{self.rows}" r LEFT JOIN "{self.taxa}" tx ON tx.taxon_key = r.taxon_key WHERE r.match_id IS NULL')
        # The new rows as inserted feed their insert events (version 1), in the same statement.
        self.inserted = self.sql(psql.SQL("WITH s AS ({insert} RETURNING *) {events}").format(
            insert=psql.SQL(insert), events=specimen_events_insert(label="insert", source=psql.SQL("s"))))

    def _links(self) -> None:
        """Current identifications, ordered collectors and determiners of the rows just inserted (ids drawn up front)."""
        assignments = dict(self._assignments(taxon=True))
        if "scientificName" in self.columns:
            value = {name: assignments.get(name, "''") for name in (
                "scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status")}
            self.sql(
                f"{IDENTIFICATION_INSERT} SELECT {uuid7_sql('r.new_id')}, now(), now(), r.new_id, tx.taxon_id, {value['scientific_name']}, "
                f"{value['identified_by']}, {value['date_identified']}, {value['identification_qualifier']}, "
                f"{value['type_status']}, '', true "
                f'FROM "{self.rows}" r LEFT JOIN "{self.taxa}" tx ON tx.taxon_key = r.taxon_key '
                f"WHERE r.match_id IS NULL AND ({value['scientific_name']} <> '' OR tx.taxon_id IS NOT NULL)"
            )
        for column, role in self._agent_roles():
            self._agent_links_insert(source=f'"{self.rows}" r', id_column="r.new_id", column=column, role=role,
                                     where="r.match_id IS NULL")


# The SQL twin of specimens.services.catalog_number_normalise (upper, no spaces, no leading zeros).
CATALOG_NORMALISED_SQL = (
    "regexp_replace(upper(regexp_replace(r.catalog_number, '\\s+', '', 'g')), '(?<![0-9])0+(?=[0-9])', '', 'g')"
)


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _literal(value) -> str:
    """A quoted literal safe in a statement that also carries %s placeholders."""
    return quote_literal(value).replace("%", "%%")


def _sql_default(value):
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# --- shared rows: taxa and agents, ensured set-based ------------------------------------------

def taxa_ensure_paths(paths: list[list[tuple[str, str, str]]]) -> dict[tuple, int]:
    """Each path [(rank, name, authorship), …] → its leaf taxon id, creating missing nodes, provisional
    (a specimen import's names stay out of the public tree until a record using them is published).

    Level by level: one query finds the existing children of the level's parents, one draws ids
    for the missing ones, one COPY inserts them (paths known up front). A leaf name found exactly
    once elsewhere in the tree is matched rather than duplicated under a different parent.
    """
    result: dict[tuple, int] = {}
    leaves = {path[-1][1] for path in paths}
    found_leaf: dict[tuple[str, str], list[int]] = {}
    if leaves:
        for taxon_id, name, authorship in sql_fetch(
            "SELECT id, name, authorship FROM specimens_taxon WHERE name = ANY(%s) AND accepted_id IS NULL", [list(leaves)]
        ):
            found_leaf.setdefault((name, authorship), []).append(taxon_id)
    todo = []
    for path in paths:
        rank, name, authorship = path[-1]
        hits = found_leaf.get((name, authorship)) or ([] if authorship else None)
        if hits is None:  # no authorship given: any single accepted node of that name
            hits = [i for (n, _), ids in found_leaf.items() if n == name for i in ids]
        if len(hits) == 1:
            result[tuple(path)] = hits[0]
        else:
            todo.append(path)
    node_of: dict[tuple, tuple[int, str, int, dict]] = {}  # prefix → (id, path, depth, higher names)
    depth = 0
    while True:
        wanted = {tuple(path[: depth + 1]) for path in todo if len(path) > depth}
        if not wanted:
            break
        parent_ids = {prefix: (node_of[prefix[:-1]][0] if depth else None) for prefix in wanted}
        existing = {}
        roots = [p for p in wanted if depth == 0]
        if roots:
            rows = sql_fetch(
                "SELECT id, name, authorship, path, depth, kingdom, phylum, class_name, \"order\", family, genus "
                "FROM specimens_taxon WHERE parent_id IS NULL AND name = ANY(%s)", [list({p[-1][1] for p in roots})]
            )
            for row in rows:
                existing.setdefault((None, row[1], row[2]), row)
        else:
            rows = sql_fetch(
                "SELECT t.id, t.name, t.authorship, t.path, t.depth, t.kingdom, t.phylum, t.class_name, t.\"order\", "
                "t.family, t.genus, t.parent_id FROM specimens_taxon t WHERE t.parent_id = ANY(%s)",
                [list({pid for pid in parent_ids.values()})],
            )
            for row in rows:
                existing.setdefault((row[11], row[1], row[2]), row[:11])
        missing = []
        for prefix in wanted:
            rank, name, authorship = prefix[-1]
            parent_id = parent_ids[prefix]
            row = existing.get((parent_id, name, authorship))
            if row is None and not authorship:
                row = next((r for (pid, n, _), r in existing.items() if pid == parent_id and n == name), None)
            if row is not None:
                node_of[prefix] = (row[0], row[3], row[4], dict(zip(HIGHER_COLUMNS.values(), row[5:11])))
            else:
                missing.append(prefix)
        groups: dict[tuple, list[tuple]] = {}
        for prefix in sorted(missing):
            groups.setdefault((parent_ids[prefix], prefix[-1][1], prefix[-1][2]), []).append(prefix)
        missing = [members[0] for members in groups.values()]
        if missing:
            ids = [i for (i,) in sql_fetch(
                "SELECT nextval(pg_get_serial_sequence('specimens_taxon', 'id')) FROM generate_series(1, %s)", [len(missing)]
            )]
            now = timezone.now()
            with connection.cursor() as cursor:
                with cursor.copy(
                    'COPY specimens_taxon (id, uuid, created_at, updated_at, parent_id, path, depth, name, authorship, rank, '
                    'name_id, vernacular_name, kingdom, phylum, class_name, "order", family, genus, is_provisional) FROM STDIN'
                ) as copy:
                    for taxon_id, prefix in zip(ids, missing):
                        rank, name, authorship = prefix[-1]
                        if depth:
                            parent_id, parent_path, parent_depth, higher = node_of[prefix[:-1]]
                        else:
                            parent_id, parent_path, parent_depth, higher = None, "", -1, dict.fromkeys(HIGHER_COLUMNS.values(), "")
                        higher = dict(higher)
                        if rank in HIGHER_COLUMNS:
                            higher[HIGHER_COLUMNS[rank]] = name
                        path_text = parent_path + taxon_path_segment(taxon_id)
                        copy.write_row((  # provisional: out of the public tree until a record using it is published
                            taxon_id, uuid.uuid4(), now, now, parent_id, path_text, parent_depth + 1, name, authorship,
                            rank, "", "", *(higher[c] for c in HIGHER_COLUMNS.values()), True,
                        ))
                        for member in groups[(parent_id, name, authorship)]:
                            node_of[member] = (taxon_id, path_text, parent_depth + 1, higher)
        depth += 1
    for path in todo:
        result[tuple(path)] = node_of[tuple(path)][0]
    return result


def sql_fetch(statement: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def sql_execute(statement: str, params=None) -> int:
    """The statement's row count."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def today() -> dt.date:
    return timezone.localdate()


def import_batch_enqueue(*, batch: ImportBatch) -> None:
    """Queue the batch for the `bulk` worker once the creating transaction has committed."""
    import_batches_enqueue(batch_ids=[batch.pk])
