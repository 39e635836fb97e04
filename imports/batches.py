"""The import batch: its row (progress, counts, outcomes), its report, the locks imports take, and
its lease.

Import batches recover on their own, in the shape of the imaging pipeline (DESIGN §5
Celery rules; imaging/services.py).

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
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from psycopg import sql

from specimens.models import IMPORT_BATCH_UNSETTLED, ImportBatch, ImportRowError

logger = logging.getLogger(__name__)

IMPORT_GAVE_UP = (
    "The import stopped {n} times before it finished (the worker running it was stopped, or ran out of "
    "memory), so it will not be tried again. No records from this file were saved. Import it again; "
    "if it stops again, split the file into smaller parts or ask an administrator to check the workers."
)
# Staging tables: import_<part>_<batch id>_<attempt>[_<work table>], UNLOGGED, in the public schema.
STAGING_NAME = r"^import_[a-z]+_([0-9]+)_([0-9]+)(_[a-z]+)?$"


class LeaseLost(Exception):
    """Another task holds the batch now: this one must stop without writing anything more."""


def _lease_length() -> timedelta:
    return timedelta(seconds=settings.IMPORT_LEASE_SECONDS)  # settings/base.py explains the figures


def _lease_owner_new() -> str:
    """Who holds the lease, readable by an operator; the random part makes each claim unique."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


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
# Lease times come from the database clock (Now()), so workers on several hosts agree on them.


def import_batch_claim(*, batch_id: int, kind: str | None = None) -> tuple[ImportBatch | None, str | None]:
    """Claim the batch for one attempt: (batch, lease owner), or (batch or None, None) when there is
    nothing to do — gone, settled, leased by a live task, or failed here after too many starts."""
    owner = _lease_owner_new()
    with transaction.atomic():
        batch = (ImportBatch.objects.select_for_update(no_key=True, of=("self",))
                 .select_related("collection", "created_by")
                 .annotate(leased=ExpressionWrapper(Q(lease_expires_at__gt=Now()), output_field=BooleanField()))
                 .filter(pk=batch_id, **({"kind": kind} if kind else {})).first())
        if batch is None or batch.status not in IMPORT_BATCH_UNSETTLED:
            return batch, None  # gone, or already settled: a redelivery does nothing
        if batch.leased:
            return batch, None  # another task runs it now
        if batch.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            ImportRowError.objects.filter(batch=batch).delete()
            import_batch_set(batch, status=ImportBatch.Status.FAILED, finished_at=timezone.now(), lease_owner="",
                 lease_expires_at=None, file_errors=[IMPORT_GAVE_UP.format(n=batch.attempts)])
            transaction.on_commit(partial(staging_tables_drop, staging_tables(batch_id=batch.pk)))
            return batch, None
        values = {"attempts": batch.attempts + 1, "lease_owner": owner, "status": ImportBatch.Status.READING,
                  "started_at": batch.started_at or timezone.now()}
        if batch.attempts:  # run again from the start: nothing of the attempt that died counts
            ImportRowError.objects.filter(batch=batch).delete()
            values.update(rows_total=0, rows_done=0, inserted_count=0, updated_count=0, unchanged_count=0,
                          rejected_count=0, synonym_count=0, file_errors=[], file_warnings=[])
        import_batch_set(batch, **values)
        ImportBatch.objects.filter(pk=batch.pk).update(lease_expires_at=Now() + _lease_length())
    if batch.attempts > 1:
        staging_tables_drop(staging_tables(batch_id=batch.pk))  # the dead attempts' tables
    return batch, owner


class ImportLease:
    """The lease of one claimed attempt: renewed from a thread while the import runs, fenced on
    every status the run writes, released at the end (a dead task's lease lapses instead)."""

    def __init__(self, batch: ImportBatch, owner: str):
        self.batch_id, self.owner = batch.pk, owner
        self.lost = threading.Event()
        self._stop = threading.Event()
        connection.ensure_connection()
        self._backend_pid = connection.connection.info.backend_pid  # the run's own connection

    def set(self, batch: ImportBatch, **values) -> None:
        """Progress and outcome onto the batch, only while the lease is ours (else LeaseLost)."""
        for key, value in values.items():
            setattr(batch, key, value)
        if not ImportBatch.objects.filter(pk=self.batch_id, lease_owner=self.owner).update(
                **values, updated_at=timezone.now()):
            self.lost.set()
            raise LeaseLost(self.batch_id)

    def fence(self) -> None:
        """First statement of the write transaction: the lease must be ours, and the row stays
        locked until the COMMIT, so nobody can take the batch while the records are written."""
        if not ImportBatch.objects.filter(pk=self.batch_id, lease_owner=self.owner).update(
                lease_expires_at=Now() + _lease_length()):
            self.lost.set()
            raise LeaseLost(self.batch_id)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.batch_id)

    def _renewals(self) -> None:
        """The renewal thread: its own connection, so it renews while a statement runs for minutes.

        When another task holds the batch, the statement this run is in is cancelled, so it stops
        at once; a batch this connection cannot see (a test's open transaction) is left alone.
        """
        try:
            while not self._stop.wait(settings.IMPORT_LEASE_RENEW_SECONDS):
                try:
                    mine = ImportBatch.objects.filter(pk=self.batch_id, lease_owner=self.owner)
                    if mine.update(lease_expires_at=Now() + _lease_length()):
                        continue
                    if ImportBatch.objects.filter(pk=self.batch_id).exclude(lease_owner=self.owner).exists():
                        logger.warning("imports: batch %s is run by another task now; stopping this one", self.batch_id)
                        self.lost.set()
                        with connection.cursor() as cursor:
                            cursor.execute("SELECT pg_cancel_backend(%s)", [self._backend_pid])
                    return
                except DatabaseError:
                    logger.warning("imports: renewing the lease of batch %s failed; trying again", self.batch_id,
                                   exc_info=True)
                    connection.close()  # a fresh connection on the next try
        finally:
            connection.close()  # this thread's own connection

    @contextmanager
    def kept(self) -> Iterator[ImportLease]:
        renewals = threading.Thread(target=self._renewals, name=f"import-lease-{self.batch_id}", daemon=True)
        renewals.start()
        try:
            yield self
        finally:
            self._stop.set()
            renewals.join(timeout=_lease_length().total_seconds())
            try:
                ImportBatch.objects.filter(pk=self.batch_id, lease_owner=self.owner).update(
                    lease_owner="", lease_expires_at=None)
            except DatabaseError:  # the database is gone: the lease lapses on its own
                logger.warning("imports: releasing the lease of batch %s failed", self.batch_id, exc_info=True)


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
    lapsed = Q(lease_expires_at__lte=Now()) & (Q(queued_at__isnull=True) | Q(queued_at__lt=F("lease_expires_at")))
    forgotten = ((Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=Now()))
                 & Q(last_sent__lt=Now() - patience))
    with transaction.atomic():
        ids = list(ImportBatch.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
                   .annotate(last_sent=Coalesce("queued_at", "created_at"))
                   .filter(status__in=IMPORT_BATCH_UNSETTLED).filter(lapsed | forgotten)
                   .order_by("pk").values_list("pk", flat=True))
        import_batches_enqueue(batch_ids=ids)
    if ids:
        logger.info("imports: sent again batches %s (lease lapsed or message lost)", ids)
    staging_leftovers_drop()
    return len(ids)
