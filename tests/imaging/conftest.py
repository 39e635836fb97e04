import pytest

from imaging.services import imaging_batch_create
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory


@pytest.fixture
def media(settings, tmp_path):
    """Each test its own storage root, so 'nothing left behind' can be checked file by file."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_WORK_DIR = str(tmp_path / "work")
    return tmp_path / "media"


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="BOT", name="Herbarium")


@pytest.fixture
def batch(institution, media):
    return imaging_batch_create(institution=institution, name="Tray 1")


@pytest.fixture
def specimen(collection):
    return SpecimenFactory(collection=collection, catalog_number="NHMUK010123456", status=Specimen.Status.PUBLISHED)


def stored_files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- a worker the tests may SIGKILL -----------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.conftest import worker_database_url  # noqa: E402

from . import worker_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent


class CrashWorker:
    """`celery worker` (prefork) on the crash queues, in its own process group; start, kill, restart.

    Like `make run` it also runs beat (the reconciler every second here, worker_settings);
    `start(beat=False)` leaves a restarted worker to recover images on its own.
    """

    def __init__(self, media_root: Path, log: Path, *, concurrency: int = 1, env: dict | None = None):
        self.media_root, self.log_path, self.process = media_root, log, None
        self.concurrency, self.env = concurrency, env or {}

    def start(self, *, beat: bool = True) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.imaging.worker_settings",
               "DATABASE_URL": worker_database_url(), "PORTAL_TEST_RUN": os.environ["PORTAL_TEST_RUN"],
               "MEDIA_ROOT": str(self.media_root), **self.env}
        self.log = open(self.log_path, "a")
        beat_args = ["--beat", "--schedule", str(self.log_path.with_name("celerybeat-schedule"))] if beat else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "collections_portal", "worker", "-l", "info",
             "-Q", ",".join(worker_settings.CELERY_QUEUES_ALL), "--concurrency", str(self.concurrency),
             "--pool", "prefork", "-n", f"crash-{uuid.uuid4().hex[:6]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", *beat_args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        from collections_portal.common.tasks import health_check_task

        result = health_check_task.apply_async(("ready",), queue=worker_settings.CELERY_TASK_DEFAULT_QUEUE)
        deadline = time.monotonic() + 60
        while not result.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("crash worker did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.1)

    def pool_children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill_child(self) -> None:
        for pid in self.pool_children():
            os.kill(pid, signal.SIGKILL)

    def kill_all(self) -> None:
        """SIGKILL the main process and its pool together, as a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.log.close()


@pytest.fixture
def crash_worker(request, transactional_db, settings, tmp_path):
    """A killable worker on its own queues and storage root; imaging tasks are routed to it.

    Parametrize it indirectly with {"concurrency": 2, "env": {...}} to change the worker.
    """
    from collections_portal.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media").mkdir()
    saved_routes = app.conf.task_routes
    app.conf.task_routes = worker_settings.CELERY_TASK_ROUTES
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)  # Celery caches the router built from the old routes
    worker = CrashWorker(tmp_path / "media", tmp_path / "crash-worker.log", **getattr(request, "param", {}))
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.task_routes = saved_routes
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)
