"""Open an uploaded zip, folder or single file without trusting it.

Nothing is ever extracted: members are read by name, after the whole central directory has
passed the guards below (entry count, declared sizes and compression ratio, names, symlinks,
nested archives). Readers only open the files meta.xml names.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MAX_ENTRIES = 1_000
MAX_TOTAL_BYTES = 4 * 1024**3  # declared uncompressed size of the whole archive
MAX_RATIO = 100  # uncompressed ÷ compressed, for members above RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024**2
NESTED_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".jar", ".war")
MAGIC_ARCHIVES = {
    b"\x1f\x8b": "a gzip file",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"BZh": "a bzip2 file",
    b"\xfd7zXZ": "an xz file",
}
IGNORED_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


class ArchiveError(Exception):
    """The file as a whole cannot be read; the message is for the curator."""


def _relative(name: str) -> str:
    """An entry name as a relative POSIX name: '/eml.xml' and './eml.xml' are 'eml.xml'.

    Some IPT versions write every entry with a leading '/'. Nothing is ever extracted, and members
    are read by these names only, so a leading '/' or './' climbs nowhere; '..' still does, and
    stays refused.
    """
    name = name.replace("\\", "/")
    while name.startswith(("/", "./")):
        name = name[1:] if name.startswith("/") else name[2:]
    return name


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p in IGNORED_PARTS for p in parts) or PurePosixPath(name).name.startswith("._")


class Source:
    """Files of one upload, addressed by relative POSIX names."""

    label = "file"

    def names(self) -> list[str]:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def read(self, name: str, *, limit: int) -> bytes:
        if self.size(name) > limit:
            raise ArchiveError(f"{name} is larger than {limit // 1024**2} MB; refused.")
        with self.open(name) as handle:
            return handle.read(limit + 1)[:limit]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ZipSource(Source):
    label = "zip archive"

    def __init__(self, path: Path):
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ArchiveError(f"This is not a readable zip archive ({exc}).") from None
        try:
            self._infos = self._check(self.zip.infolist())
        except ArchiveError:
            self.zip.close()
            raise

    @staticmethod
    def _check(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"The zip has {len(infos)} entries; at most {MAX_ENTRIES} are accepted.")
        total = 0
        kept: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            relative = _relative(name)
            path = PurePosixPath(relative)
            if (len(relative) > 1 and relative[1] == ":") or path.is_absolute():
                raise ArchiveError(f"The zip entry '{name}' has an absolute path; refused.")
            if ".." in path.parts:
                raise ArchiveError(f"The zip entry '{name}' points outside the archive ('..'); refused.")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"The zip entry '{name}' is a symbolic link; refused.")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"The zip entry '{name}' is encrypted; refused.")
            if info.is_dir() or _hidden(name):
                continue
            if path.name.lower().endswith(NESTED_SUFFIXES):
                raise ArchiveError(f"The zip contains another archive ('{name}'); nested archives are refused.")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise ArchiveError(
                    f"The zip would expand to more than {MAX_TOTAL_BYTES // 1024**3} GB; refused (possible zip bomb)."
                )
            if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise ArchiveError(
                    f"The zip entry '{name}' expands {info.file_size // max(info.compress_size, 1)}× "
                    f"(limit {MAX_RATIO}×); refused (possible zip bomb)."
                )
            if str(path) in kept:
                raise ArchiveError(f"The zip has two entries named '{path}' ('{kept[str(path)].filename}' and '{name}'); refused.")
            kept[str(path)] = info
        return kept

    def names(self) -> list[str]:
        return list(self._infos)

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    def open(self, name: str) -> BinaryIO:
        handle = self.zip.open(self._infos[name])
        head = handle.peek(8)[:8] if hasattr(handle, "peek") else b""
        if head.startswith(b"PK\x03\x04"):
            handle.close()
            raise ArchiveError(f"'{name}' is itself a zip archive; nested archives are refused.")
        return handle

    def close(self) -> None:
        self.zip.close()


class FolderSource(Source):
    label = "folder"

    def __init__(self, path: Path):
        self.root = path.resolve()
        found = []
        for current, dirs, files in os.walk(self.root, followlinks=False):
            rel_dir = Path(current).relative_to(self.root)
            dirs[:] = [d for d in dirs if d not in IGNORED_PARTS and len(rel_dir.parts) < 1]
            for file_name in files:
                rel = (rel_dir / file_name).as_posix()
                if not _hidden(rel):
                    found.append(rel)
                if len(found) > MAX_ENTRIES:
                    raise ArchiveError(f"The folder has more than {MAX_ENTRIES} files.")
        self._names = found

    def names(self) -> list[str]:
        return list(self._names)

    def _path(self, name: str) -> Path:
        path = self.root / name
        if path.is_symlink():
            raise ArchiveError(f"'{name}' is a symbolic link; refused.")
        resolved = path.resolve()
        if self.root not in resolved.parents:
            raise ArchiveError(f"'{name}' lies outside the archive folder; refused.")
        return resolved

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def open(self, name: str) -> BinaryIO:
        return open(self._path(name), "rb")


class SingleFileSource(Source):
    label = "file"

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name

    def names(self) -> list[str]:
        return [self.name]

    def size(self, name: str) -> int:
        return self.path.stat().st_size

    def open(self, name: str) -> BinaryIO:
        return open(self.path, "rb")


def source_open(path: str | os.PathLike) -> Source:
    """A Source for a zip, a folder or a plain CSV/TSV file; ArchiveError for anything else."""
    path = Path(path)
    if path.is_symlink():
        raise ArchiveError(f"{path.name} is a symbolic link; refused.")
    if not path.exists():
        raise ArchiveError(f"{path} does not exist.")
    if path.is_dir():
        return FolderSource(path)
    if not path.is_file():
        raise ArchiveError(f"{path.name} is not a regular file.")
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZipSource(path)
    for magic, what in MAGIC_ARCHIVES.items():
        if head.startswith(magic):
            raise ArchiveError(f"{path.name} is {what}; upload a zip (Darwin Core Archive) or a CSV/TSV file.")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise ArchiveError(f"{path.name} is a tar archive; upload a zip (Darwin Core Archive) or a CSV/TSV file.")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ArchiveError(f"{path.name} is neither a zip archive nor a text (CSV/TSV) file; refused.")
    return SingleFileSource(path)
