"""The lease a background task holds on the row it works on: imports (ImportBatch), imaging
(ImageAsset) and publishing (DatasetVersion, DownloadRequest) share this one implementation.

The task claims the row under SELECT … FOR NO KEY UPDATE, only when the row is unsettled and its
lease free or lapsed, and counts the attempt; a thread with its own connection renews the lease
(and writes any progress the task reports) while the work runs; every write that settles
something is fenced on the lease (`lease_owner` must still be ours, and the UPDATE keeps the row
locked to the COMMIT), so a task that lost its lease settles nothing. A killed worker's lease
lapses and the app's reconciler (beat) sends the row again; after the app's maximum of starts the
next claim fails it with the app's reason. No worker is asked what it runs: the status and the
lease answer it.

Lease times come from the database clock (Now()), so workers on several hosts agree on them.
Each app keeps its own statuses, messages and settings names, and passes them in.
The rows need `status`, `attempts`, `lease_owner`, `lease_expires_at`, `queued_at`, `created_at`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Model, Q, QuerySet
from django.db.models.functions import Coalesce, Now

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another task holds the row now: this one must stop without settling anything."""


@dataclass(frozen=True)
class LeaseTerms:
    """The names of an app's lease settings (settings/base.py explains the figures); read at each
    use, so a test's override counts."""

    seconds_setting: str  # how long a lease lasts unrenewed: a dead task's row waits this long
    renew_setting: str  # how often the renewal thread extends it
    attempts_setting: str  # starts before the next claim fails the row

    def length(self) -> timedelta:
        return timedelta(seconds=getattr(settings, self.seconds_setting, 30))

    def renew_every(self) -> float:
        return getattr(settings, self.renew_setting, 10)

    def max_attempts(self) -> int:
        return getattr(settings, self.attempts_setting, 3)


