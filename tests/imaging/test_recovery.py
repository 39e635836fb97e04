"""Images that recover on their own: a lease on each image's row, renewed while a task works,
lapses when the worker dies; a restarted worker or beat queues the image again (DESIGN §5).

Real worker processes and a real broker, except the late duplicate, which is the task run in
this process (a real worker redelivers the killed worker's own messages in the first test).
The crash worker's lease clock is scaled down (worker_settings: lease 5 s, renewal 1 s, beat 1 s;
production 30 s, 10 s, 30 s).
"""

import json
import re
import tempfile
import time
from pathlib import Path

import pytest
from django.apps import apps
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.db.models.functions import Now

from collections_portal.celery import app
from imaging.models import UNSETTLED, Derivative, ImageAsset
from imaging.services import (
    image_asset_receive,
    image_asset_reenqueue_stale,
    imaging_batch_create,
    imaging_batch_ingest_paths,
)
from imaging.tasks import image_asset_process_task
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory

from . import files, worker_settings
from .test_worker import _assert_each_processed_once, _folder, _mid_derivative, _wait_for

CRASH_IMAGING_QUEUE = worker_settings.CELERY_TASK_ROUTES["imaging.*"]["queue"]


def _ingest(institution, tmp_path, numbers, size):
    collection = CollectionFactory(institution=institution, code="BOT")
    for number in numbers:
        SpecimenFactory(collection=collection, catalog_number=number)
    batch = imaging_batch_create(institution=institution, name="recovery")
    return imaging_batch_ingest_paths(batch=batch, paths=[_folder(tmp_path, numbers, size=size)])


def _unsettled():
    return ImageAsset.objects.filter(status__in=UNSETTLED)


def _snapshot(media: Path) -> dict:
    """Everything a rerun could change: rows, derivative rows, history, files and their mtimes."""
    event_model = apps.get_model("imaging", "ImageAssetEvent")
    return {
        "assets": list(ImageAsset.objects.order_by("pk").values_list(
            "pk", "status", "attempts", "updated_at", "finished_at", "lease_owner", "lease_expires_at", "queued_at")),
        "derivatives": list(Derivative.objects.order_by("pk").values_list("pk", "asset_id", "spec", "updated_at")),
        "events": event_model.objects.count(),
        "files": sorted((p.relative_to(media).as_posix(), p.stat().st_mtime_ns)
                        for folder in ("uploads", "masters", "derivatives") for p in (media / folder).rglob("*")
                        if p.is_file()),
    }


def _task_lines(log: Path, state: str) -> list[str]:
    """Task ids of imaging.image_asset_process the worker log shows as `received` or `succeeded`."""
    return re.findall(rf"Task imaging\.image_asset_process\[([0-9a-f-]+)\] {state}", log.read_text())


def _restore_unacked(queue: str) -> dict[str, int]:
    """Put the dead worker's unacknowledged messages back on `queue`, as kombu does once the
    Redis visibility timeout (an hour in production) has passed; returns {task id: asset id}."""
    restored = {}
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel.client
        for tag, raw in client.hscan_iter(channel.unacked_key):
            message, _exchange, routing_key = json.loads(raw)
            if routing_key != queue:
                continue  # another test run's message
            restored[message["headers"]["id"]] = int(message["headers"]["argsrepr"].strip("(),"))
            channel.qos.restore_by_tag(tag.decode())
    return restored


