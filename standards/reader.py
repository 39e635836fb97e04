"""A tolerant reader for Darwin Core Archives and plain CSV/TSV files with Darwin Core columns.

Rules (DESIGN §4.2): meta.xml at the root or in one sub-folder (`__MACOSX/` ignored); without it a
"simple archive" whose header row names the terms. The declared dialect is used as declared and
only what is missing is sniffed; a BOM is stripped; lines are split only on the declared
terminator (so a NEL inside a value stays in the value) and a trailing CR is dropped. File
problems raise ArchiveError; everything else is a warning or a row-level problem for the caller.
"""

from __future__ import annotations

import codecs
import csv
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

from .archive import ArchiveError, Source, source_open
from .meta import MAX_XML_BYTES, Descriptor, FieldSpec, FileSpec, descriptor_parse, eml_warnings, looks_like_eml
from .terms import term_canonical

MAX_LINE_BYTES = 1024**2  # one physical line; a 100 MB "line" is refused, never buffered
CHUNK_BYTES = 1024**2
DATA_SUFFIXES = (".txt", ".csv", ".tsv", ".tab", ".dat")
UTF8 = "utf-8"


@dataclass(frozen=True)
class TextFormat:
    encoding: str  # a Python codec name
    bom: bytes
    has_soh: bool = True  # a \x01 byte occurs (so it cannot stand in as a "no quote" character)


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup((name or UTF8).strip()).name
    except LookupError:
        return None


def text_format_detect(source: Source, name: str, declared: str = "UTF-8") -> TextFormat:
    """One streaming pass: BOM, NUL bytes, over-long lines, and an encoding that decodes it all.

    UTF-8 is tried first; if it fails the declared encoding is used; if that fails too (or
    none was declared) the file is refused with the position of the first bad byte.
    """
    with source.open(name) as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        candidates, bom = [UTF8], codecs.BOM_UTF8
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ArchiveError(f"{name} is UTF-16 encoded; save it as UTF-8 (or UTF-8 with BOM) and upload it again.")
    else:
        bom = b""
        declared_codec = _codec(declared)
        if declared_codec is None:
            raise ArchiveError(f"{name}: the declared encoding '{declared}' is not one we know.")
        candidates = [UTF8] + ([declared_codec] if declared_codec != UTF8 else [])
    first_error = None
    for encoding in candidates:
        try:
            has_soh = _scan(source, name, encoding, len(bom))
            return TextFormat(encoding, bom, has_soh)
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    line, byte = first_error.args[-1]  # set by _scan
    hint = "" if len(candidates) > 1 else " Save it as UTF-8, or declare its encoding in meta.xml."
    raise ArchiveError(
        f"{name} is not valid {' or '.join(c.upper() for c in candidates)}: "
        f"byte 0x{byte:02X} on line {line} cannot be decoded.{hint}"
    )


def _scan(source: Source, name: str, encoding: str, skip: int) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line, run, has_soh = 1, 0, False
    with source.open(name) as handle:
        handle.read(skip)
        while chunk := handle.read(CHUNK_BYTES):
            if b"\x00" in chunk:
                at_line = line + chunk.count(b"\n", 0, chunk.index(b"\x00"))
                raise ArchiveError(f"{name} contains NUL bytes (line {at_line}); it looks like a binary file, not text.")
            first = chunk.find(b"\n")
            if run + (first if first >= 0 else len(chunk)) > MAX_LINE_BYTES:
                raise ArchiveError(
                    f"{name}: line {line} is longer than {MAX_LINE_BYTES // 1024**2} MB; refused."
                )
            if first >= 0:
                run = len(chunk) - chunk.rfind(b"\n") - 1
            else:
                run += len(chunk)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad_line = line + chunk.count(b"\n", 0, exc.start)
                exc.args = (*exc.args, (bad_line, chunk[exc.start]))
                raise
            line += chunk.count(b"\n")
            has_soh = has_soh or b"\x01" in chunk
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            exc.args = (*exc.args, (line, 0))
            raise
    return has_soh


