from celery import shared_task


@shared_task(name="bulk.specimen_import", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def specimen_import_task(batch_id: int) -> None:
    """A door into the import services (specimen records or a checklist, by the batch's kind); a
    redelivered batch that already ran is a no-op."""
    from specimens.imports.taxa import import_batch_run_by_kind  # the service modules import this one
    from specimens.imports.upload import import_upload_discard

    batch = import_batch_run_by_kind(batch_id=batch_id)
    if batch is not None and batch.status in ("done", "rejected", "failed"):
        import_upload_discard(batch=batch)


@shared_task(name="bulk.import_batch_undo", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def import_batch_undo_task(batch_id: int) -> None:
    """A door into the undo service, on the imports' queue; a redelivered undo that ran is a no-op."""
    from specimens.imports.undo import import_batch_undo_run  # the service module imports this one

    import_batch_undo_run(batch_id=batch_id)
