"""The project as a whole: migrations, deploy checks, start-up errors, demo data."""

import json
import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum

from institutions.models import Collection, CollectionMetric, Institution, Membership
from specimens.models import Identification, Specimen, Taxon

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], **env_changes) -> subprocess.CompletedProcess:
    # A fresh process as an operator would start it: nothing the test session itself set (browser tests
    # export DJANGO_ALLOW_ASYNC_UNSAFE, which `check --deploy` rightly reports).
    leaked = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in leaked and not k.startswith("PYTEST_")}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def assert_one_clear_line(result: subprocess.CompletedProcess, *, contains: str) -> None:
    output = (result.stderr + result.stdout).strip()
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("[portal]")]
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and contains in lines[0], lines[0]


# --- migrations and deploy checks ----------------------------------------------------------------


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"missing migrations (exit {exc.code}):\n{out.getvalue()}")


def test_check_deploy_with_production_settings_has_zero_warnings():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SETTINGS_MODULE="collections_portal.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="collections.example.org",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://collections.example.org",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run(
        ["manage.py", "check"],
        DJANGO_SETTINGS_MODULE="collections_portal.settings.production",
        DJANGO_SECRET_KEY=None, DJANGO_ALLOWED_HOSTS="collections.example.org",
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


# --- start-up errors are one line, never a traceback ---------------------------------------------


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL"])
def test_settings_refuse_a_missing_server_url_with_one_line(variable):
    result = run(["manage.py", "check"], DJANGO_SETTINGS_MODULE="collections_portal.settings.local", **{variable: None})

    assert result.returncode != 0
    assert_one_clear_line(result, contains=f"{variable} is not set")


def test_settings_refuse_a_database_that_is_not_postgresql():
    result = run(["manage.py", "check"], DJANGO_SETTINGS_MODULE="collections_portal.settings.local",
                 DATABASE_URL="sqlite:////tmp/portal.sqlite3")

    assert result.returncode != 0
    assert_one_clear_line(result, contains="PostgreSQL only")


@pytest.mark.parametrize("changes, message", [
    ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"}, "cannot reach PostgreSQL at 127.0.0.1:1/x"),
    ({"DATABASE_URL": "mysql://root@127.0.0.1/x"}, "must be a postgresql:// URL"),
    ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "cannot reach Redis at redis://127.0.0.1:1/0"),
    ({"REDIS_URL": "memcached://127.0.0.1:1"}, "REDIS_URL must start with"),
])
def test_launcher_explains_an_unusable_server_in_one_line(changes, message):
    # The other URL stays the working one this test run uses, so only the broken one is reported.
    result = run(["-m", "collections_portal.launcher", "exec", "--", sys.executable, "-c", "print('started')"], **changes)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "started" not in result.stdout
    assert_one_clear_line(result, contains=message)


# --- demo data -----------------------------------------------------------------------------------


def demo_counts() -> dict:
    return {
        "institutions": Institution.objects.count(),
        "collections": Collection.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
        "specimens": Specimen.objects.count(),
        "published": Specimen.objects.filter(status=Specimen.Status.PUBLISHED).count(),
        "identifications": Identification.objects.count(),
        "taxa": Taxon.objects.count(),
        "metrics": CollectionMetric.objects.count(),
        "metric_total": CollectionMetric.objects.aggregate(total=Sum("value"))["total"],
        "specimen_events": apps.get_model("specimens", "SpecimenEvent").objects.count(),
        "institution_events": apps.get_model("institutions", "InstitutionEvent").objects.count(),
    }


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_the_home_page_shows_it(client, django_assert_max_num_queries):
    call_command("load_demo", stdout=StringIO())
    first = demo_counts()

    call_command("load_demo", stdout=StringIO())

    assert demo_counts() == first
    assert first["institutions"] >= 25
    assert first["collections"] >= first["institutions"]
    assert first["specimens"] == first["published"] == 10
    assert first["users"] == 7 and first["memberships"] == 6
    seeds = json.loads((ROOT / "seeds" / "institutions.json").read_text())
    assert first["institutions"] == len(seeds)

    # institutions' collections with metrics, published counts (cached after), recent specimens, exhibitions + items
    with django_assert_max_num_queries(5):
        response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    nhm = Institution.objects.get(code="NHMUK")
    assert nhm.name in html and "/institutions/NHMUK/" in html
    nhm_estimate = sum(
        c["estimated_objects"] for entry in seeds if entry["code"] == "NHMUK" for c in entry["collections"]
    )
    assert f"{nhm_estimate:,}" in html
