"""Celery doors into portal.services: ids in, one service call each."""

from celery import shared_task


@shared_task(name="portal.exhibition_item_thumbnail_cut", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             autoretry_for=(OSError,), retry_backoff=5, max_retries=3)
def exhibition_item_thumbnail_cut_task(item_id: int) -> None:
    from .services import exhibition_item_thumbnail_cut  # services import this module

    exhibition_item_thumbnail_cut(item_id=item_id)


@shared_task(name="portal.published_counts_refresh", ignore_result=True)
def published_counts_refresh_task() -> None:
    from .services import published_counts_refresh

    published_counts_refresh()
