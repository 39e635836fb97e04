"""Publishing's lease terms for its background work (dataset versions and downloads): its
settings, statuses and message over the one lease of collections_portal/common/leases.py, the
same as imports and images use.

A task claims its row (the attempt counted), renews the lease from a thread that also writes the
progress the run reports, and fences its final write on the lease, so a task that lost it settles
nothing. A killed worker's lease lapses and the reconciler (beat) sends the row again; after
PUBLISHING_MAX_ATTEMPTS starts the next claim fails it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Model
from django.utils import timezone

from collections_portal.common.leases import Lease as _Lease
from collections_portal.common.leases import LeaseLost, LeaseTerms, lease_claim, lease_stale_requeue

__all__ = ["GAVE_UP", "TERMS", "Lease", "LeaseLost", "claim", "stale_ids"]

GAVE_UP = ("The work stopped {n} times before it finished (the worker running it was stopped, or ran out of "
           "memory), so it will not be tried again. Nothing was published; start it again, and if it stops again "
           "ask an administrator to check the workers.")
TERMS = LeaseTerms(seconds_setting="PUBLISHING_LEASE_SECONDS", renew_setting="PUBLISHING_LEASE_RENEW_SECONDS",
                   attempts_setting="PUBLISHING_MAX_ATTEMPTS")


def claim(model: type[Model], *, pk: int, unsettled: list[str], working_status: str, failed_status: str,
          error_field: str = "error") -> tuple[Model | None, str | None]:
    """(row, lease owner) for one attempt, or (row or None, None) when there is nothing to do."""

    def gave_up(row: Model) -> None:
        values = {"status": failed_status, "lease_owner": "", "lease_expires_at": None,
                  error_field: GAVE_UP.format(n=row.attempts)}
        model.objects.filter(pk=row.pk).update(**values)
        for key, value in values.items():
            setattr(row, key, value)

    row, owner, _ = lease_claim(model.objects.all(), pk=pk, unsettled=unsettled, terms=TERMS, gave_up=gave_up,
                                start=lambda row: {"status": working_status})
    return row, owner


class Lease(_Lease):
    """A claimed attempt under publishing's terms; `progress` is written with each renewal."""

    def __init__(self, model: type[Model], pk: int, owner: str):
        super().__init__(model, pk, owner, terms=TERMS)


def stale_ids(model: type[Model], *, unsettled: list[str], patience: timedelta) -> list[int]:
    """Rows nobody runs (a lapsed lease, or a lost message), stamped queued_at so one lapse is
    sent once; the caller sends them."""
    return lease_stale_requeue(
        model.objects.all(), unsettled=unsettled, patience=patience,
        requeue=lambda ids: model.objects.filter(pk__in=ids).update(queued_at=timezone.now()))
