"""The managers' dashboard in a browser: a programme manager signs in and lands on it, every chart
is drawn from its table, no serious WCAG 2.2 AA violation (axe-core), no overflow at 390 px."""

import pytest
from django.core.management import call_command

from institutions.models import Role
from tests.factories.institutions import (
    CollectionFactory,
    CollectionMetricFactory,
    InstitutionFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def test_a_programme_manager_lands_on_the_dashboard_and_every_chart_is_drawn(live_server, browser, screenshots_dir):
    # Two of the demo's active institutions, built directly (load_demo's records and taxa are not needed here).
    for code, name in (("K", "Royal Botanic Gardens, Kew"), ("E", "Royal Botanic Garden Edinburgh")):
        CollectionMetricFactory(collection=CollectionFactory(institution=InstitutionFactory(code=code, name=name),
                                                             code="HERB"), value=3_000_000)
    manager = UserFactory(username="programme.manager", password="demo-portal-2026")
    MembershipFactory(user=manager, institution=None, role=Role.PROGRAMME_MANAGER)
    call_command("generate_activity", weeks=10, verbosity=0)
    for width, height, size in ((1280, 900, "desktop"), (390, 844, "phone")):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))  # this page's own list
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_label("Username").fill("programme.manager")
        page.get_by_label("Password").fill("demo-portal-2026")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/manage/dashboard/")
        page.wait_for_load_state("networkidle")

        charts = page.locator("figure[data-chart]")
        assert charts.count() >= 6
        drawn = page.evaluate("""() => Array.from(document.querySelectorAll('figure[data-chart] canvas'))
                                 .map(c => { const chart = Chart.getChart(c);
                                             return chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0; })""")
        assert all(points > 0 for points in drawn), drawn  # each chart drew its table's numbers
        assert page.get_by_text("on track").count() + page.get_by_text("later than target").count() >= 1
        page.add_script_tag(url=f"{live_server.url}/static/vendor/axe.min.js")
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
        serious = [(v["id"], [n["target"] for n in v["nodes"][:3]]) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], serious
        if width == 390:
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # The holdings table fits its card at both widths (one card a row on a phone), no sideways scroll.
        fits = page.evaluate("() => { const w = document.querySelector('#chart-figures .table-wrap');"
                             " return [w.scrollWidth, w.clientWidth]; }")
        assert fits[0] <= fits[1], (size, fits)
        page.screenshot(path=f"{screenshots_dir}/dashboard-{size}.png", full_page=True)

        with page.expect_download() as download:
            page.locator("#chart-mids .csv-link").click()
        assert download.value.suggested_filename.startswith("mids-")
        assert errors == []
        context.close()
