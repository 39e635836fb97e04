"""Imports into different collections write at the same time; into the same collection, in turn."""

import psycopg
import pytest
from django.db import connection

from imports.batches import COLLECTION_LOCK
from specimens.models import ImportBatch, Specimen
from tests.factories.institutions import CollectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_import_writing():
    """A second connection holding a collection's write lock, as a running import's write does."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as other:

        def hold(collection):
            other.execute("SELECT pg_advisory_xact_lock(%s, %s)", [COLLECTION_LOCK, collection.pk % 2**31])

        yield hold


def _csv(tmp_path, prefix):
    path = tmp_path / f"{prefix}.csv"
    path.write_text("catalogNumber,scientificName,recordedBy\n" + "".join(
        f"{prefix}{i},Poa annua L.,A. Gray\n" for i in range(5)))
    return path


def test_an_import_into_another_collection_does_not_wait_for_a_running_one(run_import, collection, tmp_path,
                                                                          other_import_writing):
    herbarium = CollectionFactory(institution=collection.institution, code="HERB")
    other_import_writing(collection)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")  # a wait would fail the import instead of hanging the test

    batch = run_import(_csv(tmp_path, "H"), into=herbarium)

    assert (batch.status, batch.inserted_count) == (ImportBatch.Status.DONE, 5)


def test_an_import_into_the_same_collection_waits_for_the_running_one(run_import, collection, tmp_path,
                                                                      other_import_writing):
    other_import_writing(collection)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '1s'")

    batch = run_import(_csv(tmp_path, "Z"))

    assert batch.status == ImportBatch.Status.FAILED  # gave up waiting after 1 s: the lock is there
    assert not Specimen.objects.filter(collection=collection).exists()  # and nothing half-written