def _text_chunks(source: Source, name: str, fmt: TextFormat) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(fmt.encoding)("strict")
    with source.open(name) as handle:
        handle.read(len(fmt.bom))
        while chunk := handle.read(CHUNK_BYTES):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)


def _lines(chunks: Iterator[str], terminator: str) -> Iterator[str]:
    """Split only on the declared terminator, keeping it; str.splitlines() would split on NEL."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        parts = buffer.split(terminator)
        buffer = parts.pop()
        for part in parts:
            yield part + terminator
    if buffer:
        yield buffer


def records(source: Source, name: str, spec: FileSpec, fmt: TextFormat) -> Iterator[tuple[int, list[str]]]:
    """(line number, values) for each record, header lines included; blank lines skipped."""
    terminator = spec.terminator or "\n"
    lines = _lines(_text_chunks(source, name, fmt), terminator)
    if not spec.quote:
        for number, text in enumerate(lines, start=1):
            text = text[: -len(terminator)] if text.endswith(terminator) else text
            if text.endswith("\r"):
                text = text[:-1]
            if text.strip():
                yield number, text.split(spec.delimiter)
        return
    if len(spec.delimiter) != 1:
        raise ArchiveError(f"{name}: a quoted file needs a one-character field separator, not '{spec.delimiter}'.")
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(lines, delimiter=spec.delimiter, quotechar=spec.quote, doublequote=True, strict=False)
    start = 1
    try:
        for values in reader:
            if values and any(v.strip() for v in values):
                if values[-1].endswith("\r"):
                    values[-1] = values[-1][:-1]
                yield start, values
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ArchiveError(f"{name}: cannot read the record starting on line {start} ({exc}).") from None


@dataclass
class DwcArchive:
    """An opened upload: the core file's spec and text format, plus file-level warnings."""

    source: Source
    core: FileSpec
    core_name: str
    extensions: list[tuple[FileSpec, str | None]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metadata_name: str | None = None
    _format: TextFormat | None = None

    @property
    def core_format(self) -> TextFormat:
        if self._format is None:
            self._format = text_format_detect(self.source, self.core_name, self.core.encoding)
        return self._format

    def core_records(self) -> Iterator[tuple[int, list[str]]]:
        return records(self.source, self.core_name, self.core, self.core_format)

    def extension_records(self, spec: FileSpec, name: str) -> Iterator[tuple[int, list[str]]]:
        return records(self.source, name, spec, text_format_detect(self.source, name, spec.encoding))

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _listed(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _find(names: list[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    lowered = {n.lower(): n for n in names}
    return lowered.get(wanted.lower())


def _find_meta(names: list[str]) -> str | None:
    at_root = [n for n in names if n.lower() == "meta.xml"]
    if at_root:
        return at_root[0]
    nested = [n for n in names if n.count("/") == 1 and posixpath.basename(n).lower() == "meta.xml"]
    if len(nested) > 1:
        raise ArchiveError("The archive has meta.xml in several folders (" + ", ".join(sorted(nested)) + "); keep one.")
    return nested[0] if nested else None


def _sniff_simple(source: Source, name: str) -> FileSpec:
    with source.open(name) as handle:
        head = handle.read(MAX_LINE_BYTES + 1)
    first = head.split(b"\n", 1)[0]
    if b"\n" not in head and len(head) > MAX_LINE_BYTES:
        raise ArchiveError(f"{name}: line 1 is longer than {MAX_LINE_BYTES // 1024**2} MB; refused.")
    text = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    if not text.strip():
        raise ArchiveError(f"{name} is empty or its first line (the header naming the columns) is blank.")
    delimiter = max(["\t", ",", ";", "|"], key=lambda d: (text.count(d), d == "\t"))
    quote = '"' if delimiter in ",;" or text.startswith('"') else ""
    headers = next(csv.reader([text], delimiter=delimiter, quotechar='"')) if quote else text.split(delimiter)
    spec = FileSpec(
        row_type="", location=name, encoding="UTF-8", delimiter=delimiter, quote=quote,
        header_lines=1, declared=False,
    )
    spec.fields = [FieldSpec(i, h.strip(), term_canonical(h)) for i, h in enumerate(headers)]
    if not any(f.canonical for f in spec.fields):
        raise ArchiveError(
            f"{name}: no column of the header row is a Darwin Core term (found: {', '.join(headers[:6])}…)."
        )
    return spec


def dwc_open(path) -> DwcArchive:
    """Open a Darwin Core Archive (zip or folder) or a CSV/TSV file; ArchiveError if unreadable."""
    source = source_open(path)
    try:
        return _open(source)
    except BaseException:
        source.close()
        raise


def _open(source: Source) -> DwcArchive:
    names = source.names()
    meta_name = _find_meta(names)
    if meta_name is None:
        candidates = [n for n in names if n.lower().endswith(DATA_SUFFIXES) or len(names) == 1]
        if not candidates:
            raise ArchiveError(f"The {source.label} has no meta.xml and no data file (.txt, .csv, .tsv).")
        if len(candidates) > 1:
            raise ArchiveError(
                f"The {source.label} has no meta.xml and several data files ({', '.join(sorted(candidates)[:5])}); "
                "add a meta.xml saying which one is the core."
            )
        spec = _sniff_simple(source, candidates[0])
        archive = DwcArchive(source=source, core=spec, core_name=candidates[0])
        if source.label != "file":
            archive.warnings.append("No meta.xml: read as a simple archive whose header row names the terms.")
        unknown = [f.term for f in spec.fields if not f.canonical]
        if unknown:
            archive.warnings.append(f"Columns that are not Darwin Core terms were ignored: {_listed(unknown)}.")
        return archive

    descriptor: Descriptor = descriptor_parse(source.read(meta_name, limit=MAX_XML_BYTES))
    base = posixpath.dirname(meta_name)
    core_name = _find(names, posixpath.join(base, descriptor.core.location))
    if core_name is None:
        raise ArchiveError(
            f"meta.xml names the data file '{descriptor.core.location}', which is not in the {source.label}."
        )
    archive = DwcArchive(source=source, core=descriptor.core, core_name=core_name)
    for spec in descriptor.extensions:
        ext_name = _find(names, posixpath.join(base, spec.location))
        if ext_name is None:
            archive.warnings.append(f"meta.xml names the extension file '{spec.location}', which is missing.")
        archive.extensions.append((spec, ext_name))
    _metadata_check(archive, names, base, descriptor.metadata)
    unknown = [f.term for f in descriptor.core.fields if not f.canonical]
    if unknown:
        archive.warnings.append(f"Terms that are not Darwin Core were ignored: {_listed([u.rsplit('/', 1)[-1] for u in unknown])}.")
    return archive


def _metadata_check(archive: DwcArchive, names: list[str], base: str, declared: str | None) -> None:
    source = archive.source
    found = _find(names, posixpath.join(base, declared)) if declared else None
    if found is None:
        # Wrong or missing name: look for an EML document by content next to meta.xml.
        for name in sorted(names):
            if posixpath.dirname(name) == base and name.lower().endswith(".xml") and posixpath.basename(name).lower() != "meta.xml":
                if source.size(name) <= MAX_XML_BYTES and looks_like_eml(source.read(name, limit=MAX_XML_BYTES)):
                    found = name
                    break
        if declared and found:
            archive.warnings.append(f"meta.xml names the metadata file '{declared}', which is missing; used '{found}' instead.")
        elif declared:
            archive.warnings.append(f"meta.xml names the metadata file '{declared}', which is missing (no EML metadata).")
        elif found:
            archive.warnings.append(f"meta.xml does not name its metadata file; used '{found}'.")
        else:
            archive.warnings.append("The archive has no EML metadata.")
    if found:
        archive.metadata_name = found
        archive.warnings.extend(eml_warnings(source.read(found, limit=MAX_XML_BYTES), name=found))
