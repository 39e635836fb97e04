import pytest
import zxingcpp
from django.core.files.storage import default_storage

from imaging.models import Derivative, ImageAsset
from imaging.services import image_asset_process, image_asset_receive, imaging_orphans_find

from . import files
from .conftest import stored_files

pytestmark = pytest.mark.django_db


def receive(batch, path):
    with open(path, "rb") as f:
        return image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)


def test_image_with_code128_barcode_is_linked_with_all_derivatives(batch, specimen, tmp_path, media):
    path = files.write(files.with_barcode(files.page(700, 500), "NHMUK010123456"), tmp_path / "IMG_0001.tif")
    asset = receive(batch, path)

    assert image_asset_process(asset_id=asset.pk) == ImageAsset.Status.DONE

    asset.refresh_from_db()
    specimen.refresh_from_db()
    assert asset.specimen == specimen and asset.link_method == "barcode" and asset.order == 1
    assert asset.barcodes == [{"text": "NHMUK010123456", "format": "Code128", "outcome": "linked"}]
    assert (asset.mime_type, asset.width, asset.height) == ("image/tiff", 700, 500)
    assert asset.master_key == f"masters/{asset.sha256[:2]}/{asset.sha256}"
    assert specimen.media_count == 1
    specs = dict(asset.derivatives.values_list("spec", "key"))
    assert set(specs) == {"thumb-256", "web-2048", "iiif-tiles"}
    assert default_storage.exists(f"derivatives/{asset.sha256}/thumb-256.jpg")
    assert default_storage.exists(f"derivatives/{asset.sha256}/iiif/info.json")
    assert all(t is not None for t in (asset.verified_at, asset.validated_at, asset.identified_at,
                                       asset.rendered_at, asset.linked_at, asset.finished_at))
    assert imaging_orphans_find() == []
    assert not any(f.startswith("uploads/") or f.endswith(".part") for f in stored_files(media))


def test_same_bytes_twice_link_to_the_first_and_are_stored_once(batch, specimen, tmp_path, media,
                                                               django_capture_on_commit_callbacks):
    path = files.write(files.page(300, 200), tmp_path / "NHMUK010123456_2.jpg")
    first, second = receive(batch, path), receive(batch, path)

    image_asset_process(asset_id=first.pk)
    with django_capture_on_commit_callbacks(execute=True):  # the second upload goes once its row commits
        assert image_asset_process(asset_id=second.pk) == ImageAsset.Status.FAILED

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.link_method, first.order, first.specimen_id) == ("filename", 2, specimen.pk)
    assert second.error_code == "duplicate" and second.duplicate_of == first
    assert "Same bytes as 'NHMUK010123456_2.jpg'" in second.error_text
    assert [f for f in stored_files(media) if f.startswith("masters/")] == [first.master_key]
    assert Derivative.objects.filter(asset=second).count() == 0
    assert imaging_orphans_find() == []


def test_unmatched_image_waits_for_a_curator_then_links_by_hand(batch, specimen, tmp_path, media):
    from imaging.services import image_asset_link

    path = files.write(files.with_barcode(files.page(400, 300), "UNKNOWN-42", zxingcpp.BarcodeFormat.QRCode, scale=4),
                       tmp_path / "scan.png")
    asset = receive(batch, path)

    assert image_asset_process(asset_id=asset.pk) == ImageAsset.Status.NEEDS_ATTENTION
    asset.refresh_from_db()
    assert asset.error_code == "unmatched" and "UNKNOWN-42" in asset.error_text
    assert asset.derivatives.count() == 3  # the curator can look at it before deciding

    image_asset_link(asset=asset, specimen=specimen)

    asset.refresh_from_db()
    specimen.refresh_from_db()
    assert (asset.status, asset.link_method, asset.error_code) == ("done", "manual", "")
    assert specimen.media_count == 1


def test_rerunning_a_finished_image_changes_nothing(batch, specimen, tmp_path, media, django_assert_num_queries):
    path = files.write(files.page(300, 200), tmp_path / "NHMUK010123456.jpg")
    asset = receive(batch, path)
    image_asset_process(asset_id=asset.pk)
    before = stored_files(media)

    with django_assert_num_queries(3):  # savepoint, the locked read, release: no stage runs
        assert image_asset_process(asset_id=asset.pk) is None

    assert stored_files(media) == before
    assert Derivative.objects.filter(asset=asset).count() == 3


def test_receive_enqueues_processing_only_when_the_transaction_commits(batch, tmp_path, media,
                                                                       django_capture_on_commit_callbacks):
    path = files.write(files.page(100, 80), tmp_path / "a.jpg")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        asset = receive(batch, path)

    assert asset.status == ImageAsset.Status.RECEIVED and default_storage.exists(asset.upload_key)
    assert len(callbacks) == 1 and callbacks[0].func.__self__.name == "imaging.image_asset_process"
    assert callbacks[0].args == (asset.pk,)


def test_retry_failed_requeues_crashed_items_but_not_refused_files(batch, tmp_path, media,
                                                                    django_capture_on_commit_callbacks, settings):
    from imaging.services import imaging_batch_retry_failed

    settings.IMAGING_MAX_ATTEMPTS = 0  # as if three workers had died on it
    crashed = receive(batch, files.write(files.page(100, 80), tmp_path / "a.jpg"))
    refused = receive(batch, files.text_as_tif(tmp_path / "b.tif"))
    image_asset_process(asset_id=crashed.pk)
    settings.IMAGING_MAX_ATTEMPTS = 3
    image_asset_process(asset_id=refused.pk)
    crashed.refresh_from_db()
    assert (crashed.status, crashed.error_code) == ("failed", "gave_up")
    assert default_storage.exists(crashed.upload_key)  # a crash never deletes the bytes

    with django_capture_on_commit_callbacks(execute=True):
        assert imaging_batch_retry_failed(batch=batch) == 1

    crashed.refresh_from_db()
    refused.refresh_from_db()
    assert crashed.status == ImageAsset.Status.RECEIVED and crashed.attempts == 0
    assert refused.error_code == "unsupported_type"


def test_specimen_api_detail_lists_its_images_with_iiif_links(batch, specimen, tmp_path, media, client):
    path = files.write(files.with_barcode(files.page(700, 500), "NHMUK010123456"), tmp_path / "IMG_0002.tif")
    asset = receive(batch, path)
    image_asset_process(asset_id=asset.pk)

    data = client.get(f"/api/v1/specimens/{specimen.uuid}/").json()

    assert data["media_count"] == 1
    assert [m["uuid"] for m in data["media"]] == [str(asset.uuid)]
    assert data["media"][0]["iiif_service"] == f"http://testserver/iiif/3/{asset.uuid}"
    assert data["iiif_manifest"] == f"http://testserver/iiif/specimen/{specimen.uuid}/manifest.json"
    info = client.get(f"/iiif/3/{asset.uuid}/info.json")
    assert info.status_code == 200 and info.json()["width"] == 700
    assert client.get(data["media"][0]["web_image"].replace("http://testserver", "")).status_code == 200
