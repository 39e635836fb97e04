"""Imports that recover on their own: the whole worker SIGKILLed while an import reads, validates or
writes; a new worker takes the batch up once its lease lapses, runs it from the start, and it ends
as a clean run ends (issue 10 part 2, imports.batches).

Real worker processes and a real broker. The crash worker's lease clock is scaled down
(tests/importer/worker_settings: lease 5 s, renewal 1 s; production 30 s, 10 s, beat 30 s), and
IMPORT_TEST_PAUSE holds the first attempt in the stage under test so the kill lands there.
"""

import json
import random
import time
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection, transaction

from collections_portal.celery import app
from imports.batches import staging_tables
from imports.services import import_batch_create, import_batch_enqueue, import_batch_run
from specimens.models import Identification, ImportBatch, ImportRowError, Specimen, SpecimenAgent
from imports.tasks import specimen_import_task
from tests.factories.institutions import CollectionFactory, InstitutionFactory
from tests.imaging.conftest import CrashWorker

from . import worker_settings

pytestmark = pytest.mark.worker

ROWS = 1_000  # the pause, not the size, holds each stage; mids_assess_import is slow on a fresh table
PAUSE_SECONDS = 20  # far longer than the test needs: the kill always lands inside the stage
SPECIES = ["Bellis perennis", "Poa annua", "Quercus robur", "Fagus sylvatica", "Rosa canina", "Urtica dioica"]
COLLECTORS = ["A. Smith", "B. Jones", "C. Darwin", "J. Hooker", "M. North"]


def _archive(path: Path) -> Path:
    """ROWS specimen rows; every 97th has a latitude that is not a number (a row error)."""
    rng = random.Random(10)
    lines = ["catalogNumber\tscientificName\trecordedBy\tlocality\teventDate\tdecimalLatitude\tdecimalLongitude"]
    for n in range(1, ROWS + 1):
        latitude = "north" if n % 97 == 0 else f"{rng.uniform(50, 58):.4f}"
        lines.append(f"K{n:07d}\t{rng.choice(SPECIES)}\t{' | '.join(rng.sample(COLLECTORS, 2))}\t"
                     f"Site {rng.randint(1, 400)}\t{rng.randint(1850, 2020)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}\t"
                     f"{latitude}\t{rng.uniform(-5, 1):.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def import_crash_worker(transactional_db, tmp_path):
    """A killable worker on its own queues, the bulk tasks of this process routed to it."""
    (tmp_path / "media").mkdir()
    saved_routes = app.conf.task_routes
    app.conf.task_routes = worker_settings.CELERY_TASK_ROUTES
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)  # Celery caches the router built from the old routes
    worker = CrashWorker(tmp_path / "media", tmp_path / "crash-worker.log",
                         env={"DJANGO_SETTINGS_MODULE": "tests.importer.worker_settings"})
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.task_routes = saved_routes
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)


def _wait_for(condition, *, timeout=60, message="the condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(0.1)
    return value


def _outcome(batch: ImportBatch, collection) -> dict:
    """Everything a run writes, without ids and times: comparable between two collections."""
    batch.refresh_from_db()
    specimens = Specimen.objects.filter(collection=collection)
    events = apps.get_model("specimens", "SpecimenEvent").objects.filter(pgh_obj__collection=collection)
    return {
        "batch": (batch.status, batch.rows_total, batch.rows_done, batch.inserted_count, batch.updated_count,
                  batch.unchanged_count, batch.rejected_count, batch.file_errors, batch.file_warnings),
        "row_errors": list(ImportRowError.objects.filter(batch=batch).order_by("line", "column", "message")
                           .values_list("severity", "line", "column", "value", "message")),
        "records": list(specimens.order_by("catalog_number").values_list(
            "catalog_number", "scientific_name", "recorded_by", "locality", "event_date", "event_date_start",
            "decimal_latitude", "decimal_longitude", "status", "version", "taxon__name")),
        "identifications": Identification.objects.filter(specimen__collection=collection, is_current=True).count(),
        "collector_links": sorted(SpecimenAgent.objects.filter(specimen__collection=collection)
                                  .values_list("specimen__catalog_number", "agent__name", "role", "order")),
        "events": sorted(events.values_list("pgh_obj__catalog_number", "pgh_label", "version")),
    }


@pytest.mark.parametrize("stage", [ImportBatch.Status.READING, ImportBatch.Status.VALIDATING,
                                   ImportBatch.Status.WRITING])
def test_worker_sigkilled_while_an_import_is_in_a_stage_recovers_to_exactly_a_clean_runs_result(
        stage, import_crash_worker, tmp_path):
    worker = import_crash_worker
    worker.env["IMPORT_TEST_PAUSE"] = json.dumps({stage: PAUSE_SECONDS})
    worker.start(beat=False)
    institution = InstitutionFactory(code="KILL")
    crashed_into = CollectionFactory(institution=institution, code="CRASH")
    clean_into = CollectionFactory(institution=institution, code="CLEAN")
    source = _archive(tmp_path / "herbarium.txt")

    with transaction.atomic():
        batch = import_batch_create(collection=crashed_into, path=source)
        import_batch_enqueue(batch=batch)
    _wait_for(lambda: f"import {batch.pk}: test pause in {stage}" in worker.log_path.read_text(),
              message=f"the import to pause in {stage}")
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (stage, 1)
    worker.kill_all()  # main process and pool child together, as a lost machine would
    killed = time.monotonic()

    left = staging_tables(batch_id=batch.pk)
    assert left, "the killed attempt left no staging table to clean up"
    assert not Specimen.objects.filter(collection=crashed_into).exists()  # a killed write leaves nothing

    worker.env["IMPORT_TEST_PAUSE"] = "{}"
    worker.start(beat=False)  # no beat: the restarted worker alone takes the batch up (worker_ready)
    _wait_for(lambda: ImportBatch.objects.filter(pk=batch.pk, status__in=["done", "failed", "rejected"]).exists(),
              timeout=60, message="the batch to settle within 60 s of the kill")
    recovery_seconds = time.monotonic() - killed
    print(f"\nkilled in {stage}: {ROWS:,} rows, settled {recovery_seconds:.1f} s after the kill")

    clean = import_batch_run(batch_id=import_batch_create(collection=clean_into, path=source).pk)
    crashed = _outcome(batch, crashed_into)
    assert crashed == _outcome(clean, clean_into)
    assert crashed["batch"][:5] == ("done", ROWS, ROWS, ROWS - ROWS // 97, 0)
    batch.refresh_from_db()
    assert (batch.attempts, batch.lease_owner, batch.lease_expires_at) == (2, "", None)
    assert staging_tables() == []
    with connection.cursor() as cursor:  # no UNLOGGED table left of any import
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'import\\_%%' AND relpersistence = 'u'")
        assert cursor.fetchone()[0] == 0

    # A late redelivery of the killed task's message does nothing; a rerun of the file changes nothing.
    before = _outcome(batch, crashed_into)
    specimen_import_task.apply(args=(batch.pk,))
    assert _outcome(batch, crashed_into) == before
    rerun = import_batch_run(batch_id=import_batch_create(collection=crashed_into, path=source).pk)
    assert (rerun.inserted_count, rerun.updated_count, rerun.unchanged_count) == (0, 0, ROWS - ROWS // 97)
