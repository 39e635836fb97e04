"""The import batch's lease, attempts and reconciler, in-process (imports.batches). The
same with a real worker killed in each stage: test_recovery.py."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models.functions import Now
from django.utils import timezone

from collections_portal.celery import app
from imports.batches import (
    IMPORT_GAVE_UP, ImportLease, LeaseLost, import_batch_claim, import_batch_reenqueue_stale, staging_tables,
)
from imports.services import import_batch_create, import_batch_run
from specimens.models import ImportBatch, ImportRowError, Specimen
from imports.tasks import import_batch_reenqueue_stale_task, specimen_import_task

pytestmark = pytest.mark.django_db

CSV = ("catalogNumber,scientificName,locality,decimalLatitude,decimalLongitude\n"
       "L1,Poa annua,Kew,51.5,-0.3\nL2,Poa annua,Kew,north,-0.3\n")  # L2 is rejected


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "lease.csv"
    path.write_text(CSV)
    return path


def _leased(batch, *, ends_in: int, attempts: int, status="reading", owner="gone-host:1:abc"):
    """The batch as a task that claimed it leaves it: still running, or killed (lease lapsing)."""
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=status, attempts=attempts, lease_owner=owner, lease_expires_at=Now() + timedelta(seconds=ends_in))


def _staging(batch, attempt, part="stage"):
    """An UNLOGGED staging table as a killed attempt leaves it."""
    name = f"import_{part}_{batch.pk}_{attempt}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE UNLOGGED TABLE "{name}" (c0 text)')
    return name


def _tick(django_capture_on_commit_callbacks) -> list[int]:
    """One reconciler run; the batch ids it sent to the bulk queue."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        import_batch_reenqueue_stale_task.apply().get()
    return [cb.args[0] for cb in callbacks if getattr(cb, "func", None) == specimen_import_task.delay]


def test_a_run_claims_counts_and_releases_the_lease(collection, source):
    batch = import_batch_create(collection=collection, path=source)

    batch = import_batch_run(batch_id=batch.pk)

    assert (batch.status, batch.attempts, batch.lease_owner, batch.lease_expires_at) == ("done", 1, "", None)
    assert (batch.inserted_count, batch.rejected_count) == (1, 1) and staging_tables(batch_id=batch.pk) == []


def test_a_batch_leased_by_a_live_task_is_left_to_it(collection, source):
    batch = import_batch_create(collection=collection, path=source)
    _leased(batch, ends_in=20, attempts=1)

    again = import_batch_run(batch_id=batch.pk)

    assert (again.status, again.attempts) == ("reading", 1)
    assert not Specimen.objects.exists()


def test_a_lapsed_lease_is_run_again_from_the_start(collection, source):
    batch = import_batch_create(collection=collection, path=source)
    _leased(batch, ends_in=-1, attempts=1, status="validating")
    ImportRowError.objects.create(batch=batch, line=3, column="decimalLatitude", value="north", message="first try")
    leftover = _staging(batch, 1)

    batch = import_batch_run(batch_id=batch.pk)

    assert (batch.status, batch.attempts, batch.inserted_count, batch.rejected_count) == ("done", 2, 1, 1)
    errors = list(ImportRowError.objects.filter(batch=batch).values_list("line", "message"))
    assert errors == [(3, "decimalLatitude must be a number.")]  # this attempt's only
    assert leftover not in staging_tables() and staging_tables(batch_id=batch.pk) == []


def test_after_three_starts_the_batch_fails_with_a_reason_and_its_tables_go(collection, source,
                                                                            django_capture_on_commit_callbacks):
    batch = import_batch_create(collection=collection, path=source)
    _leased(batch, ends_in=-1, attempts=settings.IMPORT_MAX_ATTEMPTS, status="writing")
    _staging(batch, 3, "rows")

    with django_capture_on_commit_callbacks(execute=True):
        _claimed, owner = import_batch_claim(batch_id=batch.pk)

    batch.refresh_from_db()
    assert owner is None
    assert (batch.status, batch.attempts, batch.lease_owner) == ("failed", 3, "")
    assert batch.file_errors == [IMPORT_GAVE_UP.format(n=3)]
    assert "stopped 3 times" in batch.file_errors[0] and "No records from this file were saved" in batch.file_errors[0]
    assert staging_tables(batch_id=batch.pk) == [] and not Specimen.objects.exists()


