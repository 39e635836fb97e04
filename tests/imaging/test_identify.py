"""Reading codes on sheets as museums scan them, and saying what became of each code (issue 11).

Real images: sheets drawn by seeds/sheets.py and pages with zxing-cpp codes (tests/imaging/files.py).
"""

import pytest
import pyvips
import zxingcpp

from imaging import images
from imaging.models import ImageAsset
from imaging.services import UNMATCHED_NO_CODE, image_asset_process, image_asset_receive
from seeds.sheets import Label, Sheet, sheet_write
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory

from . import files

pytestmark = pytest.mark.django_db

QR = zxingcpp.BarcodeFormat.QRCode


def _process(batch, path) -> ImageAsset:
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
    image_asset_process(asset_id=asset.pk)
    asset.refresh_from_db()
    return asset


def _codes(*codes, width=1500, height=900) -> pyvips.Image:
    """A page with each (text, format) code in a row from the left, in reading order."""
    image = files.page(width, height)
    x = 20
    for text, fmt in codes:
        code = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=2 if fmt != QR else 3)
        h, w = code.shape[:2]
        label = pyvips.Image.new_from_memory(bytes(memoryview(code)), w, h, 1, "uchar")
        image = image.insert(label.embed(12, 12, w + 24, h + 24, extend="white").colourspace("srgb"), x, 20)
        x += w + 60
    return image


def _outcomes(asset) -> dict:
    return {c["text"]: c["outcome"] for c in asset.barcodes}


def test_bars_too_narrow_for_the_scan_copy_are_read_at_full_resolution(batch, specimen, tmp_path, media, settings):
    # 3 px bars on a 2,000 x 3,000 sheet; a 800 px scan copy shrinks them to 0.8 px, as a 2,500 px
    # copy does to 0.12 mm bars on a 6,000 x 9,000 sheet at 600 ppi.
    settings.IMAGING_BARCODE_SCAN_PX = 800
    sheet = Sheet(labels=(Label("NHMUK010123456", bar_mm=0.38, width_mm=50),), width=2000, height=3000, ppi=200,
                  rotation=4.0, chart="https://colour-charts.example.org/chart/7")
    path = sheet_write(sheet, tmp_path / "DSC_0001.jpg", quality=88)
    scan = images.scan_copy(path, images.JPEG, size=800, target=tmp_path / "scan.tif")
    assert "NHMUK010123456" not in [b["text"] for b in images.read_barcodes(scan)]  # lost in the small copy

    asset = _process(batch, path)

    assert (asset.status, asset.specimen_id, asset.link_method) == ("done", specimen.pk, "barcode")
    assert _outcomes(asset)["NHMUK010123456"] == "linked"


def test_a_vertical_code_across_a_strip_boundary_is_read_whole_from_the_overlap(tmp_path):
    code = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode("E00012345", zxingcpp.BarcodeFormat.Code128), scale=3)
    h, w = code.shape[:2]
    bars = pyvips.Image.new_from_memory(bytes(memoryview(code)), w, h, 1, "uchar").rot90().colourspace("srgb")
    page = files.page(600, 2400).insert(bars, 200, 1000 - bars.height // 2)  # across row 1,000
    path = files.write(page, tmp_path / "vertical.tif")

    assert images.read_barcodes_full(path, images.TIFF, strip=1000, overlap=0) == []  # cut in two
    assert images.read_barcodes_full(path, images.TIFF, strip=1000, overlap=bars.height + 10) == [
        {"text": "E00012345", "format": "Code128"}]


def test_an_exact_catalogue_number_links_though_it_fits_no_pattern_and_patterns_rank_the_rest(
        batch, institution, tmp_path, media):
    collection = CollectionFactory(institution=institution, code="BOT", barcode_pattern=r"^E\d{8}$")
    outside = SpecimenFactory(collection=collection, catalog_number="BM001234567")
    path = files.write(_codes(("BM001234567", zxingcpp.BarcodeFormat.Code128)), tmp_path / "a.png")
    assert _process(batch, path).specimen_id == outside.pk

    fitting = SpecimenFactory(collection=collection, catalog_number="E00000042")
    path = files.write(_codes(("BM001234567", zxingcpp.BarcodeFormat.Code128), ("E00000042", zxingcpp.BarcodeFormat.Code128)),
                       tmp_path / "b.png")
    asset = _process(batch, path)

    assert asset.specimen_id == fitting.pk  # read second, tried first: it fits the collection's pattern
    assert _outcomes(asset) == {"BM001234567": "not_tried", "E00000042": "linked"}


def test_codes_read_but_not_linked_are_listed_with_why_and_the_near_number_offered(
        batch, specimen, other_institution, tmp_path, media):
    CollectionFactory(institution=other_institution, code="HERB", name="Kew Herbarium", barcode_pattern=r"^K\d{9}$")
    path = files.write(_codes(("https://colour-charts.example.org/chart/7", QR), ("K000123456", zxingcpp.BarcodeFormat.Code128),
                              ("NHMUK010123465", zxingcpp.BarcodeFormat.Code128), width=1800), tmp_path / "IMG_0001.png")

    asset = _process(batch, path)

    assert (asset.status, asset.error_code, asset.specimen_id) == ("needs_attention", "unmatched", None)
    assert _outcomes(asset) == {"https://colour-charts.example.org/chart/7": "web_address",
                                "K000123456": "other_collection", "NHMUK010123465": "no_such_number"}
    own = specimen.institution.code
    assert asset.error_text.startswith(f"Read 3 codes, none linked at {own}: ")
    for detail in ("https://colour-charts.example.org/chart/7 (QR code) a web address, not a catalogue number",
                   f"K000123456 (Code 128) fits the barcode pattern of {other_institution.code}:HERB (Kew Herbarium), "
                   "another institution's collection",
                   f"NHMUK010123465 (Code 128) no specimen or preparation at {own} has this number"):
        assert detail in asset.error_text
    near = {c["text"]: c.get("near") for c in asset.barcodes}
    assert near["NHMUK010123465"] == ["NHMUK010123456"]  # two digits swapped on import


def test_control_characters_and_a_500_character_code_are_stored_safely_and_never_looked_up(
        batch, specimen, tmp_path, media):
    long_text = "NHMUK010123456" + "X" * 486
    path = files.write(_codes(("NHMUK010123456\x00", zxingcpp.BarcodeFormat.Code128), (long_text, QR), width=1800),
                       tmp_path / "IMG_0002.png")

    asset = _process(batch, path)

    assert asset.status == "needs_attention" and asset.specimen_id is None  # neither matched blindly
    assert [(c["text"], c["outcome"], c["length"]) for c in asset.barcodes] == [
        ("NHMUK010123456\\x00", "control_characters", 15), (long_text[:80] + "…", "too_long", 500)]
    assert "holds control characters, so it was not looked up" in asset.error_text
    assert "500 characters long" in asset.error_text


def test_a_sheet_with_no_code_ends_unmatched_with_a_plain_message(batch, specimen, tmp_path, media):
    path = sheet_write(Sheet(width=900, height=1350, ppi=90), tmp_path / "IMG_0003.jpg")

    asset = _process(batch, path)

    assert (asset.status, asset.error_code, asset.error_text, asset.barcodes) == (
        "needs_attention", "unmatched", UNMATCHED_NO_CODE, [])
