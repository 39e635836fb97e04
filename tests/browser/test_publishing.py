import pytest

from institutions.models import Role
from publishing.models import DatasetVersion
from publishing.services import dataset_save
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory, InstitutionFactory, MembershipFactory, UserFactory
from tests.factories.specimens import SpecimenFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_curator_publishes_a_dataset_and_watches_the_progress_bar(live_server, page, celery_worker_process,
                                                                    screenshots_dir):
    institution = InstitutionFactory(code="K", name="Royal Botanic Gardens, Kew")
    collection = CollectionFactory(institution=institution, code="HERB", name="Herbarium")
    curator = UserFactory(username="curator")
    MembershipFactory(user=curator, institution=institution, role=Role.CURATOR)
    SpecimenFactory.create_batch(3, collection=collection, status=Specimen.Status.PUBLISHED, event_date="1899-07-01")
    dataset_save(user=curator, collections=[collection], values={
        "shortname": "kew-herbarium", "title": "Kew herbarium specimens", "abstract": "Sheets from Kew.",
        "contact_email": "data@kew.example.org"})

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("curator")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/publishing/manage/kew-herbarium/publish/")
    assert page.locator(".check-pass").count() == 2
    page.get_by_label("Change summary").fill("First release for GBIF.")
    page.get_by_role("button", name="Publish a new version").click()

    # The version page polls its row (htmx) until the worker has published it.
    page.get_by_role("progressbar", name="Publishing progress").wait_for()
    page.get_by_role("link", name="Download version 1.0").wait_for(timeout=60_000)
    page.screenshot(path=f"{screenshots_dir}/publishing-version.png", full_page=True)
    assert DatasetVersion.objects.get().number == "1.0"

    page.goto(live_server.url + "/publishing/datasets/kew-herbarium/")
    assert "First release for GBIF." in page.locator("table.versions").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download version 1.0 (Darwin Core Archive").click()
    assert download.value.suggested_filename == "dwca-kew-herbarium-v1.0.zip"
