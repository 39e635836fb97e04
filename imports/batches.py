"""The import batch: its row (progress, counts, outcomes), its report, the locks imports take, and
its lease.

Import batches recover on their own, with the lease imaging and publishing hold too (DESIGN §5
Celery rules; collections_portal/common/leases.py).

The task claims the batch's lease on the row locked with SELECT … FOR NO KEY UPDATE (only an
unsettled batch whose lease is free or lapsed), counts the attempt and keeps the lease alive from
a renewal thread with its own connection while the import runs. Every status the run writes is
fenced on the lease (`lease_owner` must still be ours), and the write transaction holds the row
from its first statement to its COMMIT, so a task that lost its lease can never settle the batch.

Each attempt runs the import from the start: its staging tables are its own (named by batch and
attempt), row errors of earlier attempts are removed at the claim, and the write is one
transaction, so a killed write leaves nothing. A lapsed lease means the task died (a killed
worker, an OOM-killed pool child): the reconciler (beat every 30 s, and each worker start) sends
the batch again; after IMPORT_MAX_ATTEMPTS starts the next claim fails it with the reason. The
reconciler also drops staging tables nobody works on. No worker is asked what it runs: the
status and the lease answer it.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from psycopg import sql

from collections_portal.common.leases import (
    Lease,
    LeaseLost,
    LeaseTerms,
    lease_claim,
    lease_stale_requeue,
)
from specimens.models import IMPORT_BATCH_UNSETTLED, ImportBatch, ImportRowError

logger = logging.getLogger(__name__)

IMPORT_GAVE_UP = (
    "The import stopped {n} times before it finished (the worker running it was stopped, or ran out of "
    "memory), so it will not be tried again. No records from this file were saved. Import it again; "
    "if it stops again, split the file into smaller parts or ask an administrator to check the workers."
)
# Staging tables: import_<part>_<batch id>_<attempt>[_<work table>], UNLOGGED, in the public schema.
STAGING_NAME = r"^import_[a-z]+_([0-9]+)_([0-9]+)(_[a-z]+)?$"


# --- the row: progress, counts and outcomes ---------------------------------------------------


def import_batch_set(batch: ImportBatch, **values) -> None:
    """Progress, counts and outcomes of an import (or of its undo) onto the row and the object: one
    UPDATE of just these columns, which a page polling the batch sees at once."""
    for key, value in values.items():
        setattr(batch, key, value)
    ImportBatch.objects.filter(pk=batch.pk).update(**values, updated_at=timezone.now())


# --- locks -----------------------------------------------------------------------------------

ADVISORY_LOCK = 7_240_001  # serialises the creation of shared taxa and agents between imports
COLLECTION_LOCK = 7_240_002  # with the collection id: one write (import or undo) per collection at a time


def collection_write_lock(collection_id: int) -> None:
    """Transaction-scoped: imports into different collections write at the same time; into the
    same collection, or an undo of one, one after the other."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [COLLECTION_LOCK, int(collection_id) % 2**31])


# --- report ----------------------------------------------------------------------------------

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


# --- staging tables -------------------------------------------------------------------------


def staging_name(part: str, batch: ImportBatch) -> str:
    """The table `part` ("stage", "rows", …) of this attempt of the batch: no other attempt shares it."""
    return f"import_{part}_{batch.pk}_{batch.attempts}"


def staging_tables(*, batch_id: int | None = None) -> list[str]:
    """Staging tables that exist now (of one batch, or of every batch), from pg_class."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND c.relpersistence = 'u' AND n.nspname = current_schema() "
            "AND c.relname ~ %s AND (%s::bigint IS NULL OR substring(c.relname FROM %s)::bigint = %s::bigint) "
            "ORDER BY 1",
            [STAGING_NAME, batch_id, STAGING_NAME, batch_id],
        )
        return [name for (name,) in cursor.fetchall()]


def staging_tables_drop(tables: list[str]) -> int:
    """Drop each table; one in use (a lock not granted within a second) is left for the next sweep."""
    dropped = 0
    for table in tables:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
                cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)).as_string(cursor.connection))
            dropped += 1
        except DatabaseError:
            logger.warning("imports: could not drop staging table %s now; the reconciler tries again", table)
    return dropped


def staging_leftovers_drop() -> int:
    """Staging tables nobody works on: of batches settled or gone, or of an attempt not the latest."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL regexp_match(c.relname, %s) AS m(part) "
            "LEFT JOIN specimens_importbatch b ON b.id = m.part[1]::bigint "
            "WHERE c.relkind = 'r' AND c.relpersistence = 'u' AND n.nspname = current_schema() "
            "AND (b.id IS NULL OR NOT b.status = ANY(%s) OR m.part[2]::int < b.attempts) ORDER BY 1",
            [STAGING_NAME, IMPORT_BATCH_UNSETTLED],
        )
        leftovers = [name for (name,) in cursor.fetchall()]
    return staging_tables_drop(leftovers)