def lease_owner_new() -> str:
    """Who holds the lease, readable by an operator; the random part makes each claim unique."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Claim(NamedTuple):
    row: Model | None  # None: the row is gone
    owner: str | None  # the lease owner of this attempt; None: nothing to do
    gave_up: bool  # the row was failed here, after too many starts


def lease_claim(rows: QuerySet, *, pk: int, unsettled: list[str], terms: LeaseTerms,
                gave_up: Callable[[Model], None], start: Callable[[Model], dict]) -> Claim:
    """Claim row `pk` of `rows` for one attempt, in one short transaction.

    Nothing to do (owner None) when the row is gone, settled, or leased by a live task. After
    `terms.max_attempts()` starts, `gave_up(row)` records the failure (the row is still locked).
    Otherwise the attempt is counted and the lease taken, with the values `start(row)` returns
    (the app's working status, counters reset, …; `row.attempts` still the earlier count).
    NO KEY UPDATE: a task inserting rows that reference this one (a key-share lock) does not
    block the claim.
    """
    owner = lease_owner_new()
    with transaction.atomic():
        row = (rows.select_for_update(no_key=True, of=("self",))
               .annotate(leased=ExpressionWrapper(Q(lease_expires_at__gt=Now()), output_field=BooleanField()))
               .filter(pk=pk).first())
        if row is None or row.status not in unsettled or row.leased:
            return Claim(row, None, False)  # gone, settled (a redelivery does nothing), or run by another task
        if row.attempts >= terms.max_attempts():
            gave_up(row)
            return Claim(row, None, True)
        values = {**start(row), "attempts": row.attempts + 1, "lease_owner": owner}
        for key, value in values.items():
            setattr(row, key, value)
        rows.model.objects.filter(pk=pk).update(**values, lease_expires_at=Now() + terms.length())
    return Claim(row, owner, False)


class Lease:
    """A claimed attempt: renewed from a thread while `kept()`, fenced on each settling write,
    released at the end (a dead task's lease lapses instead)."""

    def __init__(self, model: type[Model], pk: int, owner: str, *, terms: LeaseTerms, cancel_on_loss: bool = False):
        self.model, self.pk, self.owner, self.terms = model, pk, owner, terms
        self.what = f"{model._meta.verbose_name} {pk}"
        self.progress: dict = {}  # columns the renewal thread writes with each renewal
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._backend_pid = None
        if cancel_on_loss:  # the task's own connection, whose statement in flight a loss cancels
            connection.ensure_connection()
            self._backend_pid = connection.connection.info.backend_pid

    def mine(self) -> QuerySet:
        return self.model.objects.filter(pk=self.pk, lease_owner=self.owner)

    def renew(self, **values) -> bool:
        """Extend the lease by one lease length (writing `values` too); False if it is not ours."""
        return self.mine().update(lease_expires_at=Now() + self.terms.length(), **values) == 1

    def fence(self, **values) -> None:
        """Inside a settling transaction, before it commits or removes a file: the lease must still
        be ours (else LeaseLost), and the UPDATE keeps the row locked until the COMMIT, so nobody
        can take the lease in between."""
        if not self.renew(**values):
            self.lost.set()
            raise LeaseLost(self.pk)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.pk)

    def _renewals(self) -> None:
        """The renewal thread: its own connection, so it renews while a statement or a stage runs
        for minutes. It stops when the lease is no longer ours: another task holding the row sets
        `lost` (and cancels the task's statement in flight, when asked); a row this connection
        cannot see (a test's open transaction) is left alone."""
        try:
            while not self._stop.wait(self.terms.renew_every()):
                try:
                    if self.renew(**self.progress):
                        continue
                    if self.model.objects.filter(pk=self.pk).exclude(lease_owner=self.owner).exists():
                        logger.warning("%s is run by another task now; stopping this one", self.what)
                        self.lost.set()
                        if self._backend_pid is not None:
                            with connection.cursor() as cursor:
                                cursor.execute("SELECT pg_cancel_backend(%s)", [self._backend_pid])
                    return
                except DatabaseError:
                    logger.warning("renewing the lease of %s failed; trying again", self.what, exc_info=True)
                    connection.close()  # a fresh connection on the next try
        finally:
            connection.close()  # this thread's own connection

    @contextmanager
    def kept(self) -> Iterator[Lease]:
        renewals = threading.Thread(target=self._renewals, name=f"lease-{self.model._meta.label_lower}-{self.pk}",
                                    daemon=True)
        renewals.start()
        try:
            yield self
        finally:
            self._stop.set()
            renewals.join(timeout=self.terms.length().total_seconds())
            try:
                self.mine().update(lease_owner="", lease_expires_at=None)
            except DatabaseError:  # the database is gone: the lease lapses on its own
                logger.warning("releasing the lease of %s failed", self.what, exc_info=True)


def lease_stale_requeue(rows: QuerySet, *, unsettled: list[str], patience: timedelta,
                        requeue: Callable[[list[int]], None], unsent_waits: bool = True) -> list[int]:
    """The reconciler's pick: unsettled rows nobody runs, handed to `requeue` (which stamps
    `queued_at`) in the transaction that locked them; their ids.

    - A lapsed lease: its task died. Picked once per lapse: `queued_at` is then later than the lease.
    - No live lease, and sent longer ago than `patience`: the message itself was lost. A row never
      sent counts from its creation, or, with `unsent_waits=False`, is picked at once.
    A row locked right now (a claim, a settling transaction) is skipped, so nothing waits here.
    """
    lapsed = Q(lease_expires_at__lte=Now()) & (Q(queued_at__isnull=True) | Q(queued_at__lt=F("lease_expires_at")))
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=Now())
    if unsent_waits:
        forgotten = free & Q(last_sent__lt=Now() - patience)
        rows = rows.annotate(last_sent=Coalesce("queued_at", "created_at"))
    else:
        forgotten = free & (Q(queued_at__isnull=True) | Q(queued_at__lt=Now() - patience))
    with transaction.atomic():
        ids = list(rows.select_for_update(skip_locked=True, no_key=True, of=("self",))
                   .filter(status__in=unsettled).filter(lapsed | forgotten)
                   .order_by("pk").values_list("pk", flat=True))
        requeue(ids)
    return ids
