import pytest

from institutions.models import Role
from specimens.models import Specimen
from specimens.services import specimen_create, taxon_ensure_path
from tests.factories.institutions import CollectionFactory, InstitutionFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def draft():
    institution = InstitutionFactory(code="NHMUK", name="Natural History Museum, London")
    collection = CollectionFactory(institution=institution, code="BOT", name="Botany")
    taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("family", "Asteraceae"), ("genus", "Bellis"), ("species", "Bellis perennis")])
    taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("family", "Asteraceae"), ("genus", "Bellis"), ("species", "Bellis annua")])
    for username, role in (("curator", Role.CURATOR), ("digitiser", Role.DIGITISER)):
        MembershipFactory(user=UserFactory(username=username), institution=institution, role=role)
    return specimen_create(collection=collection, data={
        "catalog_number": "BM000123456", "scientific_name": "Bellis perennis", "locality": "Hyde Park",
        "country_code": "GB", "event_date": "1898-06-14",
    })


def log_in(page, live_server, username):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/curate/")


def test_curator_edits_fixes_an_error_publishes_and_reverts(live_server, page, draft, screenshots_dir):
    log_in(page, live_server, "curator")
    page.get_by_role("link", name="BM000123456").click()
    page.get_by_role("link", name="Edit").click()

    page.get_by_label("Locality", exact=True).fill("Kensington Gardens, London")
    page.get_by_label("Latitude (decimal)").fill("151.5")  # out of range
    page.get_by_label("Longitude (decimal)").fill("-0.18")
    page.get_by_role("button", name="Save").click()

    # Not saved; the message sits at the field and every input is kept.
    assert page.locator("#id_decimal_latitude-error").inner_text() == "Latitude must be between -90 and 90 (decimal degrees)."
    assert page.get_by_label("Locality", exact=True).input_value() == "Kensington Gardens, London"
    assert page.get_by_label("Longitude (decimal)").input_value() == "-0.18"
    page.screenshot(path=f"{screenshots_dir}/form-error.png", full_page=True)
    draft.refresh_from_db()
    assert (draft.locality, draft.version) == ("Hyde Park", 1)

    page.get_by_label("Latitude (decimal)").fill("51.505")
    page.get_by_role("button", name="Save").click()
    assert "Saved BM000123456 (version 2)" in page.locator(".messages").inner_text()

    page.get_by_role("button", name="Publish").click()
    assert page.locator(".status").first.inner_text() == "Published"

    page.get_by_role("link", name="History").click()
    assert "specimen_publish" in page.content()
    assert page.locator("td.new", has_text="Kensington Gardens, London").count() == 1
    page.screenshot(path=f"{screenshots_dir}/history.png", full_page=True)

    # Restore version 1 (the oldest entry): the locality returns and a new version is recorded.
    page.get_by_role("button", name="Restore this version").last.click()
    assert "Restored the earlier version" in page.locator(".messages").inner_text()
    draft.refresh_from_db()
    assert draft.locality == "Hyde Park"
    assert draft.decimal_latitude is None
    assert draft.status == Specimen.Status.PUBLISHED  # reverting data does not unpublish
    assert draft.version == 4


def test_digitiser_cannot_publish(live_server, page, draft):
    log_in(page, live_server, "digitiser")
    page.get_by_role("link", name="BM000123456").click()

    assert page.get_by_role("button", name="Publish").count() == 0
    assert page.get_by_role("button", name="Send for review").is_visible()
    # Even a hand-made POST is refused.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(live_server.url + f"/curate/specimens/{draft.uuid}/publish/",
                                 headers={"X-CSRFToken": csrf, "Referer": live_server.url})
    assert response.status == 403
    assert "Only a curator or collection manager" in response.text()
    draft.refresh_from_db()
    assert draft.status == Specimen.Status.DRAFT


def test_curator_puts_selected_records_into_a_digitisation_batch(live_server, page, draft, screenshots_dir):
    from digitisation.models import BatchSpecimen
    from digitisation.services import batch_create

    batch = batch_create(institution=draft.institution, name="Drawer 14")
    log_in(page, live_server, "curator")

    page.get_by_label("Select BM000123456").check()
    page.locator("select[name=batch] option", has_text="Drawer 14").wait_for(state="attached")  # options arrive by htmx
    page.locator("select[name=batch]").select_option(label="Drawer 14 · NHMUK (0)")
    page.screenshot(path=f"{screenshots_dir}/curate-bulk.png", full_page=True)
    page.get_by_role("button", name="Add to batch").click()

    assert "Added 1 record to batch Drawer 14" in page.locator(".messages").inner_text()
    assert list(BatchSpecimen.objects.filter(batch=batch).values_list("specimen_id", flat=True)) == [draft.pk]
