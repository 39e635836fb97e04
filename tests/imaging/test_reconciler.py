"""The lease and the reconciler, in-process: what a task does with an image another task holds,
and which images beat and a starting worker queue again (DESIGN §5). Real workers killed and
restarted: test_recovery.py."""

import json
from datetime import timedelta

import pytest
from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone

from collections_portal.celery import app
from imaging import services
from imaging.models import ImageAsset
from imaging.services import image_asset_process
from imaging.tasks import image_asset_process_task, image_asset_reenqueue_stale_task

from . import files
from .test_pipeline import receive

pytestmark = pytest.mark.django_db

Status = ImageAsset.Status


def _leased(asset: ImageAsset, *, ends_in: float, queued_ago: float = 60) -> None:
    """As if a task on another worker held the image, its lease ending `ends_in` seconds from now
    (negative: lapsed, the task died), the image sent to the queue `queued_ago` seconds ago."""
    now = timezone.now()
    ImageAsset.objects.filter(pk=asset.pk).update(
        lease_owner="other-host:4242:0123456789ab", lease_expires_at=now + timedelta(seconds=ends_in),
        queued_at=now - timedelta(seconds=queued_ago))


def _queued_ago(asset: ImageAsset, seconds: float) -> None:
    ImageAsset.objects.filter(pk=asset.pk).update(queued_at=timezone.now() - timedelta(seconds=seconds))


def _queued_ids(callbacks) -> list[int]:
    assert all(c.func.__self__.name == "imaging.image_asset_process" for c in callbacks)
    return [c.args[0] for c in callbacks]


