"""Real worker, real broker: the command waits for a batch; SIGKILL of a pool child mid-derivative
loses nothing and leaves no duplicate rows or orphan files (DESIGN §5 Celery rules). The whole
worker killed and restarted: test_recovery.py."""

import os
import time

import pytest
from django.core.management import call_command

from imaging.models import Derivative, ImageAsset
from imaging.services import imaging_batch_create, imaging_batch_ingest_paths, imaging_orphans_find
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory

from . import files
from .conftest import stored_files

pytestmark = pytest.mark.worker


def _folder(tmp_path, catalog_numbers, size=(300, 200)):
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i, number in enumerate(catalog_numbers):
        files.write(files.page(*size, colour=(200, 180 - i * 10, 140)), folder / f"{number}_1.tif")
    return folder


def test_ingest_images_waits_and_prints_the_summary_line(transactional_db, celery_worker_process, institution, tmp_path, capsys):
    collection = CollectionFactory(institution=institution, code="BOT")
    SpecimenFactory(collection=collection, catalog_number="K000111111", status=Specimen.Status.PUBLISHED)
    folder = _folder(tmp_path, ["K000111111", "K000999999"])
    (folder / "notes.tif").write_text("not an image")

    call_command("ingest_images", str(folder), "--institution", "own", "--batch", "Tray 7", "--wait", "--timeout", "120")

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "processed=3 linked=1 unmatched=1 rejected=1"
    assert any(line.startswith("rejected notes.tif: unsupported_type") for line in lines)


def _wait_for(predicate, timeout=90, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def _mid_derivative(media):
    """An image whose render stage is running and has already written some derivative files."""
    for asset in ImageAsset.objects.filter(status=ImageAsset.Status.IDENTIFIED):
        # os.walk, not rglob: a staging folder renamed into place while we look is skipped, not an error.
        for _root, _dirs, names in os.walk(media / "derivatives" / asset.sha256):
            if any(name.endswith(".jpg") for name in names):
                return asset
    return None


def _assert_each_processed_once(media, n):
    assets = list(ImageAsset.objects.order_by("id"))
    assert len(assets) == n
    assert {a.status for a in assets} == {ImageAsset.Status.DONE}, [
        (a.status, a.error_code, a.error_text, a.attempts) for a in assets]
    assert Derivative.objects.count() == 3 * n
    assert all(a.derivatives.count() == 3 for a in assets)
    assert imaging_orphans_find() == []
    assert not [f for f in stored_files(media) if f.endswith(".part") or f.startswith("uploads/")]
    for a in assets:
        tiles = media / "derivatives" / a.sha256 / "iiif"
        assert (tiles / "info.json").exists() and len(list(tiles.rglob("default.jpg"))) >= 3
    return assets


def test_sigkill_of_the_pool_child_mid_derivative_processes_every_image_exactly_once(crash_worker, institution, tmp_path):
    media = tmp_path / "media"
    collection = CollectionFactory(institution=institution, code="BOT")
    numbers = ["E00000001", "E00000002", "E00000003"]
    for number in numbers:
        SpecimenFactory(collection=collection, catalog_number=number)
    batch = imaging_batch_create(institution=institution, name="crash")
    imaging_batch_ingest_paths(batch=batch, paths=[_folder(tmp_path, numbers, size=(1100, 800))])

    victim_asset = _wait_for(lambda: _mid_derivative(media), message="a render in progress")
    # The main process sees WorkerLostError and requeues the task; that copy finds the dead
    # child's lease still live and does nothing; once the lease lapses, beat queues it again.
    crash_worker.kill_child()

    _wait_for(lambda: not ImageAsset.objects.exclude(status__in=["done", "needs_attention", "failed"]).exists(),
              message="every image to settle")
    _assert_each_processed_once(media, len(numbers))
    victim_asset.refresh_from_db()
    assert victim_asset.attempts == 2
    assert sorted(Specimen.objects.values_list("media_count", flat=True)) == [1, 1, 1]
