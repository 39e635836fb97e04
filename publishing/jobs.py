"""Leases for publishing's background work (dataset versions and downloads), in the shape of
imports and images (specimens/imports/batches.py, imaging/services.py).

A task claims its row under SELECT … FOR NO KEY UPDATE, only when the row is unsettled and its
lease free or lapsed, and counts the attempt; a thread with its own connection renews the lease
(and writes the progress the run reports) while the build runs; the final write is fenced on the
lease, so a task that lost it settles nothing. A killed worker's lease lapses and the reconciler
(beat) sends the row again; after PUBLISHING_MAX_ATTEMPTS starts the next claim fails it.
No worker is asked what it runs: the status and the lease answer it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Model, Q
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

logger = logging.getLogger(__name__)

GAVE_UP = ("The work stopped {n} times before it finished (the worker running it was stopped, or ran out of "
           "memory), so it will not be tried again. Nothing was published; start it again, and if it stops again "
           "ask an administrator to check the workers.")


def lease_length() -> timedelta:
    return timedelta(seconds=getattr(settings, "PUBLISHING_LEASE_SECONDS", 30))


def renew_every() -> float:
    return getattr(settings, "PUBLISHING_LEASE_RENEW_SECONDS", 5)


def max_attempts() -> int:
    return getattr(settings, "PUBLISHING_MAX_ATTEMPTS", 3)


class LeaseLost(Exception):
    """Another task holds the row now: this one must stop without settling anything."""


def claim(model: type[Model], *, pk: int, unsettled: list[str], working_status: str, failed_status: str,
          error_field: str = "error") -> tuple[Model | None, str | None]:
    """(row, lease owner) for one attempt, or (row or None, None) when there is nothing to do."""
    owner = f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    with transaction.atomic():
        row = (model.objects.select_for_update(no_key=True, of=("self",))
               .annotate(leased=ExpressionWrapper(Q(lease_expires_at__gt=Now()), output_field=BooleanField()))
               .filter(pk=pk).first())
        if row is None or row.status not in unsettled or row.leased:
            return row, None  # gone, settled, or another task runs it now
        if row.attempts >= max_attempts():
            values = {"status": failed_status, "lease_owner": "", "lease_expires_at": None,
                      error_field: GAVE_UP.format(n=row.attempts)}
            model.objects.filter(pk=pk).update(**values)
            for key, value in values.items():
                setattr(row, key, value)
            return row, None
        row.attempts += 1
        row.status = working_status
        row.lease_owner = owner
        model.objects.filter(pk=pk).update(attempts=row.attempts, status=working_status, lease_owner=owner,
                                           lease_expires_at=Now() + lease_length())
    return row, owner


class Lease:
    """A claimed attempt: renewed from a thread, which also writes the progress the run reports."""

    def __init__(self, model: type[Model], pk: int, owner: str):
        self.model, self.pk, self.owner = model, pk, owner
        self.progress: dict = {}
        self.lost = threading.Event()
        self._stop = threading.Event()

    def mine(self):
        return self.model.objects.filter(pk=self.pk, lease_owner=self.owner)

    def fence(self, **values) -> None:
        """Inside the final transaction: the row stays ours (and locked) until COMMIT, else LeaseLost."""
        if not self.mine().update(lease_expires_at=Now() + lease_length(), **values):
            self.lost.set()
            raise LeaseLost(self.pk)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.pk)

    def _renewals(self) -> None:
        try:
            while not self._stop.wait(renew_every()):
                try:
                    if self.mine().update(lease_expires_at=Now() + lease_length(), **self.progress):
                        continue
                    # Another owner: stop. A row this connection cannot see (a test's open
                    # transaction) is left alone.
                    if self.model.objects.filter(pk=self.pk).exclude(lease_owner=self.owner).exists():
                        self.lost.set()
                        return
                except DatabaseError:
                    logger.warning("publishing: renewing the lease of %s %s failed", self.model.__name__, self.pk,
                                   exc_info=True)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    @contextmanager
    def kept(self) -> Iterator[Lease]:
        renewals = threading.Thread(target=self._renewals, daemon=True, name=f"publishing-lease-{self.pk}")
        renewals.start()
        try:
            yield self
        finally:
            self._stop.set()
            renewals.join(timeout=lease_length().total_seconds())
            try:
                self.mine().update(lease_owner="", lease_expires_at=None)
            except DatabaseError:
                logger.warning("publishing: releasing the lease of %s %s failed", self.model.__name__, self.pk)


def stale_ids(model: type[Model], *, unsettled: list[str], patience: timedelta) -> list[int]:
    """Rows nobody runs: a lapsed lease (the task died), or sent longer ago than `patience` with no
    live lease (the message was lost). Stamped queued_at, so one lapse is sent once."""
    lapsed = Q(lease_expires_at__lte=Now()) & (Q(queued_at__isnull=True) | Q(queued_at__lt=F("lease_expires_at")))
    forgotten = ((Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=Now()))
                 & Q(last_sent__lt=Now() - patience))
    with transaction.atomic():
        ids = list(model.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
                   .annotate(last_sent=Coalesce("queued_at", "created_at"))
                   .filter(status__in=unsettled).filter(lapsed | forgotten)
                   .order_by("pk").values_list("pk", flat=True))
        model.objects.filter(pk__in=ids).update(queued_at=timezone.now())
    return ids
