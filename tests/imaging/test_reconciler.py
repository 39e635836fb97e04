"""The beat reconciler: images stuck past their 30-minute lease are queued again (DESIGN §5)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from collections_portal.celery import app
from imaging.models import ImageAsset
from imaging.tasks import image_asset_process_task, image_asset_reenqueue_stale_task

from . import files
from .test_pipeline import receive

pytestmark = pytest.mark.django_db


def _untouched_for(asset: ImageAsset, minutes: int) -> None:
    """As if the worker holding this image had died `minutes` ago (update() leaves updated_at alone)."""
    ImageAsset.objects.filter(pk=asset.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def _queued_ids(callbacks) -> list[int]:
    assert all(c.func.__self__.name == "imaging.image_asset_process" for c in callbacks)
    return [c.args[0] for c in callbacks]


def test_reconciler_task_requeues_a_stuck_image_and_leaves_a_fresh_one_alone(
        batch, specimen, tmp_path, media, django_capture_on_commit_callbacks):
    stuck = receive(batch, files.write(files.page(300, 200), tmp_path / "NHMUK010123456_1.tif"))
    fresh = receive(batch, files.write(files.page(300, 200, colour=(90, 120, 60)), tmp_path / "IMG_0002.tif"))
    settled = receive(batch, files.text_as_tif(tmp_path / "notes.tif"))
    assert image_asset_process_task.apply(args=(settled.pk,)).successful()
    _untouched_for(stuck, 31)
    _untouched_for(settled, 90)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert image_asset_reenqueue_stale_task.apply().get() == 1

    assert _queued_ids(callbacks) == [stuck.pk]
    # The queued message does the work: the stuck image goes all the way to its specimen.
    image_asset_process_task.apply(args=callbacks[0].args).get()
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    settled.refresh_from_db()
    assert (stuck.status, stuck.specimen_id, stuck.attempts) == (ImageAsset.Status.DONE, specimen.pk, 1)
    assert (fresh.status, fresh.attempts) == (ImageAsset.Status.RECEIVED, 0)
    assert (settled.status, settled.error_code) == (ImageAsset.Status.FAILED, "unsupported_type")


def test_a_requeued_image_waits_a_full_lease_before_it_is_queued_again(batch, tmp_path, media,
                                                                       django_capture_on_commit_callbacks):
    waiting = receive(batch, files.write(files.page(300, 200), tmp_path / "IMG_0003.jpg"))
    _untouched_for(waiting, 45)  # e.g. behind a long queue of big masters

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = image_asset_reenqueue_stale_task.apply().get()
        next_tick = image_asset_reenqueue_stale_task.apply().get()
    _untouched_for(waiting, 31)
    with django_capture_on_commit_callbacks(execute=False) as later:
        after_a_lease = image_asset_reenqueue_stale_task.apply().get()

    assert (first, next_tick, after_a_lease) == (1, 0, 1)
    assert _queued_ids(callbacks) == [waiting.pk] and _queued_ids(later) == [waiting.pk]


def test_beat_runs_the_reconciler_every_five_minutes_on_the_short_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["imaging-reenqueue-stale"]

    assert entry["task"] == image_asset_reenqueue_stale_task.name
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 300
    assert entry["options"]["queue"].endswith("default")  # never behind a backlog on the imaging queue
    assert app.conf.beat_schedule["imaging-reenqueue-stale"]["task"] == entry["task"]
