"""The worker's one door: `import_batch_process` takes a batch id, runs the batch by its kind
(specimen records or a checklist) under its lease, and removes a browser upload once it settled.

A specimen import runs its steps in order (DESIGN §2.2 path 2): load (file → staging table) →
rows (typed, matched rows) → checks (row errors; a dry run stops here) → write (one transaction)
→ MIDS. Each step is a function of the `ImportRun`, which holds what the steps share: the batch,
its lease, the attempt's staging table names and what reading the file found.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from psycopg import sql as psql

from specimens.mids import mids_assess_import
from specimens.models import ImportBatch, ImportRowError
from specimens.search import search_import_refresh
from standards.archive import ArchiveError
from standards.reader import DwcArchive

from .batches import ImportLease, LeaseLost, import_batch_claim, staging_name
from .checks import extension_errors_write, extensions_check, rows_check
from .load import archive_open, events_join, staging_load
from .rows import rows_prepare
from .sql import sql_execute, steps_log
from .write import records_write, rows_count, shared_rows_ensure, targets_analyze

logger = logging.getLogger(__name__)


def import_batch_process(*, batch_id: int) -> ImportBatch | None:
    """What the bulk worker does with a batch id (imports.tasks): run it by its kind, then remove
    a browser upload once the batch settled. A redelivery of a settled batch does nothing."""
    from .checklist import import_batch_run_by_kind  # the checklist module imports this one
    from .upload import import_upload_discard

    batch = import_batch_run_by_kind(batch_id=batch_id)
    if batch is not None and batch.status in ("done", "rejected", "failed"):
        import_upload_discard(batch=batch)
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
        run = ImportRun(batch, lease)
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


def _settle_unless_lost(run: ImportRun, **values) -> None:
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


class ImportRun:
    """One attempt at one specimen import: what its steps share."""

    def __init__(self, batch: ImportBatch, lease: ImportLease):
        self.batch = batch
        self.lease = lease
        self.collection = batch.collection
        self.warnings: list[str] = []
        self.inserted = self.updated = self.matched = 0  # set by the write (imports.write)
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

    def execute(self) -> None:
        with self.phase("open"):
            archive_open(self)
        with self.phase("load"):
            staging_load(self)
            if self.event_file:
                events_join(self)
            self.pause_for_tests(ImportBatch.Status.READING)
        self.lease.set(self.batch, status=ImportBatch.Status.VALIDATING, file_warnings=self.warnings)
        with self.phase("prepare"):
            rows_prepare(self)
        with self.phase("validate"):
            rows_check(self)
            extensions_check(self)
            counts = rows_count(self)
            self.pause_for_tests(ImportBatch.Status.VALIDATING)
        if self.batch.dry_run:
            with transaction.atomic():
                self.lease.fence()
                extension_errors_write(self)
                self.lease.set(self.batch, status=ImportBatch.Status.DONE, finished_at=timezone.now(),
                               file_warnings=self.warnings, **counts)
            return
        self.lease.set(self.batch, status=ImportBatch.Status.WRITING, file_warnings=self.warnings)
        with self.phase("analyze targets"):
            targets_analyze(self)
        with self.phase("taxa+agents"), transaction.atomic():
            shared_rows_ensure(self)
        with self.phase("write+commit"), transaction.atomic():
            with self.phase("write"):
                self.lease.fence()  # the batch row stays locked to the COMMIT: ours, or nothing is written
                records_write(self)
                extension_errors_write(self)
                counts = rows_count(self, after_write=True)
                self.lease.set(self.batch, status=ImportBatch.Status.DONE, finished_at=timezone.now(),
                               rows_done=self.batch.rows_total, file_warnings=self.warnings, **counts)
                self.pause_for_tests(ImportBatch.Status.WRITING)
            # New records carry their MIDS level from the INSERT, and drafts have no search rows.
            if self.matched:
                with self.phase("mids"):  # every matched record, in one pass, in the same transaction
                    mids_assess_import(rows_table=self.rows, stage_table=self.stage, columns=self.columns)
            if self.matched or self.batch.publish:
                with self.phase("search"):  # the public search (specimens.search), same transaction
                    search_import_refresh(rows_table=self.rows)

    # -- what the steps share
    def col(self, term: str) -> psql.Identifier | None:
        """The staging column (aliased s) that holds `term`, if the file has one."""
        index = self.columns.get(term)
        return None if index is None else psql.Identifier("s", f"c{index}")

    @property
    def has_dates(self) -> bool:
        """The file dates its rows: an eventDate column, or year (month, day) to derive one from."""
        return "eventDate" in self.columns or "year" in self.columns

    def raw(self, term: str) -> psql.Composable:
        """The term's text, trimmed, NULL when empty (or when the file has no such column)."""
        column = self.col(term)
        return psql.SQL("NULLIF(btrim({}), '')").format(column) if column else psql.SQL("NULL::text")

    def discard(self) -> None:
        ImportRowError.objects.filter(batch=self.batch).delete()

    def cleanup(self) -> None:
        if self.archive is not None:
            self.archive.close()
        for table in (self.stage, self.rows, self.maps, self.taxa, self.agents, self.media, *self.extra_tables):
            try:
                sql_execute(psql.SQL("DROP TABLE IF EXISTS {}").format(psql.Identifier(table)))
            except DatabaseError:  # the connection may be gone; UNLOGGED leftovers are harmless
                logger.warning("could not drop %s", table)

    @contextmanager
    def phase(self, name: str):
        """Times one phase in the imports.steps log (benchmarks/import.py --steps prints it); a run
        whose lease another task took stops at the next phase."""
        self.lease.check()
        started = time.perf_counter()
        try:
            yield
        finally:
            steps_log.debug("import %s: %.3f s == phase %s", self.batch.pk, time.perf_counter() - started, name)

    def pause_for_tests(self, stage: str) -> None:
        """IMPORT_TEST_PAUSE = {stage: seconds} (crash tests only, never set in production): hold
        the run in `stage` so a test can SIGKILL the worker there."""
        seconds = getattr(settings, "IMPORT_TEST_PAUSE", {}).get(stage)
        if seconds:
            logger.warning("import %s: test pause in %s for %.1f s", self.batch.pk, stage, seconds)
            time.sleep(seconds)
