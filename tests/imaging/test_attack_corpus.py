"""DESIGN §8 upload attack corpus: each file refused with a clear message on its row, nothing
left in storage, and the good file in the same batch still processed."""

import pytest

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive, imaging_orphans_find

from . import files
from .conftest import stored_files

pytestmark = pytest.mark.django_db

CORPUS = {
    "pixel bomb 1 x 1,000,000 px": ("tall.png", lambda p: files.png_header_only(p, 1, 1_000_000), "pixel_limit", "50,000 px a side"),
    "pixel bomb 100,000 x 100,000 px": ("bomb.tif", lambda p: files.tiff_header_only(p, 100_000, 100_000), "pixel_limit", "It was not decoded"),
    "truncated TIFF": ("cut.tif", files.truncated_tiff, "truncated", "truncated or corrupt"),
    "text file named .tif": ("notes.tif", files.text_as_tif, "unsupported_type", "plain text"),
    "polyglot JPEG + ZIP": ("poly.jpg", files.polyglot, "polyglot", "ZIP archive appended"),
    "SVG with script": ("drawing.svg", files.svg_with_script, "unsupported_type", "an SVG drawing"),
    "huge EXIF block": ("exif.jpg", files.huge_exif_jpeg, "metadata_too_large", "EXIF block"),
    "zero-byte file": ("empty.jpg", files.zero_bytes, "empty", "empty"),
}


def _receive(batch, path, name=None):
    with open(path, "rb") as f:
        return image_asset_receive(batch=batch, name=name or path.name, source=f, size=path.stat().st_size)


@pytest.mark.parametrize("label", list(CORPUS))
def test_hostile_file_is_rejected_with_a_message_and_leaves_nothing(label, batch, tmp_path, media,
                                                                    django_capture_on_commit_callbacks):
    name, make, code, message = CORPUS[label]
    path = make(tmp_path / name)
    good = _receive(batch, files.write(files.page(200, 150), tmp_path / "good.jpg"))
    bad = _receive(batch, path)

    for asset in (bad, good):
        if asset.status != ImageAsset.Status.FAILED:
            # The refused file's bytes are removed once its failed row commits.
            with django_capture_on_commit_callbacks(execute=True):
                image_asset_process(asset_id=asset.pk)

    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.status, bad.error_code) == ("failed", code)
    assert message in bad.error_text
    assert not bad.upload_key and not bad.master_key and bad.derivatives.count() == 0
    assert good.status == ImageAsset.Status.NEEDS_ATTENTION  # processed; just no specimen to match
    leftover = [f for f in stored_files(media) if good.sha256 not in f]
    assert leftover == []
    assert imaging_orphans_find() == []


def test_file_name_with_a_path_is_refused_before_storing(batch, tmp_path, media):
    path = files.write(files.page(50, 50), tmp_path / "x.jpg")
    asset = _receive(batch, path, name="../../etc/cron.d/x.jpg")

    assert (asset.status, asset.error_code) == ("failed", "unsafe_name")
    assert "folder path" in asset.error_text
    assert stored_files(media) == []


def test_file_over_the_configured_limit_is_refused_even_when_its_size_is_not_declared(batch, tmp_path, media, settings):
    settings.IMAGING_MAX_UPLOAD_BYTES = 10_000
    path = files.write(files.page(400, 400), tmp_path / "big.tif")  # ~480 kB
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=None)

    assert (asset.status, asset.error_code) == ("failed", "too_large")
    assert "10,000-byte limit" in asset.error_text
    assert stored_files(media) == []
