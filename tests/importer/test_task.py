import pytest

from imports.services import import_batch_create, import_batch_enqueue
from specimens.models import ImportBatch, Specimen
from imports.tasks import specimen_import_task

from .conftest import DWCA

pytestmark = pytest.mark.django_db


def test_task_runs_the_batch_once_and_a_redelivery_is_a_no_op(collection):
    batch = import_batch_create(collection=collection, path=DWCA / "gbif-pipelines-validator/dwca/Archive.zip")

    specimen_import_task(batch.pk)
    specimen_import_task(batch.pk)  # redelivered: the batch is no longer pending

    batch.refresh_from_db()
    assert (batch.status, batch.inserted_count, batch.rows_total, batch.rows_done) == (ImportBatch.Status.DONE, 19, 19, 19)
    assert batch.started_at and batch.finished_at
    assert Specimen.objects.count() == 19


def test_enqueue_waits_for_commit(collection, django_capture_on_commit_callbacks):
    batch = import_batch_create(collection=collection, path=DWCA / "gbif-pipelines-validator/dwca/Archive.zip")
    with django_capture_on_commit_callbacks() as callbacks:
        import_batch_enqueue(batch=batch)
    assert len(callbacks) == 1
