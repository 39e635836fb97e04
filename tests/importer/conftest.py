import pytest

from imports.services import import_batch_create, import_batch_run
from tests.factories.institutions import CollectionFactory, InstitutionFactory
from tests.paths import DWCA  # noqa: F401 — this folder's tests import it from here


@pytest.fixture
def collection(db):
    return CollectionFactory(institution=InstitutionFactory(code="NHMUK"), code="ZOO", name="Zoology")


@pytest.fixture
def run_import(collection):
    """run_import(path, dry_run=False, collection=None) → the finished ImportBatch."""

    def run(path, *, dry_run=False, into=None, user=None):
        batch = import_batch_create(collection=into or collection, path=path, dry_run=dry_run, user=user)
        return import_batch_run(batch_id=batch.pk)

    return run
