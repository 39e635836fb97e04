import pytest
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
    assert asset.barcodes == [{"text": "NHMUK010123456", "format": "Code128"}]
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
