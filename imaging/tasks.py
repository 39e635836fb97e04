"""Celery doors into imaging.services. Names start with `imaging.`, so settings route them to
the `imaging` queue; acknowledged late and rejected back to the queue if the worker dies."""

from celery import shared_task


@shared_task(name="imaging.image_asset_process", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             autoretry_for=(OSError,), retry_backoff=5, max_retries=3)
def image_asset_process_task(asset_id: int) -> None:
    from .services import image_asset_process  # services import this module

    image_asset_process(asset_id=asset_id)


@shared_task(name="imaging.image_asset_reenqueue_stale", ignore_result=True)
def image_asset_reenqueue_stale_task() -> int:
    from .services import image_asset_reenqueue_stale

    return image_asset_reenqueue_stale()