@pytest.mark.django_db(transaction=True)  # the renewal thread's own connection sees the committed rows
def test_a_lease_another_task_took_is_lost_and_the_statement_in_flight_is_cancelled(collection, source, settings):
    settings.IMPORT_LEASE_RENEW_SECONDS = 0.2
    batch, owner = import_batch_claim(batch_id=import_batch_create(collection=collection, path=source).pk)
    lease = ImportLease(batch, owner)
    started = time.monotonic()

    with lease.kept():
        # As when this task stalled past its lease and another task claimed the batch.
        ImportBatch.objects.filter(pk=batch.pk).update(lease_owner="other-host:2:def")
        with pytest.raises(DatabaseError, match="cancel"), connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(30)")  # a long statement of this run: cancelled, not waited for
        with pytest.raises(LeaseLost):
            lease.check()
        with pytest.raises(LeaseLost):
            lease.set(batch, rows_done=1)

    assert time.monotonic() - started < 15
    assert ImportBatch.objects.get(pk=batch.pk).lease_owner == "other-host:2:def"  # the release left it alone


def test_a_late_redelivery_finds_the_batch_settled_and_does_nothing(collection, source):
    batch = import_batch_run(batch_id=import_batch_create(collection=collection, path=source).pk)
    before = ImportBatch.objects.filter(pk=batch.pk).values().get()

    specimen_import_task(batch.pk)

    assert ImportBatch.objects.filter(pk=batch.pk).values().get() == before
    assert Specimen.objects.count() == 1


def test_the_reconciler_sends_a_lapsed_batch_once_per_lapse(collection, source, django_capture_on_commit_callbacks):
    live = import_batch_create(collection=collection, path=source)
    _leased(live, ends_in=20, attempts=1)
    lapsed = import_batch_create(collection=collection, path=source)
    _leased(lapsed, ends_in=-1, attempts=1)
    done = import_batch_run(batch_id=import_batch_create(collection=collection, path=source).pk)

    first, next_tick = _tick(django_capture_on_commit_callbacks), _tick(django_capture_on_commit_callbacks)

    assert (first, next_tick) == ([lapsed.pk], [])
    assert ImportBatch.objects.get(pk=lapsed.pk).queued_at is not None
    assert done.pk not in first


def test_a_batch_never_claimed_is_sent_again_only_after_the_patience(collection, source,
                                                                    django_capture_on_commit_callbacks):
    batch = import_batch_create(collection=collection, path=source)
    ImportBatch.objects.filter(pk=batch.pk).update(queued_at=timezone.now())

    just_sent = _tick(django_capture_on_commit_callbacks)
    ImportBatch.objects.filter(pk=batch.pk).update(queued_at=timezone.now() - timedelta(minutes=31))
    lost = _tick(django_capture_on_commit_callbacks)

    assert (just_sent, lost) == ([], [batch.pk])


def test_the_reconciler_drops_staging_tables_nobody_works_on(collection, source):
    settled = import_batch_run(batch_id=import_batch_create(collection=collection, path=source).pk)
    running = import_batch_create(collection=collection, path=source)
    _leased(running, ends_in=20, attempts=2)
    names = {
        "settled": _staging(settled, 1), "gone": f"import_stage_{settled.pk + 1000}_1",
        "older attempt": _staging(running, 1, "rows"), "current attempt": _staging(running, 2, "rows"),
    }
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE UNLOGGED TABLE "{names["gone"]}" (c0 text)')

    import_batch_reenqueue_stale()

    assert staging_tables() == [names["current attempt"]]


def test_beat_runs_the_import_reconciler_every_30_seconds_on_the_short_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["imports-reenqueue-stale"]

    assert entry["task"] == import_batch_reenqueue_stale_task.name and entry["task"] in app.tasks
    assert entry["schedule"] == 30
    assert entry["options"]["queue"].endswith("default")  # never behind a backlog of imports
    assert (settings.IMPORT_LEASE_SECONDS, settings.IMPORT_LEASE_RENEW_SECONDS, settings.IMPORT_MAX_ATTEMPTS) == (30, 10, 3)
