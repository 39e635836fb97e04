"""axe-core (from npm, static/vendor/axe.min.js) on the public pages at desktop and phone sizes:
no serious or critical WCAG 2.2 AA violation, no horizontal overflow at 390 px, no script error."""

import pytest
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from specimens.models import Specimen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def public_pages() -> dict[str, str]:
    herbarium = Specimen.objects.get(catalog_number="K000697002")  # images, taxonomy, map, a duplicate
    sensitive = Specimen.objects.get(catalog_number="E00412003")  # a generalised area on the map
    pages = {
        "home": "/",
        "institution": reverse("institution_detail", args=["K"]),
        "collection": reverse("portal:collection_detail", args=["K", "HERB"]),
        "specimen": reverse("specimen_page", args=[herbarium.uuid]),
        "specimen-generalised": reverse("specimen_page", args=[sensitive.uuid]),
        "exhibitions": reverse("portal:exhibition_list"),
        "exhibition": reverse("portal:exhibition_detail", args=["pressed-in-time"]),
    }
    try:  # search and its map (issue 14)
        pages["search"] = reverse("portal:search") + "?q=Digitalis"
        pages["map"] = reverse("portal:search") + "?view=map"
    except NoReverseMatch:
        pass
    return pages


def test_public_pages_have_no_serious_accessibility_violations_on_desktop_and_phone(live_server, browser,
                                                                                      imaging_tasks_parked, screenshots_dir):
    call_command("load_demo", verbosity=0)
    call_command("load_demo_museum", size="small", verbosity=0)
    failures = []
    for size, (width, height) in SIZES.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))  # this page's own list
        for name, path in public_pages().items():
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            page.wait_for_load_state("load")  # axe reads the DOM; tiles and the basemap need not have arrived
            page.add_script_tag(url=f"{live_server.url}/static/vendor/axe.min.js")  # same origin: allowed by the CSP
            result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
            for violation in result["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [n["target"] for n in violation["nodes"][:3]]
                    failures.append(f"{size} {name}: {violation['id']} ({violation['impact']}) {targets}")
            if width == 390:
                overflow = page.evaluate("document.documentElement.scrollWidth") - width
                if overflow > 0:
                    failures.append(f"{size} {name}: {overflow} px of horizontal overflow")
            page.screenshot(path=f"{screenshots_dir}/museum-{name}-{size}.png", full_page=True)
        failures += [f"{size}: script error {e}" for e in errors]
        if size == "desktop":
            exhibition_opens_on_the_region(page, live_server)
        context.close()
    assert failures == []


def exhibition_opens_on_the_region(page, live_server):
    """The viewer shows the curator's region, not the whole sheet: its bounds in image pixels match data-region."""
    page.goto(live_server.url + reverse("portal:exhibition_detail", args=["pressed-in-time"]))
    viewer = page.locator("[data-exhibit-services]").nth(1)  # the label of the foxglove sheet
    viewer.and_(page.locator("[data-opened=true]")).wait_for()
    bounds = viewer.evaluate("""el => { const v = el.viewer.viewport, b = v.viewportToImageRectangle(v.getBounds(true));
                                        return [b.x, b.y, b.width, b.height]; }""")
    region = [int(v) for v in viewer.get_attribute("data-region").strip("[]").split(",")]
    assert bounds[2] < 500 * 0.8  # narrower than the whole 500 px sheet
    assert region[0] - region[2] * 0.6 <= bounds[0] <= region[0] + 1
    assert region[1] - region[3] * 2 <= bounds[1] <= region[1] + region[3]
