"""Writing one Darwin Core Archive to a local file: each data file streamed from its COPY into the
zip, then meta.xml and eml.xml. Used by dataset versions, `export_dwca` and search downloads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from standards.dwca_write import ArchiveWriter, meta_xml

from .export import RecordScope, archive_files, copy_stream

FLUSH_BYTES = 1 << 20  # COPY sends a message per row: gather them before each deflate call


def archive_write(*, scope: RecordScope, path: Path, eml: bytes, image_licence: str,
                  progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write the archive of `scope`'s records to `path`; rows written per data file.

    `progress(core_rows_so_far)` is called about every 10,000 core rows. Memory stays flat: each
    COPY is read message by message and deflated in 1 MB pieces.
    """
    counts: dict[str, int] = {}
    files = archive_files(image_licence=image_licence)
    with ArchiveWriter(path) as archive:
        for spec, query in files:
            rows = -1  # the header line
            buffer = bytearray()
            with archive.entry(spec.location) as entry:
                for chunk in copy_stream(query(scope)):
                    buffer += chunk
                    rows += 1
                    if len(buffer) >= FLUSH_BYTES:
                        entry.write(buffer)
                        buffer.clear()
                    if progress and spec.is_core and rows % 10_000 == 0:
                        progress(rows)
                entry.write(buffer)
            counts[spec.location] = max(rows, 0)
        archive.write("meta.xml", meta_xml([spec for spec, _ in files]))
        archive.write("eml.xml", eml)
    if progress:
        progress(counts["occurrence.txt"])
    return counts
