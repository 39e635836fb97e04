"""EML 2.1.1 in GBIF's metadata profile (DESIGN §4.3): written from plain values, and checked
for what GBIF requires before a dataset is registered.

No database here: publishing/ gathers the values (dataset fields, coverage computed from the
records) and calls `eml_xml`; `eml_problems` reads any EML, ours or a third party's, without
trusting it (defusedxml: no DTDs, no entities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET

EML_NS = "eml://ecoinformatics.org/eml-2.1.1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
GBIF_PROFILE = "http://rs.gbif.org/schema/eml-gbif-profile/1.2/eml.xsd"
LICENCE_TITLES = {
    "http://creativecommons.org/publicdomain/zero/1.0/legalcode": "Public Domain (CC0 1.0)",
    "http://creativecommons.org/licenses/by/4.0/legalcode": "Creative Commons Attribution (CC-BY) 4.0",
    "http://creativecommons.org/licenses/by-nc/4.0/legalcode": "Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0",
}
TITLE_MIN_LENGTH = 10

EML_TITLE_SHORT = "The title must be at least {n} characters long."
EML_MISSING = "EML has no {what}."
EML_LICENCE = "The licence must be CC0 1.0, CC BY 4.0 or CC BY-NC 4.0."
EML_BBOX_SWAPPED = "The bounding box has its north below its south."


@dataclass
class Party:
    """A creator, contact or metadata provider: a person (name split at the last space) or an organisation."""

    name: str = ""
    organisation: str = ""
    email: str = ""
    orcid: str = ""
    is_organisation: bool = False


@dataclass
class Coverage:
    west: float | None = None
    east: float | None = None
    north: float | None = None
    south: float | None = None
    description: str = ""
    start: date | None = None
    end: date | None = None
    taxa: list[tuple[str, str]] = field(default_factory=list)  # (rank, name)


@dataclass
class EmlDocument:
    package_id: str
    title: str
    abstract: str
    publisher: str
    creators: list[Party]
    contacts: list[Party]
    metadata_providers: list[Party]
    pub_date: date
    licence_url: str
    citation: str
    identifier: str
    update_frequency: str
    homepage: str = ""
    language: str = "en"
    coverage: Coverage = field(default_factory=Coverage)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: ET.Element, tag: str, party: Party) -> None:
    element = _sub(parent, tag)
    if party.name and not party.is_organisation:
        name = _sub(element, "individualName")
        given, _, sur = party.name.strip().rpartition(" ")
        if given:
            _sub(name, "givenName", given)
        _sub(name, "surName", sur or party.name)
    if party.organisation or party.is_organisation:
        _sub(element, "organizationName", party.organisation or party.name)
    if party.email:
        _sub(element, "electronicMailAddress", party.email)
    if party.orcid:
        _sub(element, "userId", party.orcid.rsplit("/", 1)[-1], directory="https://orcid.org/")


def _paras(parent: ET.Element, tag: str, text: str) -> None:
    element = _sub(parent, tag)
    for para in [p.strip() for p in text.split("\n\n") if p.strip()] or [""]:
        _sub(element, "para", para)


def eml_xml(doc: EmlDocument) -> bytes:
    """The EML document, GBIF profile; ElementTree escapes every value."""
    ET.register_namespace("eml", EML_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(f"{{{EML_NS}}}eml", {
        "packageId": doc.package_id, "system": "http://gbif.org", "scope": "system",
        f"{{{XSI_NS}}}schemaLocation": f"{EML_NS} {GBIF_PROFILE}", "{http://www.w3.org/XML/1998/namespace}lang": doc.language,
    })
    dataset = _sub(root, "dataset")
    if doc.identifier:
        _sub(dataset, "alternateIdentifier", doc.identifier)
    _sub(dataset, "title", doc.title, **{"{http://www.w3.org/XML/1998/namespace}lang": doc.language})
    for party in doc.creators:
        _party(dataset, "creator", party)
    for party in doc.metadata_providers:
        _party(dataset, "metadataProvider", party)
    _sub(dataset, "pubDate", doc.pub_date.isoformat())
    _sub(dataset, "language", doc.language)
    _paras(dataset, "abstract", doc.abstract)
    rights = _sub(_sub(dataset, "intellectualRights"), "para")
    rights.text = "This work is licensed under a "
    link = _sub(rights, "ulink", url=doc.licence_url)
    _sub(link, "citetitle", LICENCE_TITLES.get(doc.licence_url, doc.licence_url))
    link.tail = "."
    if doc.homepage:
        online = _sub(_sub(dataset, "distribution", scope="document"), "online")
        _sub(online, "url", doc.homepage, function="information")
    cov = doc.coverage
    if cov.west is not None or cov.start or cov.taxa:
        coverage = _sub(dataset, "coverage")
        if cov.west is not None:
            geo = _sub(coverage, "geographicCoverage")
            _sub(geo, "geographicDescription", cov.description or "Bounding box of the published records.")
            box = _sub(geo, "boundingCoordinates")
            for tag, value in (("westBoundingCoordinate", cov.west), ("eastBoundingCoordinate", cov.east),
                               ("northBoundingCoordinate", cov.north), ("southBoundingCoordinate", cov.south)):
                _sub(box, tag, f"{value:.6f}".rstrip("0").rstrip("."))
        if cov.start:
            dates = _sub(_sub(coverage, "temporalCoverage"), "rangeOfDates")
            _sub(_sub(dates, "beginDate"), "calendarDate", cov.start.isoformat())
            _sub(_sub(dates, "endDate"), "calendarDate", (cov.end or cov.start).isoformat())
        if cov.taxa:
            taxonomic = _sub(coverage, "taxonomicCoverage")
            for rank, name in cov.taxa:
                item = _sub(taxonomic, "taxonomicClassification")
                _sub(item, "taxonRankName", rank)
                _sub(item, "taxonRankValue", name)
    maintenance = _sub(dataset, "maintenance")
    _paras(maintenance, "description", "Published from the collections portal; a new version when the records change.")
    _sub(maintenance, "maintenanceUpdateFrequency", doc.update_frequency)
    for party in doc.contacts:
        _party(dataset, "contact", party)
    gbif = _sub(_sub(_sub(root, "additionalMetadata"), "metadata"), "gbif")
    _sub(gbif, "dateStamp", doc.pub_date.isoformat())
    _sub(gbif, "hierarchyLevel", "dataset")
    _sub(gbif, "citation", doc.citation, identifier=doc.identifier)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _text(root, path: str) -> str:
    element = root.find(path)
    return "".join(element.itertext()).strip() if element is not None else ""


def eml_problems(data: bytes) -> list[str]:
    """What GBIF's validator would refuse or flag in an EML document (empty list: fine).

    Required: title (at least 10 characters), creator, contact, metadataProvider, pubDate,
    language, abstract, a GBIF licence as intellectualRights; a bounding box with north ≥ south.
    """
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:  # defusedxml raises its own and ParseError
        return [f"EML is not well-formed XML: {exc}"]
    for element in root.iter():  # compare local names: third-party files use other prefixes
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    dataset = root.find("dataset")
    if dataset is None:
        return [EML_MISSING.format(what="dataset element")]
    problems = []
    title = _text(dataset, "title")
    if not title:
        problems.append(EML_MISSING.format(what="title"))
    elif len(title) < TITLE_MIN_LENGTH:
        problems.append(EML_TITLE_SHORT.format(n=TITLE_MIN_LENGTH))
    for tag, what in (("creator", "creator"), ("contact", "contact"), ("metadataProvider", "metadata provider"),
                      ("pubDate", "publication date"), ("language", "language"), ("abstract", "abstract")):
        element = dataset.find(tag)
        if element is None or not "".join(element.itertext()).strip():
            problems.append(EML_MISSING.format(what=what))
    rights = dataset.find("intellectualRights")
    urls = [link.get("url", "") for link in rights.iter("ulink")] if rights is not None else []
    if not any(url.replace("https://", "http://").rstrip("/") in {u.rstrip("/") for u in LICENCE_TITLES} for url in urls):
        problems.append(EML_LICENCE)
    box = dataset.find("coverage/geographicCoverage/boundingCoordinates")
    if box is not None:
        try:
            if float(_text(box, "northBoundingCoordinate")) < float(_text(box, "southBoundingCoordinate")):
                problems.append(EML_BBOX_SWAPPED)
        except ValueError:
            problems.append("The bounding box has a coordinate that is not a number.")
    return problems
