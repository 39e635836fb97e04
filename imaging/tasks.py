"""Celery doors into imaging.services. Names start with `imaging.`, so settings route them to
the `imaging` queue; acknowledged late and rejected back to the queue if the worker dies."""

from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="imaging.image_asset_process", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             autoretry_for=(OSError,), retry_backoff=5, max_retries=3)
def image_asset_process_task(asset_id: int) -> None:
    from .services import image_asset_process  # services import this module

    image_asset_process(asset_id=asset_id)


@shared_task(name="imaging.image_asset_reenqueue_stale", ignore_result=True)
def image_asset_reenqueue_stale_task() -> int:
    from .services import image_asset_reenqueue_stale

    return image_asset_reenqueue_stale()


@worker_ready.connect
def image_asset_reenqueue_stale_on_worker_ready(**kwargs) -> None:
    """A (re)started worker takes up the images of a worker that died, without waiting for beat.

    Sent twice, on the short queue like the beat entry: now, for leases that lapsed while no
    worker ran, and one lease later, for the leases of tasks killed just before this start.
    Sent as tasks, so the worker's main process opens no database connection its pool inherits.
    """
    from django.conf import settings

    for countdown in (0, settings.IMAGING_LEASE_SECONDS + 1):
        image_asset_reenqueue_stale_task.apply_async(queue=settings.CELERY_TASK_DEFAULT_QUEUE, countdown=countdown,
                                                     expires=countdown + 60)
