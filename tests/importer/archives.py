"""Small Darwin Core Archives in the shapes real publishers write (see each test for the source).

`dwca_write(path, core=..., extensions=[...])` writes a zip: tab-separated files with a header
line, a meta.xml naming every column by its term URI, and an eml.xml. `prefix` puts a string
before every entry name ("/" as the IPT archive of issue 10 does).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

DWC = "http://rs.tdwg.org/dwc/terms/"
TERM_URIS = {
    # Simple Multimedia (GBIF) and Audubon Core terms outside the dwc namespace
    "identifier": "http://purl.org/dc/terms/identifier",
    "format": "http://purl.org/dc/terms/format",
    "type": "http://purl.org/dc/terms/type",
    "title": "http://purl.org/dc/terms/title",
    "license": "http://purl.org/dc/terms/license",
    "rightsHolder": "http://purl.org/dc/terms/rightsHolder",
    "creator": "http://purl.org/dc/terms/creator",
    "references": "http://purl.org/dc/terms/references",
    "accessURI": "http://rs.tdwg.org/ac/terms/accessURI",
    "dc:format": "http://purl.org/dc/elements/1.1/format",
    "dc:creator": "http://purl.org/dc/elements/1.1/creator",
    "Owner": "http://ns.adobe.com/xap/1.0/rights/Owner",
    "UsageTerms": "http://ns.adobe.com/xap/1.0/rights/UsageTerms",
}
OCCURRENCE = DWC + "Occurrence"
EVENT = DWC + "Event"
MULTIMEDIA = "http://rs.gbif.org/terms/1.0/Multimedia"
AUDUBON = "http://rs.tdwg.org/ac/terms/Multimedia"
EML = """<?xml version="1.0" encoding="UTF-8"?>
<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1" packageId="x/v1.0" system="http://gbif.org" scope="system">
<dataset><title>A test dataset written like a real one</title><creator><organizationName>Museum</organizationName></creator></dataset>
</eml:eml>
"""


@dataclass
class Table:
    row_type: str
    location: str
    terms: list[str]  # column 0 is the id (core) or coreid (extension); it is also mapped when named
    rows: list[list[str]] = field(default_factory=list)


def _uri(term: str) -> str:
    return TERM_URIS.get(term, DWC + term)


def _meta(core: Table, extensions: list[Table]) -> str:
    def block(tag: str, table: Table, id_tag: str) -> str:
        fields = "".join(f'<field index="{i}" term="{_uri(t)}"/>' for i, t in enumerate(table.terms) if t != "id")
        return (f'<{tag} encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" '
                f'ignoreHeaderLines="1" rowType="{table.row_type}"><files><location>{table.location}</location></files>'
                f'<{id_tag} index="0"/>{fields}</{tag}>')

    return ('<?xml version="1.0" encoding="UTF-8"?><archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">'
            + block("core", core, "id") + "".join(block("extension", e, "coreid") for e in extensions) + "</archive>")


def _tsv(table: Table) -> str:
    return "".join("\t".join(row) + "\n" for row in [table.terms, *table.rows])


def dwca_write(path: Path, *, core: Table, extensions: list[Table] = (), prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(prefix + "meta.xml", _meta(core, list(extensions)))
        archive.writestr(prefix + "eml.xml", EML)
        for table in (core, *extensions):
            archive.writestr(prefix + table.location, _tsv(table))
    return path


def occurrences(rows: list[dict[str, str]]) -> Table:
    """An Occurrence core from dicts (keys are terms; `id` first, defaulting to the row number)."""
    terms = ["id"] + sorted({k for row in rows for k in row} - {"id"})
    table = Table(OCCURRENCE, "occurrence.txt", terms)
    for n, row in enumerate(rows, start=1):
        table.rows.append([row.get("id", str(n)) if t == "id" else row.get(t, "") for t in terms])
    return table


def csv_write(path: Path, rows: list[dict[str, str]]) -> Path:
    """A plain tab-separated file whose header names the terms (a "simple archive")."""
    terms = list(dict.fromkeys(k for row in rows for k in row))
    path.write_text("".join("\t".join(r) + "\n" for r in [terms, *[[row.get(t, "") for t in terms] for row in rows]]))
    return path
