"""IIIF's own Image API validator (`iiif-validate.py`, PyPI iiif-validator) against the live server.

IIIF's 1000 × 1000 test image is a 10 × 10 grid of 100 px squares whose colours come from the
validator's table; it goes through our real pipeline under the identifier the validator uses,
for a published specimen, so the image is public (DESIGN §4.7).
"""

import subprocess
import sys
from pathlib import Path

import pytest
import pyvips
from iiif_validator.validator import ValidationInfo

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive

IIIF_TEST_IMAGE = "67352ccc-d1b0-11e1-89ae-279075081939"
VALIDATOR = Path(sys.executable).with_name("iiif-validate.py")
# Level-1 checks that a level-0 server must pass as well: CORS, the 303 from the base URI,
# the JSON-LD media type and the error codes for bad requests.
SERVER_CHECKS = ["cors", "baseurl_redirect", "jsonld", "id_error_random", "id_error_unescaped",
                 "region_error_random", "size_error_random", "rot_error_random", "quality_error_random",
                 "format_error_random"]


def colour_grid(path: Path) -> Path:
    """The validator reads square (x, y), x across and y down, as `colorInfo[x][y]`."""
    colours = ValidationInfo().colorInfo
    cells = bytes(channel for y in range(10) for x in range(10) for channel in colours[x][y])
    grid = pyvips.Image.new_from_memory(cells, 10, 10, 3, "uchar").copy(interpretation="srgb")
    grid.zoom(100, 100).tiffsave(str(path), compression="none")
    return path


@pytest.fixture
def iiif_test_image(transactional_db, imaging_tasks_parked, batch, specimen, tmp_path):
    path = colour_grid(tmp_path / f"{specimen.catalog_number}_1.tif")
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
    # The validator asks for its own identifier; ours are minted on receipt.
    ImageAsset.objects.filter(pk=asset.pk).update(uuid=IIIF_TEST_IMAGE)
    assert image_asset_process(asset_id=asset.pk) == ImageAsset.Status.DONE
    asset.refresh_from_db()
    assert (asset.width, asset.height, asset.specimen_id) == (1000, 1000, specimen.pk)
    return asset


def _validate(live_server, *options: str) -> subprocess.CompletedProcess:
    server = live_server.url.removeprefix("http://")
    return subprocess.run(
        [sys.executable, str(VALIDATOR), "-s", server, "-p", "iiif/3", "-i", IIIF_TEST_IMAGE, "--version=3.0", *options],
        capture_output=True, text=True, timeout=60,
    )


def test_grid_image_matches_the_validators_colour_table(tmp_path):
    image = pyvips.Image.new_from_file(str(colour_grid(tmp_path / "grid.tif")))
    colours = ValidationInfo().colorInfo

    assert (image.width, image.height) == (1000, 1000)
    assert tuple(image(150, 750)) == colours[1][7]
    assert tuple(image(950, 50)) == colours[9][0]


def test_image_service_passes_iiif_validator_level_0(iiif_test_image, live_server):
    run = _validate(live_server, "--level=0")

    assert run.returncode == 0, run.stderr
    assert "Done (5 tests, 0 failures)" in run.stderr
    assert run.stderr.count(" PASS") == 5


def test_image_service_passes_validator_checks_for_cors_redirect_media_type_and_errors(iiif_test_image, live_server):
    run = _validate(live_server, *[f"--test={name}" for name in SERVER_CHECKS])

    assert run.returncode == 0, run.stderr
    assert f"Done ({len(SERVER_CHECKS)} tests, 0 failures)" in run.stderr


def test_validator_fails_an_image_of_an_unpublished_specimen(iiif_test_image, live_server):
    iiif_test_image.specimen.status = "in_review"
    iiif_test_image.specimen.save(update_fields=["status"])

    run = _validate(live_server, "--level=0")

    # Every check that fetches the image or info.json fails with 404; size_nofull only wants a non-200.
    assert run.returncode == 4, run.stderr
    assert run.stderr.count("got: 404") == 4
