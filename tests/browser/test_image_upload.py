import pytest

from imaging.models import ImageAsset
from institutions.models import Role
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory, InstitutionFactory, MembershipFactory, UserFactory
from tests.factories.specimens import SpecimenFactory
from tests.imaging import files

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_digitiser_uploads_a_folder_and_watches_it_through_the_stages(live_server, page, celery_worker_process, tmp_path, screenshots_dir):
    institution = InstitutionFactory(code="NHMUK", name="Natural History Museum, London")
    collection = CollectionFactory(institution=institution, code="BOT", name="Botany")
    specimen = SpecimenFactory(collection=collection, catalog_number="NHMUK010123456", status=Specimen.Status.PUBLISHED)
    MembershipFactory(user=UserFactory(username="digitiser"), institution=institution, role=Role.DIGITISER)
    folder = tmp_path / "tray-14"
    folder.mkdir()
    files.write(files.with_barcode(files.page(900, 650), "NHMUK010123456"), folder / "IMG_0001.tif")
    files.write(files.page(800, 600, colour=(120, 140, 160)), folder / "IMG_0002.jpg")  # no barcode: waits for a curator
    (folder / "notes.tif").write_text("not an image at all")

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("digitiser")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Imaging").click()
    page.get_by_label("Batch name").fill("Tray 14")
    # The uploader is a deferred script: files picked before the batch page has loaded are never sent.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="New batch").click()
    page.locator("#pick-files").set_input_files([str(p) for p in sorted(folder.iterdir())])

    # The rows table refreshes itself (htmx) as the worker moves each file through the stages.
    page.locator("#batch-rows", has_text="1 linked").wait_for(timeout=60_000)
    page.locator("#batch-rows", has_text="1 waiting for a specimen").wait_for(timeout=30_000)
    page.locator("#batch-rows", has_text="1 rejected").wait_for(timeout=30_000)
    page.screenshot(path=f"{screenshots_dir}/imaging-batch.png", full_page=True)

    statuses = dict(ImageAsset.objects.values_list("original_name", "status"))
    assert statuses == {"IMG_0001.tif": "done", "IMG_0002.jpg": "needs_attention", "notes.tif": "failed"}
    assert ImageAsset.objects.get(original_name="IMG_0001.tif").specimen == specimen
    assert "unsupported_type" in page.locator("#batch-rows").inner_text()

    # The digitiser resolves the waiting image by hand from the queue: to a draft, as digitisers
    # change drafts only (an image on a published record would be public at once).
    other = SpecimenFactory(collection=collection, catalog_number="NHMUK010999999", status=Specimen.Status.DRAFT)
    page.get_by_role("link", name="Unmatched images queue").click()
    page.screenshot(path=f"{screenshots_dir}/imaging-unmatched.png", full_page=True)
    page.get_by_label("Catalogue number").fill("NHMUK010123456")
    page.get_by_role("button", name="Link").click()
    assert "This record is published; digitisers may change drafts only" in page.get_by_role("alert").inner_text()
    page.get_by_label("Catalogue number").fill("NHMUK010999999")
    page.get_by_role("button", name="Link").click()
    assert "Linked IMG_0002.jpg to NHMUK010999999." in page.locator(".messages").inner_text()
    assert ImageAsset.objects.get(original_name="IMG_0002.jpg").specimen == other
