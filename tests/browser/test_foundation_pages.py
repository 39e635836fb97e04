import pytest
from django.core.management import call_command

from institutions.models import Institution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_sees_institutions_with_their_digitisation_progress(live_server, page, screenshots_dir):
    call_command("load_demo", verbosity=0)

    page.goto(live_server.url + "/")

    rows = page.locator("table.data tbody tr")
    assert rows.count() == Institution.objects.count() >= 25
    assert page.get_by_role("link", name="Natural History Museum, London").is_visible()
    assert "digitised" in page.locator(".hero").inner_text()
    page.screenshot(path=f"{screenshots_dir}/home.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the table scrolls, the page does not
    page.goto(live_server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=f"{screenshots_dir}/home-phone.png")


def test_curator_logs_in_and_reaches_the_workspace(live_server, page, screenshots_dir):
    call_command("load_demo", verbosity=0)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("nhm.curator")
    page.get_by_label("Password").fill("demo-portal-2026")
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url("**/curate/")
    assert page.get_by_role("heading", name="Specimen records").is_visible()
    assert page.locator("table.data tbody tr").count() == 10  # the ten real NHM records
    page.screenshot(path=f"{screenshots_dir}/curate-list.png", full_page=True)
