"""A specimen's citation for reference managers: BibTeX and RIS, from the public record.

The same parts as the citation line on the specimen page (institution, name, catalogue number,
site, stable URI, record version and date), read from the record as the public sees it
(specimens.public). Text from the record is escaped for BibTeX and kept to one line for RIS, so a
name holding `&`, a brace or a line break cannot break the file a reader imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings

from . import rdf

# LaTeX's special characters, each written as text.
_BIBTEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "$": r"\$",
                   "#": r"\#", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
_BIBTEX_SPECIAL = re.compile("|".join(map(re.escape, _BIBTEX_ESCAPES)))
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9:_-]+")


@dataclass(frozen=True)
class Citation:
    institution: str
    institution_code: str
    scientific_name: str
    catalog_number: str
    url: str
    version: int
    modified: date

    @property
    def title(self) -> str:
        return ", ".join(part for part in (self.scientific_name, self.catalog_number) if part) or "Specimen"

    @property
    def key(self) -> str:
        return _KEY_UNSAFE.sub("-", f"{self.institution_code}-{self.catalog_number}").strip("-") or "specimen"


def citation_for(specimen) -> Citation:
    """`specimen`: the public copy (specimens.public.specimen_public_copy) with its collection."""
    institution = specimen.collection.institution
    return Citation(institution=_line(institution.name), institution_code=_line(institution.code),
                    scientific_name=_line(specimen.scientific_name), catalog_number=_line(specimen.catalog_number),
                    url=rdf.stable_uri(specimen.uuid), version=specimen.version, modified=specimen.updated_at.date())


def _line(text: str | None) -> str:
    return " ".join(_CONTROL.sub(" ", text or "").split())


def _bibtex(text: str) -> str:
    return _BIBTEX_SPECIAL.sub(lambda m: _BIBTEX_ESCAPES[m.group(0)], text)


def citation_bibtex(citation: Citation) -> str:
    note = f"Specimen record, version {citation.version} of {citation.modified:%-d %B %Y}"
    fields = [
        # Double braces: an institution is one name, not "Kew, Royal Botanic Gardens".
        ("author", "{" + _bibtex(citation.institution) + "}"),
        ("title", "{" + _bibtex(citation.title) + "}"),
        ("howpublished", _bibtex(settings.SITE_NAME)),
        ("year", str(citation.modified.year)),
        ("url", citation.url),
        ("note", _bibtex(note)),
    ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{citation.key},\n{body}\n}}\n"


def citation_ris(citation: Citation) -> str:
    tags = [
        ("TY", "DATA"),
        ("TI", citation.title),
        ("AU", citation.institution),
        ("PB", citation.institution),
        ("DB", settings.SITE_NAME),
        ("AN", citation.catalog_number),
        ("PY", str(citation.modified.year)),
        ("DA", f"{citation.modified:%Y/%m/%d}"),
        ("ET", f"Record version {citation.version}"),
        ("UR", citation.url),
        ("ID", citation.key),
    ]
    lines = [f"{tag}  - {value}" for tag, value in tags if value]
    return "\r\n".join([*lines, "ER  - ", ""])