@pytest.mark.worker
@pytest.mark.parametrize("crash_worker", [{"concurrency": 2}], indirect=True)
def test_whole_worker_sigkilled_mid_batch_then_restarted_processes_every_image_exactly_once(
        crash_worker, institution, tmp_path):
    media = tmp_path / "media"
    numbers = ["E00000101", "E00000102", "E00000103", "E00000104"]
    _ingest(institution, tmp_path, numbers, size=(4000, 6000))

    _wait_for(lambda: _mid_derivative(media), message="a render in progress")
    crash_worker.kill_all()  # main process, pool children and beat: one process group
    killed = set(_unsettled().exclude(lease_owner="").values_list("pk", flat=True))
    assert killed, "no image was in the middle of processing when the worker died"

    restarted = time.monotonic()
    crash_worker.start(beat=False)  # no beat: the restarted worker alone takes the images up
    _wait_for(lambda: not _unsettled().exists(), timeout=60, message="every image settled within 60 s of the restart")
    recovery_seconds = time.monotonic() - restarted
    print(f"\nrecovery: {len(numbers)} images, {len(killed)} in flight when killed, "
          f"all done {recovery_seconds:.1f} s after the restart")

    assets = _assert_each_processed_once(media, len(numbers))  # 3 derivative rows each, no orphan file
    assert {a.pk: a.attempts for a in assets} == {a.pk: 2 if a.pk in killed else 1 for a in assets}
    assert {(a.lease_owner, a.lease_expires_at) for a in assets} == {("", None)}  # every lease released
    done_transitions = (apps.get_model("imaging", "ImageAssetEvent").objects.filter(status="done")
                        .values("pgh_obj_id").annotate(n=Count("id")))
    assert sorted(row["n"] for row in done_transitions) == [1] * len(numbers)  # each image finished once
    for asset in assets:
        folder = media / "derivatives" / asset.sha256
        assert sorted(p.name for p in folder.iterdir()) == ["iiif", "thumb-256.jpg", "web-2048.jpg"]
        assert not list((Path(tempfile.gettempdir()) / "imaging-work").glob(f"{asset.uuid}.*"))  # no scratch left

    # An hour later the broker hands the dead worker's messages out again: they change nothing.
    before = _snapshot(media)
    restored = _restore_unacked(CRASH_IMAGING_QUEUE)
    assert killed <= set(restored.values())
    _wait_for(lambda: set(restored) <= set(_task_lines(crash_worker.log_path, "succeeded")),
              timeout=30, message="the redelivered messages to run")
    assert _snapshot(media) == before


@pytest.mark.django_db
def test_a_late_duplicate_delivery_for_a_settled_image_does_nothing(batch, specimen, tmp_path, media,
                                                                  django_assert_num_queries):
    path = files.write(files.page(600, 400), tmp_path / "NHMUK010123456_1.tif")
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
    assert image_asset_process_task.apply(args=(asset.pk,)).successful()
    before = _snapshot(media)

    # The same message again, as the broker redelivers it after its visibility timeout.
    with django_assert_num_queries(3):  # savepoint, the locked read, release
        assert image_asset_process_task.apply(args=(asset.pk,)).successful()

    assert _snapshot(media) == before
    assert before["assets"][0][1:3] == (ImageAsset.Status.DONE, 1)


@pytest.mark.worker
@pytest.mark.parametrize("crash_worker", [{"concurrency": 2, "env": {"IMAGING_STORE_DELAY_SECONDS": "3"}}], indirect=True)
def test_a_live_tasks_lease_is_renewed_so_it_is_never_queued_again_while_it_works(crash_worker, institution, tmp_path):
    [asset] = _ingest(institution, tmp_path, ["E00000301"], size=(1100, 800))  # ~10 s: three slow stores
    queued_at = ImageAsset.objects.get(pk=asset.pk).queued_at
    lease_is_live = ExpressionWrapper(Q(lease_expires_at__gt=Now()), output_field=BooleanField())
    _wait_for(lambda: ImageAsset.objects.exclude(lease_owner="").filter(pk=asset.pk).exists(),
              message="the task to claim the image")

    started, leases = time.monotonic(), set()
    while (row := ImageAsset.objects.annotate(live=lease_is_live).get(pk=asset.pk)).status in UNSETTLED:
        assert row.live, "the lease lapsed while the task was working"
        leases.add(row.lease_expires_at)
        assert image_asset_reenqueue_stale() == 0  # beat in the worker runs it every second too
        time.sleep(0.2)
    worked = time.monotonic() - started

    assert worked > 1.5 * worker_settings.IMAGING_LEASE_SECONDS  # it outlived its first lease
    assert len(leases) >= worked / worker_settings.IMAGING_LEASE_RENEW_SECONDS / 2  # renewed all along
    row = _wait_for(lambda: ImageAsset.objects.filter(pk=asset.pk, lease_owner="").first(), message="the release")
    assert (row.status, row.attempts, row.queued_at) == (ImageAsset.Status.DONE, 1, queued_at)
    assert len(_task_lines(crash_worker.log_path, "received")) == 1  # never sent a second time
