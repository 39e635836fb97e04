"""A specimen as RDF for machines reading its stable URI (DESIGN §4.6, CETAF Specimen Preview Profile).

Built from the public copy of the record (specimens.public), so a sensitive locality is as
generalised here as on the page. The subject is the stable URI itself; the document describing
it (`…/specimen/<uuid>.ttl` etc.) is the one the client was redirected to.
"""

from __future__ import annotations

from django.conf import settings
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, OWL, RDF, XSD

from specimens.dwc import HIGHER_RANKS

DWC = Namespace("http://rs.tdwg.org/dwc/terms/")
DWCIRI = Namespace("http://rs.tdwg.org/dwc/iri/")
DCMITYPE = Namespace("http://purl.org/dc/dcmitype/")
FORMATS = {"jsonld": "json-ld", "ttl": "turtle", "rdf": "xml"}
# The JSON-LD @context: short names for the terms we write, so a JSON reader sees plain keys.
JSONLD_CONTEXT = {
    "dwc": str(DWC), "dwciri": str(DWCIRI), "dcterms": str(DCTERMS), "foaf": str(FOAF), "owl": str(OWL),
    "xsd": str(XSD),
}


def stable_uri(specimen_uuid) -> str:
    return f"{settings.PUBLIC_BASE_URL}/specimen/{specimen_uuid}"


def _add(graph: Graph, subject, predicate, value, datatype=None) -> None:
    if value not in (None, ""):
        graph.add((subject, predicate, Literal(value, datatype=datatype) if datatype else Literal(value)))


def specimen_graph(*, specimen, taxon=None) -> Graph:
    """`specimen`: the public copy (specimen_public_copy), with collection, institution and taxon loaded."""
    graph = Graph()
    for prefix, namespace in JSONLD_CONTEXT.items():
        graph.bind(prefix, namespace)
    subject = URIRef(stable_uri(specimen.uuid))
    institution = specimen.collection.institution
    name = specimen.scientific_name or (str(taxon) if taxon else "")
    graph.add((subject, RDF.type, DCMITYPE.PhysicalObject))
    graph.add((subject, RDF.type, DWC.Occurrence))
    _add(graph, subject, DCTERMS.title, f"{name or 'Specimen'} ({institution.code} {specimen.catalog_number})")
    _add(graph, subject, DWC.occurrenceID, specimen.occurrence_id)
    _add(graph, subject, DWC.catalogNumber, specimen.catalog_number)
    _add(graph, subject, DWC.basisOfRecord, specimen.basis_of_record)
    _add(graph, subject, DWC.institutionCode, institution.code)
    _add(graph, subject, DWC.collectionCode, specimen.collection.code)
    if institution.ror_id:
        graph.add((subject, DWCIRI.inCollection, URIRef(institution.ror_id)))
    _add(graph, subject, DWC.scientificName, name)
    if taxon is not None:
        for term, column in HIGHER_RANKS.items():
            _add(graph, subject, DWC[term], getattr(taxon, column))
        _add(graph, subject, DWC.taxonRank, taxon.rank)
        if taxon.name_id.startswith(("http://", "https://")):
            graph.add((subject, DWCIRI.scientificNameID, URIRef(taxon.name_id)))
    _add(graph, subject, DWC.typeStatus, specimen.type_status)
    _add(graph, subject, DWC.identifiedBy, specimen.identified_by)
    _add(graph, subject, DWC.recordedBy, (specimen.recorded_by or "").replace("|", " | "))
    _add(graph, subject, DWC.recordNumber, specimen.record_number)
    _add(graph, subject, DWC.eventDate, specimen.event_date)
    _add(graph, subject, DWC.countryCode, specimen.country_code)
    _add(graph, subject, DWC.country, specimen.country)
    _add(graph, subject, DWC.stateProvince, specimen.state_province)
    _add(graph, subject, DWC.locality, specimen.locality)
    if specimen.decimal_latitude is not None and specimen.decimal_longitude is not None:
        _add(graph, subject, DWC.decimalLatitude, specimen.decimal_latitude, XSD.decimal)
        _add(graph, subject, DWC.decimalLongitude, specimen.decimal_longitude, XSD.decimal)
        _add(graph, subject, DWC.geodeticDatum, specimen.geodetic_datum)
        _add(graph, subject, DWC.coordinateUncertaintyInMeters, specimen.coordinate_uncertainty_in_meters, XSD.decimal)
    _add(graph, subject, DWC.dataGeneralizations, specimen.data_generalizations)
    _add(graph, subject, DWC.informationWithheld, specimen.information_withheld)
    if specimen.license.startswith(("http://", "https://")):
        graph.add((subject, DCTERMS.license, URIRef(specimen.license)))
    _add(graph, subject, DCTERMS.rightsHolder, specimen.rights_holder or institution.name)
    _add(graph, subject, DCTERMS.modified, specimen.updated_at.isoformat(), XSD.dateTime)
    for item in specimen.media:
        image = URIRef(f"{settings.PUBLIC_BASE_URL}{item['iiif_service']}/full/max/0/default.jpg")
        graph.add((subject, FOAF.depiction, image))
        graph.add((subject, DWC.associatedMedia, Literal(str(image))))
    graph.add((subject, DCTERMS.source, URIRef(f"{stable_uri(specimen.uuid)}.html")))
    return graph


def tombstone_graph(*, specimen) -> Graph:
    """What is left of a withdrawn record for machines: that it existed and was withdrawn."""
    graph = Graph()
    for prefix, namespace in JSONLD_CONTEXT.items():
        graph.bind(prefix, namespace)
    subject = URIRef(stable_uri(specimen.uuid))
    graph.add((subject, RDF.type, DCMITYPE.PhysicalObject))
    graph.add((subject, OWL.deprecated, Literal(True)))
    _add(graph, subject, DWC.occurrenceID, specimen.occurrence_id)
    _add(graph, subject, DWC.catalogNumber, specimen.catalog_number)
    _add(graph, subject, DWC.institutionCode, specimen.collection.institution.code)
    _add(graph, subject, DCTERMS.description, "This record has been withdrawn; the identifier remains valid.")
    if specimen.withdrawn_at:
        _add(graph, subject, DCTERMS.dateAccepted, specimen.withdrawn_at.isoformat(), XSD.dateTime)
    return graph


def graph_serialise(graph: Graph, representation: str) -> str:
    fmt = FORMATS[representation]
    if fmt == "json-ld":
        return graph.serialize(format=fmt, context=JSONLD_CONTEXT, indent=2)
    return graph.serialize(format=fmt)


def empty_document(representation: str, message: str) -> str:
    """A 404 body that still parses in the representation asked for."""
    if representation == "jsonld":
        import json

        return json.dumps({"@context": JSONLD_CONTEXT, "dcterms:description": message})
    if representation == "ttl":
        return f"# {message}\n"
    graph = Graph()
    graph.add((BNode(), DCTERMS.description, Literal(message)))
    return graph.serialize(format="xml")
