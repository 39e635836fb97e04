"""A visitor searches, narrows by a facet, sees the results on the map and draws a box (issue 14)."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from specimens.models import SpecimenSearch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_searches_narrows_maps_and_draws_a_box(live_server, page, screenshots_dir):
    call_command("load_demo", verbosity=0)  # published through the services: indexed as they publish
    located = SpecimenSearch.objects.filter(decimal_latitude__isnull=False).count()
    assert located >= 3
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(live_server.url + "/search/")
    page.locator("#search-q").fill("Animalia")
    page.locator("#search-q").press("Enter")
    page.wait_for_url(re.compile(r"q=Animalia"))
    assert page.locator(".result-list li").count() >= 3
    phylum = page.locator("details.facet", has_text="Phylum")
    if phylum.get_attribute("open") is None:  # a facet with one value starts folded
        phylum.locator("summary").click()
    phylum.locator("li a").first.click()
    page.wait_for_url(re.compile(r"phylum="))
    assert page.locator(".chips li").count() == 3  # the words, the phylum, "Clear all"
    narrowed = page.locator(".result-list li").count()

    page.get_by_role("link", name="Map").click()
    page.wait_for_url(re.compile(r"view=map"))
    # Drawn from /search/map.json; the map may fetch again as it settles on the results' bounds,
    # so wait for the drawing that says it shows points, then count them.
    expect(page.locator("#map-status")).to_contain_text("points", timeout=15_000)
    assert page.locator("#search-map path.leaflet-interactive").count() == min(narrowed, located)
    page.screenshot(path=f"{screenshots_dir}/search-map.png", full_page=True)

    page.get_by_role("button", name="Draw a box to filter").click()
    box = page.locator("#search-map").bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + 60)
    page.mouse.click(box["x"] + box["width"] - 60, box["y"] + box["height"] - 60)
    page.wait_for_url(re.compile(r"bbox=[-0-9.]+%2C"))
    assert page.get_by_text("In the drawn box").is_visible()
    assert not errors, errors

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/search/?q=Animalia&view=grid")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
