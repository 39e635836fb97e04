"""Writing and reading image files through Django's storage API (local disk or S3).

Keys are chosen by the server. A write never leaves a half-written file under its final key:
on local disk the bytes go to `<key>.part` and are renamed into place; an S3 PUT appears whole
or not at all. The temporary name is fixed per key, so a rerun after a crash overwrites it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

CHUNK = 1 << 20


class TooLarge(Exception):
    pass


def _is_local() -> bool:
    return isinstance(default_storage, FileSystemStorage)


def storage_put(key: str, source: BinaryIO, *, max_bytes: int | None = None) -> int:
    """Store `source` under `key` (overwriting), return its size; TooLarge past `max_bytes`."""
    if _is_local():
        final = Path(default_storage.path(key))
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + ".part")
        size = 0
        try:
            with open(part, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(size)
                    out.write(chunk)
            os.replace(part, final)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    else:
        if max_bytes is not None:
            spool = tempfile.SpooledTemporaryFile(max_size=8 * CHUNK)
            size = 0
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(size)
                spool.write(chunk)
            spool.seek(0)
            source = spool
        if default_storage.exists(key):
            default_storage.delete(key)
        saved = default_storage.save(key, File(source))
        size = default_storage.size(saved)
    _pause()
    return size


def storage_put_tree(prefix: str, build, *, work_dir: Path) -> int:
    """Store the folder that `build(out_dir)` writes at `out_dir/<name>` under `prefix`; total bytes.

    Local disk: built beside the target in a staging folder of this process's own
    (`<name>.part-<host>-<pid>`), then renamed into place: one rename for thousands of tiles. Two
    attempts on one image (a lapsed lease) never build in, or remove, each other's folder; the
    leftovers of dead processes on this host are removed first. Elsewhere: built in `work_dir`,
    then each file stored.
    """
    name = prefix.rstrip("/").rsplit("/", 1)[-1]
    if _is_local():
        final = Path(default_storage.path(prefix))
        final.parent.mkdir(parents=True, exist_ok=True)
        _staging_leftovers_remove(final)
        mine = f"{socket.gethostname()}-{os.getpid()}"
        staging, old = final.with_name(f"{final.name}.part-{mine}"), final.with_name(f"{final.name}.old-{mine}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            build(staging)
            size = sum(p.stat().st_size for p in (staging / name).rglob("*") if p.is_file())
            if final.exists():
                os.replace(final, old)  # a directory cannot be renamed over a full one: set it aside
            try:
                os.replace(staging / name, final)
            except OSError:
                if not final.exists():
                    raise  # otherwise a parallel attempt placed the same tiles a moment ago: keep them
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        _pause()
        return size
    out = work_dir / "tree"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    build(out)
    size = 0
    for file in sorted(p for p in (out / name).rglob("*") if p.is_file()):
        size += storage_put_path(f"{prefix}/{file.relative_to(out / name).as_posix()}", file)
    return size


def _staging_leftovers_remove(final: Path) -> None:
    """Staging folders beside `final` left by processes of this host that died mid-build."""
    host = socket.gethostname()
    for path in final.parent.glob(f"{final.name}.*"):
        suffix = path.name[len(final.name) + 1:]
        if suffix == "part":  # the single staging name used before: never live now
            shutil.rmtree(path, ignore_errors=True)
            continue
        kind, _, owner = suffix.partition("-")
        owner_host, _, pid = owner.rpartition("-")
        if kind not in ("part", "old") or owner_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def _pause() -> None:
    delay = getattr(settings, "IMAGING_STORE_DELAY_SECONDS", 0)
    if delay:  # only the crash tests set it: a slow object store, so a kill lands mid-write
        time.sleep(delay)


def storage_put_path(key: str, path: Path) -> int:
    with open(path, "rb") as source:
        return storage_put(key, source)


def storage_delete(key: str) -> None:
    if key and default_storage.exists(key):
        default_storage.delete(key)


def storage_delete_prefix(prefix: str) -> None:
    """Remove every file under `prefix/` (a derivative folder)."""
    prefix = prefix.rstrip("/")
    if _is_local():
        shutil.rmtree(default_storage.path(prefix), ignore_errors=True)
        return
    dirs, files = default_storage.listdir(prefix)
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for name in dirs:
        storage_delete_prefix(f"{prefix}/{name}")


def storage_keep_copy(source_key: str, target_key: str) -> None:
    """Make `target_key` hold the bytes of `source_key`, leaving the source in place.

    The source is removed only once a committed row no longer needs it, so a stage killed
    before its commit finds both files again. Local disk: a hard link (no copy, and atomic:
    the target appears whole). Elsewhere, or across file systems: a copy by temp file and rename.
    """
    if _is_local():
        target = Path(default_storage.path(target_key))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(default_storage.path(source_key), target)
            return
        except FileExistsError:
            return  # made by an earlier attempt: same key, same bytes (the key is their SHA-256)
        except OSError:
            pass  # no hard links here: copy
    storage_copy(source_key, target_key)


def storage_copy(source_key: str, target_key: str) -> int:
    with default_storage.open(source_key, "rb") as source:
        return storage_put(target_key, source)


@contextlib.contextmanager
def storage_local_path(key: str, *, work_dir: Path) -> Iterator[Path]:
    """A local file path for libvips: the file itself on disk storage, else a downloaded copy."""
    if _is_local():
        yield Path(default_storage.path(key))
        return
    local = work_dir / ("download-" + key.replace("/", "_"))
    with default_storage.open(key, "rb") as source, open(local, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
    try:
        yield local
    finally:
        local.unlink(missing_ok=True)
