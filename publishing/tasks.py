"""Celery doors into publishing.services: builds run on the `bulk` queue (long work never blocks
short work), acknowledged late and rejected back to the queue if the worker dies."""

from celery import shared_task
from django.conf import settings


def bulk_queue() -> str:
    return f"{settings.CELERY_QUEUE_PREFIX}bulk"


@shared_task(name="publishing.dataset_version_build", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dataset_version_build_task(version_id: int) -> None:
    from .services import dataset_version_build  # services import this module

    dataset_version_build(version_id=version_id)


@shared_task(name="publishing.download_request_build", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def download_request_build_task(download_id: int) -> None:
    from .downloads import download_request_build

    download_request_build(download_id=download_id)


@shared_task(name="publishing.datasets_auto_publish", ignore_result=True)
def datasets_auto_publish_task() -> int:
    from .services import datasets_auto_publish

    return datasets_auto_publish()


@shared_task(name="publishing.dataset_versions_reenqueue_stale", ignore_result=True)
def dataset_versions_reenqueue_stale_task() -> int:
    from .services import dataset_versions_reenqueue_stale

    return dataset_versions_reenqueue_stale()


@shared_task(name="publishing.downloads_expire", ignore_result=True)
def downloads_expire_task() -> int:
    from .downloads import downloads_expire

    return downloads_expire()
