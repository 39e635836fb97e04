"""meta.xml (the Darwin Core text descriptor) and a few EML checks, parsed without trusting XML.

defusedxml refuses DTDs and entity declarations, so external entities (XXE) and entity
expansion ("billion laughs") never reach the parser; input is size-capped before parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .archive import ArchiveError
from .terms import term_canonical

MAX_XML_BYTES = 10 * 1024**2


@dataclass
class FieldSpec:
    index: int | None
    term: str  # as written in meta.xml
    canonical: str | None  # Darwin Core simple name, None when unknown
    default: str = ""


@dataclass
class FileSpec:
    row_type: str
    location: str
    encoding: str = "UTF-8"
    delimiter: str = ","
    terminator: str = "\n"
    quote: str = '"'
    header_lines: int = 0
    id_index: int | None = None
    fields: list[FieldSpec] = field(default_factory=list)
    declared: bool = True  # False for a "simple archive" sniffed from its header

    @property
    def max_index(self) -> int:
        return max((f.index for f in self.fields if f.index is not None), default=-1)


@dataclass
class Descriptor:
    core: FileSpec
    extensions: list[FileSpec]
    metadata: str | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _unescape(value: str | None, default: str) -> str:
    if value is None:
        return default
    return value.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")


def xml_parse(data: bytes, *, name: str) -> Element:
    """Parse untrusted XML or raise ArchiveError naming the line and column."""
    if len(data) > MAX_XML_BYTES:
        raise ArchiveError(f"{name} is larger than {MAX_XML_BYTES // 1024**2} MB; refused.")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ArchiveError(f"{name} declares a DTD or XML entities; these are refused for safety.") from None
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        reason = str(exc).split(":")[0]
        raise ArchiveError(f"{name} is not well-formed XML at line {line}, column {column}: {reason}.") from None


def _file_spec(element: Element, *, is_core: bool) -> FileSpec:
    kind = "core" if is_core else "extension"
    row_type = (element.get("rowType") or "").strip()
    locations = [
        (loc.text or "").strip()
        for files in element if _local(files.tag) == "files"
        for loc in files if _local(loc.tag) == "location"
    ]
    locations = [loc for loc in locations if loc]
    if not locations:
        raise ArchiveError(f"meta.xml: the <{kind}> ({row_type or 'no rowType'}) has no <files><location> naming its data file.")
    try:
        header_lines = int((element.get("ignoreHeaderLines") or "0").strip() or 0)
    except ValueError:
        raise ArchiveError(f"meta.xml: ignoreHeaderLines=\"{element.get('ignoreHeaderLines')}\" is not a number.") from None
    spec = FileSpec(
        row_type=row_type,
        location=locations[0],
        encoding=(element.get("encoding") or "UTF-8").strip(),
        delimiter=_unescape(element.get("fieldsTerminatedBy"), ","),
        terminator=_unescape(element.get("linesTerminatedBy"), "\n"),
        quote=_unescape(element.get("fieldsEnclosedBy"), '"'),
        header_lines=max(header_lines, 0),
    )
    if len(spec.quote) > 1:
        raise ArchiveError(f"meta.xml: fieldsEnclosedBy=\"{spec.quote}\" must be one character or empty.")
    if not spec.delimiter:
        raise ArchiveError("meta.xml: fieldsTerminatedBy is empty.")
    for child in element:
        tag = _local(child.tag)
        index_text = child.get("index")
        index = None
        if index_text is not None and index_text.strip() != "":
            if not re.fullmatch(r"\s*\d+\s*", index_text):
                raise ArchiveError(f"meta.xml: <{tag} index=\"{index_text}\"> is not a column number.")
            index = int(index_text)
        if tag in ("id", "coreid"):
            spec.id_index = index
        elif tag == "field":
            term = (child.get("term") or "").strip()
            if not term:
                raise ArchiveError("meta.xml: a <field> has no term attribute.")
            spec.fields.append(FieldSpec(index, term, term_canonical(term), child.get("default") or ""))
    return spec


def descriptor_parse(data: bytes) -> Descriptor:
    root = xml_parse(data, name="meta.xml")
    if _local(root.tag) != "archive":
        raise ArchiveError(f"meta.xml: the root element is <{_local(root.tag)}>, not <archive>.")
    cores = [el for el in root if _local(el.tag) == "core"]
    if not cores:
        raise ArchiveError("meta.xml has no <core> element describing the main data file.")
    core = _file_spec(cores[0], is_core=True)
    extensions = [_file_spec(el, is_core=False) for el in root if _local(el.tag) == "extension"]
    metadata = (root.get("metadata") or "").strip() or None
    return Descriptor(core=core, extensions=extensions, metadata=metadata)


def eml_warnings(data: bytes, *, name: str) -> list[str]:
    """Metadata problems GBIF would flag; they never block an import."""
    try:
        root = xml_parse(data, name=name)
    except ArchiveError as exc:
        return [f"Metadata: {exc}"]
    warnings = []
    dataset = next((el for el in root.iter() if _local(el.tag) == "dataset"), None)
    if dataset is None:
        return [f"Metadata: {name} has no <dataset> element."]
    title = next(((el.text or "").strip() for el in dataset if _local(el.tag) == "title"), "")
    if len(title) < 10:
        warnings.append(f"Metadata: the dataset title '{title}' is shorter than 10 characters.")
    if not any(_local(el.tag) == "creator" for el in dataset):
        warnings.append("Metadata: the dataset has no creator.")
    return warnings


def looks_like_eml(data: bytes) -> bool:
    head = data[:2048].lower()
    return b"<eml:eml" in head or b"eml://ecoinformatics.org" in head or b"<eml " in head