# --- the lease ------------------------------------------------------------------------------
# The one lease of collections_portal/common/leases.py, with the importer's settings and statuses.

IMPORT_LEASE = LeaseTerms(seconds_setting="IMPORT_LEASE_SECONDS", renew_setting="IMPORT_LEASE_RENEW_SECONDS",
                          attempts_setting="IMPORT_MAX_ATTEMPTS")


def _import_batch_gave_up(batch: ImportBatch) -> None:
    ImportRowError.objects.filter(batch=batch).delete()
    import_batch_set(batch, status=ImportBatch.Status.FAILED, finished_at=timezone.now(), lease_owner="",
                     lease_expires_at=None, file_errors=[IMPORT_GAVE_UP.format(n=batch.attempts)])
    transaction.on_commit(partial(staging_tables_drop, staging_tables(batch_id=batch.pk)))


def _import_batch_start(batch: ImportBatch) -> dict:
    values = {"status": ImportBatch.Status.READING, "started_at": batch.started_at or timezone.now(),
              "updated_at": timezone.now()}
    if batch.attempts:  # run again from the start: nothing of the attempt that died counts
        ImportRowError.objects.filter(batch=batch).delete()
        values.update(rows_total=0, rows_done=0, inserted_count=0, updated_count=0, unchanged_count=0,
                      rejected_count=0, synonym_count=0, file_errors=[], file_warnings=[])
    return values


def import_batch_claim(*, batch_id: int, kind: str | None = None) -> tuple[ImportBatch | None, str | None]:
    """Claim the batch for one attempt: (batch, lease owner), or (batch or None, None) when there is
    nothing to do — gone, settled, leased by a live task, or failed here after too many starts."""
    batches = ImportBatch.objects.select_related("collection", "created_by").filter(**({"kind": kind} if kind else {}))
    batch, owner, _ = lease_claim(batches, pk=batch_id, unsettled=IMPORT_BATCH_UNSETTLED, terms=IMPORT_LEASE,
                                  gave_up=_import_batch_gave_up, start=_import_batch_start)
    if owner is not None and batch.attempts > 1:
        staging_tables_drop(staging_tables(batch_id=batch.pk))  # the dead attempts' tables
    return batch, owner


class ImportLease(Lease):
    """The lease of one claimed attempt, fenced on every status the run writes.

    Unlike imaging and publishing, losing it cancels the statement the run has in flight: an
    import's statements (COPY, the set-based checks, the write) run for minutes on the run's own
    connection, and a lost attempt must stop at once, not at its next phase. The write transaction
    calls fence() first, so it holds the row (FOR NO KEY UPDATE) from its first statement to its
    COMMIT and nobody can take the batch while the records are written.
    """

    def __init__(self, batch: ImportBatch, owner: str):
        super().__init__(ImportBatch, batch.pk, owner, terms=IMPORT_LEASE, cancel_on_loss=True)

    def set(self, batch: ImportBatch, **values) -> None:
        """Progress and outcome onto the batch, only while the lease is ours (else LeaseLost)."""
        for key, value in values.items():
            setattr(batch, key, value)
        if not self.mine().update(**values, updated_at=timezone.now()):
            self.lost.set()
            raise LeaseLost(self.pk)


# --- queueing and the reconciler ------------------------------------------------------------


def import_batches_enqueue(*, batch_ids: list[int]) -> None:
    """Stamp `queued_at` and send each batch to the bulk queue once the transaction commits."""
    from .tasks import specimen_import_task  # the tasks module imports the services lazily

    if not batch_ids:
        return
    ImportBatch.objects.filter(pk__in=batch_ids).update(queued_at=Now())
    for batch_id in batch_ids:
        # partial, not a lambda: each callback keeps its own id.
        transaction.on_commit(partial(specimen_import_task.delay, batch_id))


def import_batch_reenqueue_stale(*, patience: timedelta | None = None) -> int:
    """The reconciler (beat every 30 s, and each worker start): send again the batches nobody runs.

    - A lapsed lease: its task died. Sent once per lapse (queuing stamps `queued_at`, which is then
      later than the lease); the claim runs it from the start, or fails it after too many starts.
    - No live lease, and sent (or created) longer ago than `patience`: the message itself was lost.
    A row locked right now (a claim, a write transaction) is skipped, so nothing waits here. Then
    the staging tables nobody works on are dropped.
    """
    if patience is None:
        patience = timedelta(seconds=settings.IMPORT_REQUEUE_PATIENCE_SECONDS)
    ids = lease_stale_requeue(ImportBatch.objects.all(), unsettled=IMPORT_BATCH_UNSETTLED, patience=patience,
                              requeue=lambda ids: import_batches_enqueue(batch_ids=ids))
    if ids:
        logger.info("imports: sent again batches %s (lease lapsed or message lost)", ids)
    staging_leftovers_drop()
    return len(ids)