def _tick(django_capture_on_commit_callbacks) -> list[int]:
    """One beat tick of the reconciler; the images it queued."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        n = image_asset_reenqueue_stale_task.apply().get()
    assert n == len(callbacks)
    return _queued_ids(callbacks)


def test_a_task_finding_the_image_leased_by_a_live_task_does_nothing(batch, tmp_path, media, django_assert_num_queries):
    asset = receive(batch, files.write(files.page(300, 200), tmp_path / "IMG_0001.tif"))
    _leased(asset, ends_in=20)

    with django_assert_num_queries(3):  # savepoint, the locked read, release: no stage runs
        assert image_asset_process(asset_id=asset.pk) is None

    asset.refresh_from_db()
    assert (asset.status, asset.attempts, asset.lease_owner) == (Status.RECEIVED, 0, "other-host:4242:0123456789ab")


def test_a_task_takes_over_an_image_whose_lease_lapsed_and_releases_the_lease_when_done(
        batch, specimen, tmp_path, media):
    asset = receive(batch, files.write(files.page(300, 200), tmp_path / "NHMUK010123456_1.tif"))
    _leased(asset, ends_in=-1)

    assert image_asset_process_task.apply(args=(asset.pk,)).successful()

    asset.refresh_from_db()
    assert (asset.status, asset.specimen_id, asset.attempts) == (Status.DONE, specimen.pk, 1)
    assert (asset.lease_owner, asset.lease_expires_at) == ("", None)


def test_reconciler_queues_an_image_whose_lease_lapsed_and_leaves_live_waiting_and_settled_ones_alone(
        batch, specimen, tmp_path, media, django_capture_on_commit_callbacks):
    lapsed = receive(batch, files.write(files.page(300, 200), tmp_path / "NHMUK010123456_1.tif"))
    live = receive(batch, files.write(files.page(300, 200, colour=(90, 120, 60)), tmp_path / "IMG_0002.tif"))
    waiting = receive(batch, files.write(files.page(300, 200, colour=(60, 90, 120)), tmp_path / "IMG_0003.tif"))
    settled = receive(batch, files.text_as_tif(tmp_path / "notes.tif"))
    assert image_asset_process_task.apply(args=(settled.pk,)).successful()
    _leased(lapsed, ends_in=-1)  # its worker was killed
    _leased(live, ends_in=20)  # its task is still at work
    _leased(settled, ends_in=-600)

    assert _tick(django_capture_on_commit_callbacks) == [lapsed.pk]

    image_asset_process_task.apply(args=(lapsed.pk,)).get()  # the queued message does the work
    for asset in (lapsed, live, waiting, settled):
        asset.refresh_from_db()
    assert (lapsed.status, lapsed.specimen_id) == (Status.DONE, specimen.pk)
    assert (live.status, live.attempts, waiting.status) == (Status.RECEIVED, 0, Status.RECEIVED)
    assert (settled.status, settled.error_code) == (Status.FAILED, "unsupported_type")


def test_a_lapsed_lease_is_queued_once_not_on_every_beat(batch, tmp_path, media, django_capture_on_commit_callbacks):
    asset = receive(batch, files.write(files.page(300, 200), tmp_path / "IMG_0004.jpg"))
    _leased(asset, ends_in=-1)

    first, next_tick = _tick(django_capture_on_commit_callbacks), _tick(django_capture_on_commit_callbacks)
    _queued_ago(asset, 31 * 60)  # the copy was lost too: sent again once the patience runs out
    after_the_patience = _tick(django_capture_on_commit_callbacks)

    assert (first, next_tick, after_the_patience) == ([asset.pk], [], [asset.pk])


def test_an_image_never_claimed_is_sent_again_only_after_30_minutes(batch, tmp_path, media,
                                                                     django_capture_on_commit_callbacks):
    asset = receive(batch, files.write(files.page(300, 200), tmp_path / "IMG_0005.jpg"))  # e.g. behind a long queue

    just_sent = _tick(django_capture_on_commit_callbacks)
    _queued_ago(asset, 29 * 60)
    before = _tick(django_capture_on_commit_callbacks)
    _queued_ago(asset, 31 * 60)
    after = _tick(django_capture_on_commit_callbacks)

    assert (just_sent, before, after) == ([], [], [asset.pk])


def test_a_poison_image_fails_after_three_tries(batch, tmp_path, media, monkeypatch):
    asset = receive(batch, files.write(files.page(300, 200), tmp_path / "IMG_0006.tif"))

    def out_of_memory(asset, work):
        raise MemoryError("the decoder ran out of memory")

    monkeypatch.setattr(services, "STAGES", ((Status.RECEIVED, out_of_memory),))
    for attempt in (1, 2, 3):
        with pytest.raises(MemoryError):
            image_asset_process(asset_id=asset.pk)
        assert ImageAsset.objects.get(pk=asset.pk).attempts == attempt
        _leased(asset, ends_in=-1)  # as a pool child killed mid-stage leaves it

    assert image_asset_process(asset_id=asset.pk) == Status.FAILED
    asset.refresh_from_db()
    assert (asset.error_code, asset.attempts) == ("gave_up", 3)
    assert "3 times" in asset.error_text


def test_beat_runs_the_reconciler_every_30_seconds_on_the_short_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["imaging-reenqueue-stale"]

    assert entry["task"] == image_asset_reenqueue_stale_task.name
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 30
    assert entry["options"]["queue"].endswith("default")  # never behind a backlog on the imaging queue
    assert app.conf.beat_schedule["imaging-reenqueue-stale"]["task"] == entry["task"]
    assert settings.IMAGING_LEASE_SECONDS == 30 and settings.IMAGING_LEASE_RENEW_SECONDS == 10


def test_a_starting_worker_sends_the_reconciler_now_and_again_one_lease_later(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = queue = f"{settings.CELERY_QUEUE_PREFIX}worker-ready"
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        client.delete(queue)
        try:
            worker_ready.send(sender=None)
            sent = [json.loads(raw)["headers"] for raw in reversed(client.lrange(queue, 0, -1))]
        finally:
            client.delete(queue)

    sent = [h for h in sent if h["task"].startswith("imaging.")]  # the importer's reconciler is sent too
    assert [h["task"] for h in sent] == [image_asset_reenqueue_stale_task.name] * 2
    assert sent[0]["eta"] is None
    delay = timezone.datetime.fromisoformat(sent[1]["eta"]) - timezone.now()
    assert timedelta(seconds=settings.IMAGING_LEASE_SECONDS) < delay <= timedelta(seconds=settings.IMAGING_LEASE_SECONDS + 1)
