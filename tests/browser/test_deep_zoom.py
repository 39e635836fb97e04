import pytest

from imaging.services import image_asset_process, image_asset_receive, imaging_batch_create
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory, InstitutionFactory
from tests.factories.specimens import SpecimenFactory
from tests.imaging import files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_sees_a_linked_image_in_deep_zoom_on_the_specimen_page(live_server, page, settings, tmp_path, screenshots_dir,
                                                                       imaging_tasks_parked):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_WORK_DIR = str(tmp_path / "work")
    institution = InstitutionFactory(code="NHMUK", name="Natural History Museum, London")
    collection = CollectionFactory(institution=institution, code="BOT", name="Botany")
    specimen = SpecimenFactory(collection=collection, catalog_number="NHMUK010123456", scientific_name="Bellis perennis L.",
                               status=Specimen.Status.PUBLISHED)
    image = files.with_barcode(files.page(1800, 1300, colour=(214, 200, 160)), "NHMUK010123456")
    path = files.write(image, tmp_path / "sheet.tif")
    batch = imaging_batch_create(institution=institution, name="Tray 7")
    with open(path, "rb") as source:
        asset = image_asset_receive(batch=batch, name=path.name, source=source, size=path.stat().st_size)
    image_asset_process(asset_id=asset.pk)

    tiles = []
    page.on("response", lambda r: tiles.append(r.status) if "/iiif/3/" in r.url and r.url.endswith("default.jpg") else None)
    page.goto(f"{live_server.url}/specimen/{specimen.uuid}.html")

    page.locator("#viewer[data-opened='true']").wait_for(timeout=15_000)
    page.wait_for_timeout(500)  # let the first tiles arrive
    assert tiles and all(status == 200 for status in tiles)
    assert page.get_by_role("link", name="IIIF manifest").get_attribute("href") == f"/iiif/specimen/{specimen.uuid}/manifest.json"
    page.screenshot(path=f"{screenshots_dir}/deep-zoom.png")
