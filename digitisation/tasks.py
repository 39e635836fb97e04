"""Celery doors into the rollup services (beat sends them; running one twice changes nothing)."""

from celery import shared_task


@shared_task(name="digitisation.rollups_refresh", ignore_result=True, acks_late=True)
def rollups_refresh_task() -> None:
    from digitisation.services import rollups_refresh  # services import models; keep the worker start light

    rollups_refresh()


@shared_task(name="digitisation.snapshots_take", ignore_result=True, acks_late=True)
def snapshots_take_task() -> None:
    from digitisation.services import snapshots_take

    snapshots_take()
