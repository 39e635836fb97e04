import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from institutions.models import Role

from .factories.institutions import InstitutionFactory, MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def institution(db):
    return InstitutionFactory(code="OWN", name="Own Museum")


@pytest.fixture
def other_institution(db):
    return InstitutionFactory(code="OTHER", name="Other Museum")


@pytest.fixture
def user_with_role(db):
    """user_with_role(role, institution) → a saved user holding that membership ('admin' = superuser)."""

    def make(role: str | None, institution=None):
        if role is None:
            return None
        if role == "admin":
            return UserFactory(username=f"admin-{uuid.uuid4().hex[:6]}", is_superuser=True, is_staff=True)
        user = UserFactory(username=f"{role}-{uuid.uuid4().hex[:6]}")
        MembershipFactory(user=user, role=role, institution=None if role == Role.PROGRAMME_MANAGER else institution)
        return user

    return make


@pytest.fixture
def client_for(user_with_role):
    def make(role: str | None, institution=None) -> Client:
        client = Client()
        user = user_with_role(role, institution)
        if user is not None:
            client.force_login(user)
            client.user = user
        return client

    return make


@pytest.fixture
def public_client():
    return Client()


@pytest.fixture
def digitiser_client(client_for, institution):
    return client_for(Role.DIGITISER, institution)


@pytest.fixture
def curator_client(client_for, institution):
    return client_for(Role.CURATOR, institution)


@pytest.fixture
def manager_client(client_for, institution):
    return client_for(Role.COLLECTION_MANAGER, institution)


@pytest.fixture
def programme_manager_client(client_for):
    return client_for(Role.PROGRAMME_MANAGER)


# --- a real Celery worker ---------------------------------------------------------------------


def worker_database_url() -> str:
    """DATABASE_URL of the test database, for worker processes the tests start."""
    from urllib.parse import quote

    db = settings.DATABASES["default"]
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    auth = db["USER"] + (f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else "")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery worker` process on the test database and this run's own queues.

    Tests that use it need `transactional_db`, so their rows are committed and visible to it.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "collections_portal.settings.test",
        "DATABASE_URL": worker_database_url(),
        "PORTAL_TEST_RUN": os.environ["PORTAL_TEST_RUN"],
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    log = open(Path(settings.MEDIA_ROOT) / "worker.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "collections_portal", "worker", "-l", "info",
         "-Q", ",".join(settings.CELERY_QUEUES_ALL), "--concurrency", "2", "-n", f"test-{uuid.uuid4().hex[:6]}@%h",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    from collections_portal.common.tasks import health_check_task

    deadline = time.monotonic() + 60
    result = health_check_task.delay("ready")
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"celery worker exited ({process.returncode}); see {log.name}:\n"
                                   + Path(log.name).read_text()[-3000:])
            if result.ready():
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery worker not ready after 60 s; see {log.name}:\n" + Path(log.name).read_text()[-3000:])
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def imaging_tasks_parked(settings):
    """Route imaging tasks to a queue no worker reads, for tests that run the pipeline in-process.

    In a transactional test a received image is enqueued at commit; a session worker started by
    another test would then process it too, against its own storage root.
    """
    from collections_portal.celery import app

    parked = f"{settings.CELERY_QUEUE_PREFIX}parked"
    saved = app.conf.task_routes
    app.conf.task_routes = {**settings.CELERY_TASK_ROUTES, "imaging.*": {"queue": parked}}
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)  # Celery caches the router built from the old routes
    try:
        yield parked
    finally:
        app.conf.task_routes = saved
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(parked)
