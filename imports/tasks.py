from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="bulk.specimen_import", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def specimen_import_task(batch_id: int) -> None:
    """A door into the import services (specimen records or a checklist, by the batch's kind): the
    service claims the batch's lease, so a redelivered batch that settled, or that another live
    task runs, is a no-op."""
    from .run import import_batch_process  # the service modules import this one

    import_batch_process(batch_id=batch_id)


@shared_task(name="bulk.import_batch_undo", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def import_batch_undo_task(batch_id: int) -> None:
    """A door into the undo service, on the imports' queue; a redelivered undo that ran is a no-op."""
    from .undo import import_batch_undo_run  # the service module imports this one

    import_batch_undo_run(batch_id=batch_id)


@shared_task(name="specimens.import_batch_reenqueue_stale", ignore_result=True)
def import_batch_reenqueue_stale_task() -> int:
    """The import reconciler (beat every 30 s, on the short default queue): imports.batches."""
    from .batches import import_batch_reenqueue_stale

    return import_batch_reenqueue_stale()


@worker_ready.connect
def import_batch_reenqueue_stale_on_worker_ready(**kwargs) -> None:
    """A (re)started worker takes up the imports of a worker that died, without waiting for beat.

    Sent twice, on the short queue like the beat entry: now, for leases that lapsed while no
    worker ran, and one lease later, for the leases of tasks killed just before this start.
    Sent as tasks, so the worker's main process opens no database connection its pool inherits.
    """
    from django.conf import settings

    for countdown in (0, settings.IMPORT_LEASE_SECONDS + 1):
        import_batch_reenqueue_stale_task.apply_async(queue=settings.CELERY_TASK_DEFAULT_QUEUE, countdown=countdown,
                                                      expires=countdown + 60)
