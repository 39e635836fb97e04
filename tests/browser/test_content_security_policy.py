import pytest
from django.core.management import call_command

from specimens.models import Specimen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_run_under_the_content_security_policy_without_violations(live_server, page):
    """Scripts come only from our static files; a blocked script or style would show in the console."""
    call_command("load_demo", verbosity=0)
    specimen = Specimen.objects.filter(status="published").first()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    response = page.goto(live_server.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(live_server.url + "/api/docs/")
    page.locator(".swagger-ui .information-container").wait_for(timeout=15_000)  # Swagger UI started
    page.goto(f"{live_server.url}/specimen/{specimen.uuid}.html")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("demo-portal-2026")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/curate/specimens/{specimen.uuid}/edit/")
    page.get_by_label("Scientific name").fill("Pion")  # htmx autocomplete request
    page.wait_for_timeout(600)
    page.goto(live_server.url + "/admin/specimens/specimen/")

    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
    assert page.locator("#result_list").is_visible()
