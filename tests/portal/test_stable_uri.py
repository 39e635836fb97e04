"""The stable URI (CETAF, DESIGN §4.6): 303 by Accept, 406, 404/410 in every representation, RDF rdflib reads."""

import json

import pytest
from django.utils import timezone
from rdflib import Graph, Literal, Namespace, URIRef

from specimens.models import Specimen
from specimens.services import taxon_ensure_path
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db
DWC = Namespace("http://rs.tdwg.org/dwc/terms/")
BASE = "https://museum.example.org"
PARSE = {"jsonld": "json-ld", "ttl": "turtle", "rdf": "xml"}


@pytest.fixture(autouse=True)
def public_base(settings):
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def specimen(institution):
    taxon = taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("phylum", "Tracheophyta"), ("class", "Magnoliopsida"),
                                     ("order", "Fagales"), ("family", "Fagaceae"), ("genus", "Quercus"),
                                     ("species", "Quercus robur")], authorship="L.")
    return SpecimenFactory(collection=CollectionFactory(institution=institution, code="BOT"), status=Specimen.Status.PUBLISHED,
                           taxon=taxon, scientific_name="Quercus robur L.", recorded_by="A. Smith|B. Jones",
                           record_number="1234", event_date="1998-06-01", decimal_latitude="51.478712",
                           decimal_longitude="-0.295103", geodetic_datum="WGS84", locality="Oak by the Palm House")


def uri(specimen) -> str:
    return f"/specimen/{specimen.uuid}"


@pytest.mark.parametrize("accept, suffix", [
    ("text/html", "html"), ("*/*", "html"), ("application/ld+json", "jsonld"), ("text/turtle", "ttl"),
    ("application/rdf+xml", "rdf"), ("text/turtle;q=0.4, application/rdf+xml;q=0.6", "rdf"),
])
def test_the_stable_uri_answers_303_to_the_representation_asked_for(public_client, specimen, accept, suffix):
    response = public_client.get(uri(specimen), HTTP_ACCEPT=accept)

    assert response.status_code == 303
    assert response["Location"] == f"{BASE}/specimen/{specimen.uuid}.{suffix}"
    assert response["Vary"] == "Accept"


def test_no_accept_header_means_the_page(public_client, specimen):
    response = public_client.get(uri(specimen))
    assert response.status_code == 303 and response["Location"].endswith(".html")


def test_an_accept_header_matching_nothing_gets_406(public_client, specimen):
    response = public_client.get(uri(specimen), HTTP_ACCEPT="image/png, application/pdf;q=0.5")
    assert response.status_code == 406 and response["Vary"] == "Accept"
    assert "text/turtle" in response.content.decode()


@pytest.mark.parametrize("suffix", ["jsonld", "ttl", "rdf"])
def test_each_document_parses_with_rdflib_and_follows_the_preview_profile(public_client, specimen, suffix):
    response = public_client.get(f"{uri(specimen)}.{suffix}")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == {"jsonld": "application/ld+json", "ttl": "text/turtle",
                                                      "rdf": "application/rdf+xml"}[suffix]

    graph = Graph().parse(data=response.content.decode(), format=PARSE[suffix])
    subject = URIRef(f"{BASE}/specimen/{specimen.uuid}")
    assert (subject, DWC.scientificName, Literal("Quercus robur L.")) in graph
    assert (subject, DWC.family, Literal("Fagaceae")) in graph
    assert (subject, DWC.recordNumber, Literal("1234")) in graph
    assert (subject, DWC.countryCode, Literal("GB")) in graph
    assert (subject, DWC.catalogNumber, Literal(specimen.catalog_number)) in graph
    assert str(graph.value(subject, DWC.decimalLatitude)) == "51.478712"
    assert graph.value(subject, URIRef("http://purl.org/dc/terms/title")) is not None


def test_json_ld_carries_its_context(public_client, specimen):
    data = json.loads(public_client.get(f"{uri(specimen)}.jsonld").content)
    assert data["@context"]["dwc"] == str(DWC)


@pytest.mark.parametrize("suffix", ["jsonld", "ttl", "rdf"])
def test_a_sensitive_record_is_generalised_for_machines_too(public_client, specimen, suffix):
    Specimen.objects.filter(pk=specimen.pk).update(locality_sensitivity="10km")

    body = public_client.get(f"{uri(specimen)}.{suffix}").content.decode()
    graph = Graph().parse(data=body, format=PARSE[suffix])

    assert "Palm House" not in body and "478712" not in body
    assert str(graph.value(URIRef(f"{BASE}/specimen/{specimen.uuid}"), DWC.decimalLatitude)) == "51.5"


@pytest.mark.parametrize("path_suffix, accept, status", [
    ("", "text/turtle", 404), ("", "application/ld+json", 404), ("", "text/html", 404),
    (".ttl", None, 404), (".jsonld", None, 404), (".rdf", None, 404), (".html", None, 404),
])
def test_unknown_and_draft_uuids_are_404_in_every_representation(public_client, institution, path_suffix, accept, status):
    draft = SpecimenFactory(collection=CollectionFactory(institution=institution), status=Specimen.Status.DRAFT)
    for target in (f"/specimen/00000000-0000-4000-8000-000000000000{path_suffix}", f"{uri(draft)}{path_suffix}"):
        response = public_client.get(target, **({"HTTP_ACCEPT": accept} if accept else {}))
        assert response.status_code == status, target
        if path_suffix in (".ttl", ".rdf", ".jsonld"):
            Graph().parse(data=response.content.decode(), format=PARSE[path_suffix[1:]])  # still a valid document


@pytest.mark.parametrize("path_suffix, accept, parse", [
    ("", "text/turtle", "turtle"), ("", "application/rdf+xml", "xml"), ("", "application/ld+json", "json-ld"),
    ("", "text/html", None), (".ttl", None, "turtle"), (".rdf", None, "xml"), (".jsonld", None, "json-ld"),
    (".html", None, None),
])
def test_a_withdrawn_record_keeps_its_tombstone_in_every_representation(public_client, specimen, path_suffix, accept, parse):
    Specimen.objects.filter(pk=specimen.pk).update(status=Specimen.Status.WITHDRAWN, withdrawn_at=timezone.now(),
                                                   withdrawn_reason="Duplicate of another record")
    response = public_client.get(f"{uri(specimen)}{path_suffix}", **({"HTTP_ACCEPT": accept} if accept else {}))

    assert response.status_code == 410
    body = response.content.decode()
    assert "Quercus" not in body and "Palm House" not in body
    if parse:
        graph = Graph().parse(data=body, format=parse)
        assert (URIRef(f"{BASE}/specimen/{specimen.uuid}"), URIRef("http://www.w3.org/2002/07/owl#deprecated"),
                Literal(True)) in graph
    else:
        assert "has been withdrawn" in body


def test_the_stable_uri_reads_a_constant_number_of_queries(public_client, specimen, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        public_client.get(uri(specimen), HTTP_ACCEPT="text/turtle")
    with django_assert_max_num_queries(2):
        public_client.get(f"{uri(specimen)}.ttl")
