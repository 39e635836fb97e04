"""Login and abuse: sign-in lockout, NUL and broken UTF-8 in addresses, deep JSON, error pages."""

import json
import logging
import re
import uuid
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.db.models import F
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse
from rest_framework.authtoken.models import Token

from collections_portal.common.login import LOGIN_LOCKED_OUT
from collections_portal.common.parsers import JSON_MAX_DEPTH, JSON_TOO_DEEP, json_nesting_depth
from institutions.models import Role

from .factories.institutions import CollectionFactory

pytestmark = pytest.mark.django_db

LOGIN_URLS = ["/accounts/login/", "/admin/login/"]


def locked_message() -> str:
    return LOGIN_LOCKED_OUT.format(minutes=round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def sign_in(client: Client, username: str, password: str, *, address: str = "10.0.0.1", url: str = "/accounts/login/"):
    return client.post(url, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def wind_back_attempts(by: timedelta) -> None:
    """Time travel: every recorded failure happened `by` earlier."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - by)


# --- (5) sign-in lockout ---------------------------------------------------------------------------


def test_lockout_defaults_are_ten_failures_and_a_15_minute_cool_off():
    assert settings.AXES_ENABLED
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert locked_message() == "Too many failed sign-in attempts. Try again in 15 minutes."


def test_a_few_wrong_passwords_then_the_right_one_still_signs_in(user_with_role, institution):
    curator = user_with_role(Role.CURATOR, institution)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, curator.username, "wrong").status_code == 200

    response = sign_in(client, curator.username, "pw")

    assert response.status_code == 302 and signed_in(client)


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_forty_wrong_passwords_then_the_right_one_is_refused_with_our_lockout_page(user_with_role, url):
    user = user_with_role("admin")  # staff, so the admin login would accept the right password too
    client = Client()
    answers = [sign_in(client, user.username, f"guess-{n}", url=url).status_code for n in range(40)]

    response = sign_in(client, user.username, "pw", url=url)

    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(answers[settings.AXES_FAILURE_LIMIT - 1:]) == {429}
    assert response.status_code == 429 and not signed_in(client)
    page = response.content.decode()
    assert locked_message() in page
    assert "The Impossible Museum" in page and 'class="site-header"' in page  # our template, not a bare string
    assert response["Retry-After"] == str(15 * 60)


def test_one_address_trying_many_usernames_is_locked_but_other_addresses_are_not(user_with_role, institution):
    curator = user_with_role(Role.CURATOR, institution)
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(attacker, f"nobody-{n}", "guess", address="192.0.2.7")

    refused = sign_in(attacker, curator.username, "pw", address="192.0.2.7")
    elsewhere = Client()
    accepted = sign_in(elsewhere, curator.username, "pw", address="198.51.100.20")

    assert refused.status_code == 429 and locked_message() in refused.content.decode()
    assert not signed_in(attacker)
    assert accepted.status_code == 302 and signed_in(elsewhere)


def test_one_username_tried_from_many_addresses_is_locked_from_every_address(user_with_role, institution):
    curator = user_with_role(Role.CURATOR, institution)
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), curator.username, "guess", address=f"203.0.113.{n + 1}")

    client = Client()
    refused = sign_in(client, curator.username, "pw", address="198.51.100.99")

    assert refused.status_code == 429 and not signed_in(client)
    assert locked_message() in refused.content.decode()


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_sign_in_works_again_once_the_cool_off_has_passed(user_with_role, url):
    user = user_with_role("admin")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, user.username, "guess", url=url)
    assert sign_in(client, user.username, "pw", url=url).status_code == 429

    wind_back_attempts(settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    still_locked = sign_in(client, user.username, "pw", url=url)  # and this attempt restarts the wait
    wind_back_attempts(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    response = sign_in(client, user.username, "pw", url=url)

    assert still_locked.status_code == 429
    assert response.status_code == 302 and signed_in(client)


def test_a_lockout_is_logged_as_a_warning_and_recorded_in_the_database(user_with_role, institution, caplog):
    curator = user_with_role(Role.CURATOR, institution)
    with caplog.at_level(logging.WARNING):
        for _ in range(settings.AXES_FAILURE_LIMIT + 1):
            sign_in(Client(), curator.username, "guess", address="192.0.2.50")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Locking out" in m and curator.username in m and "192.0.2.50" in m for m in warnings), warnings
    assert any("Sign-in refused during a lockout" in m for m in warnings), warnings
    attempt = AccessAttempt.objects.get(username=curator.username)
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT + 1 and attempt.ip_address == "192.0.2.50"
    assert AccessFailureLog.objects.filter(username=curator.username, locked_out=True).exists()
    assert "pw" not in attempt.post_data and "guess" not in attempt.post_data  # passwords are masked


def test_the_address_behind_our_proxy_is_the_one_counted(user_with_role, institution, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    curator = user_with_role(Role.CURATOR, institution)
    client = Client()
    # The client's own X-Forwarded-For entry ("1.2.3.4") is not trusted; our proxy's append is.
    client.post("/accounts/login/", {"username": curator.username, "password": "guess"},
                REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.3")

    assert AccessAttempt.objects.get(username=curator.username).ip_address == "198.51.100.3"


def test_a_forged_forwarded_address_that_is_not_an_address_falls_back_to_the_socket(user_with_role, institution, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    curator = user_with_role(Role.CURATOR, institution)
    Client().post("/accounts/login/", {"username": curator.username, "password": "guess"},
                  REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")

    assert AccessAttempt.objects.get(username=curator.username).ip_address == "10.0.0.2"


def test_token_and_session_access_to_the_api_still_work_with_lockout_installed(curator_client, institution, user_with_role):
    CollectionFactory(institution=institution, code="BOT")
    curator = user_with_role(Role.CURATOR, institution)
    token = Token.objects.create(user=curator)
    body = json.dumps({"collection": "OWN:BOT", "catalog_number": "TOKEN-1"})

    by_token = Client().post(reverse("specimens_api:specimen_list"), body, content_type="application/json",
                             HTTP_AUTHORIZATION=f"Token {token.key}")
    by_session = curator_client.get(reverse("specimens_api:specimen_list"))

    assert by_token.status_code == 201, by_token.content[:300]
    assert by_session.status_code == 200


# --- (10) NUL and invalid characters in the path or query ------------------------------------------

SAMPLE_BY_CONVERTER = {"str": "NHMUK", "slug": "nhmuk", "int": "1", "uuid": str(uuid.UUID(int=1)), "path": "a/b"}
_PARAMETER = re.compile(r"<(?:(\w+):)?\w+>")


def project_routes() -> list[str]:
    """Every path() route of the project with sample values (the admin's regex routes left out)."""
    routes = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = str(entry.pattern)
            if entry.pattern.__class__.__name__ != "RoutePattern":
                continue
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + route)
            elif isinstance(entry, URLPattern):
                routes.append("/" + _PARAMETER.sub(lambda m: SAMPLE_BY_CONVERTER[m.group(1) or "str"], prefix + route))

    walk(get_resolver().url_patterns, "")
    return sorted(set(routes))


def nul_addresses() -> list[str]:
    addresses = [f"{route}?q=a%00" for route in project_routes()]
    addresses += [route.replace("NHMUK", "NH%00MUK") for route in project_routes() if "NHMUK" in route]
    return addresses + ["/admin/?q=%00", "/admin/login/?next=/admin/%00", "/admin/specimens/specimen/?q=%00"]


def test_the_route_list_covers_the_probed_urls():
    routes = project_routes()
    assert {"/institutions/NHMUK/", "/api/v1/specimens/", "/api/v1/institutions/NHMUK/",
            "/curate/taxa/autocomplete/", "/accounts/login/"} <= set(routes)
    assert len(routes) > 40


@pytest.mark.parametrize("address", nul_addresses())
def test_a_nul_in_the_path_or_query_of_any_url_is_a_400(client_for, institution, address):
    client = client_for(Role.CURATOR, institution)
    client.raise_request_exception = False

    response = client.get(address)

    assert response.status_code == 400, (address, response.status_code)


@pytest.mark.parametrize("address", [
    "/institutions/NH%00MUK/", "/api/v1/specimens/?q=%00", "/curate/taxa/autocomplete/?q=a%00",
    "/api/v1/institutions/NH%00MUK/", "/api/v1/specimens/?catalog_number=%00", "/institutions/NH%01MUK/",
    "/api/v1/specimens/?q=a%1Fb", "/api/v1/specimens/?q=%ED%B0%80", "/api/v1/specimens/?q=%FF",
    "/api/v1/taxa/?q%00=1", "/curate/agents/autocomplete/?q=%C0%AF",
])
def test_the_probed_control_characters_and_broken_utf8_get_our_400_page(curator_client, address):
    curator_client.raise_request_exception = False

    response = curator_client.get(address)

    assert response.status_code == 400
    assert "This request could not be understood" in response.content.decode()


@pytest.mark.parametrize("address", ["/institutions/%ED%A0%80/", "/institutions/%C0%AF/", "/api/v1/institutions/%FF/"])
def test_broken_utf8_in_the_path_is_a_404(curator_client, address):
    # Django re-percent-encodes broken UTF-8 in the path, so views only ever see inert text.
    curator_client.raise_request_exception = False

    assert curator_client.get(address).status_code == 404


def test_ordinary_unicode_tabs_and_newlines_in_addresses_still_work(curator_client, institution):
    assert curator_client.get("/institutions/OWN/").status_code == 200
    assert curator_client.get("/institutions/%C3%89COLE/").status_code == 404  # é: a real letter, just no such code
    assert curator_client.get("/api/v1/specimens/?q=P%C3%A9rez%09x%0Ay%0D").status_code == 200
    assert curator_client.get("/curate/taxa/autocomplete/?q=Bellis+perennis%20%F0%9F%8C%BC").status_code == 200


def test_a_nul_in_a_posted_form_field_is_a_field_error_not_a_500(curator_client, institution):
    from .test_permissions import form_data

    collection = CollectionFactory(institution=institution, code="BOT")
    curator_client.raise_request_exception = False

    # The test client sends multipart: the middleware leaves the body for the form to read.
    response = curator_client.post(reverse("specimens:curate_create"),
                                   data=form_data(catalog_number="E\x001", collection=collection.pk))

    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()
    assert not collection.specimens.exists()


def test_a_nul_in_a_json_api_field_is_a_400_field_error(curator_client, institution):
    CollectionFactory(institution=institution, code="BOT")
    curator_client.raise_request_exception = False

    response = curator_client.post(reverse("specimens_api:specimen_list"), content_type="application/json",
                                   data=json.dumps({"collection": "OWN:BOT", "catalog_number": "E\u00001"}))

    assert response.status_code == 400
    assert response.json()["catalog_number"] == ["Null characters are not allowed."]


def test_a_nul_in_the_login_form_is_a_form_error_and_not_a_lockout_record(client):
    response = client.post("/accounts/login/", {"username": "cur\x00ator", "password": "x"})

    assert response.status_code == 200 and "Null characters are not allowed." in response.content.decode()
    assert not AccessAttempt.objects.exists()


# --- (10) deeply nested JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_a_json_body_nested_5000_deep_is_a_400_with_a_clear_message(curator_client, institution, opening, closing):
    CollectionFactory(institution=institution, code="BOT")
    curator_client.raise_request_exception = False
    body = '{"collection": "OWN:BOT", "catalog_number": "D1", "habitat": ' + opening * 5000 + "1" + closing * 5000 + "}"

    response = curator_client.post(reverse("specimens_api:specimen_list"), data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": JSON_TOO_DEEP.format(limit=JSON_MAX_DEPTH)}


def test_json_nesting_is_counted_outside_strings_without_recursion():
    at_limit = "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH
    brackets_in_strings = json.dumps({"note": "[" * 5000 + '\\"{' * 500, "n": [[["ok"]]]})
    unterminated = '["' + '\\"[' * 10_000

    assert json_nesting_depth(at_limit) == JSON_MAX_DEPTH
    assert json_nesting_depth("[" + at_limit + "]") == JSON_MAX_DEPTH + 1
    assert json_nesting_depth(brackets_in_strings) == 4
    assert json_nesting_depth(unterminated) == 1
    assert json_nesting_depth('{"a": [1, {"b": "]]]}"}], "c": {}}') == 3


def test_json_below_the_limit_still_reaches_the_api(curator_client, institution):
    CollectionFactory(institution=institution, code="BOT")
    body = json.dumps({"collection": "OWN:BOT", "catalog_number": "[{not nesting}]", "habitat": "bog"})

    response = curator_client.post(reverse("specimens_api:specimen_list"), data=body, content_type="application/json")

    assert response.status_code == 201 and response.json()["catalog_number"] == "[{not nesting}]"


# --- our own error pages -------------------------------------------------------------------------------


def _raising_view(request):
    raise RuntimeError("secret-internal-detail from a broken view")


urlpatterns = [path("test-boom/", _raising_view), path("", include("collections_portal.urls"))]


@pytest.mark.urls(__name__)
def test_an_unhandled_error_shows_our_500_page_without_a_traceback():
    client = Client(raise_request_exception=False)

    response = client.get("/test-boom/")

    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page and "The Impossible Museum" in page and "css/portal.css" in page
    assert "Traceback" not in page and "secret-internal-detail" not in page and "RuntimeError" not in page


def test_404_and_403_pages_are_ours(public_client, digitiser_client):
    missing = public_client.get("/no-such-page/")
    forbidden = digitiser_client.get(reverse("specimens:curate_create"))

    assert missing.status_code == 404 and "Not found" in missing.content.decode()
    assert "There is nothing at this address." in missing.content.decode()
    assert "Resolver404" not in missing.content.decode()
    assert forbidden.status_code == 403 and "Not allowed" in forbidden.content.decode()
