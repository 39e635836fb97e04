"""Home, institution, collection and specimen pages: published counts only, progress, taxonomy, map, related."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from institutions.models import CollectionMetric
from specimens.models import Agent, Identification, Specimen, SpecimenAgent
from specimens.services import taxon_ensure_path
from tests.factories.institutions import CollectionFactory, CollectionMetricFactory, InstitutionFactory
from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db


def museum(code: str, name: str, estimate: int | None, digitised: int | None = None):
    institution = InstitutionFactory(code=code, name=name, city="Cardiff")
    collection = CollectionFactory(institution=institution, code="NH", name=f"{name} natural history")
    if estimate is not None:
        CollectionMetricFactory(collection=collection, value=estimate, measured_on=dt.date(2024, 1, 1))
    if digitised is not None:
        CollectionMetricFactory(collection=collection, measurement_type=CollectionMetric.MeasurementType.DIGITISED,
                                value=digitised, measured_on=dt.date(2024, 3, 1))
    return institution


def test_home_lists_institutions_with_their_numbers(public_client):
    museum("NMW", "Amgueddfa Cymru", 4_750_000, 475_000)
    museum("HUNT", "Hunterian", 1_000_000)

    html = public_client.get(reverse("home")).content.decode()

    assert "Amgueddfa Cymru" in html and reverse("institution_detail", args=["NMW"]) in html
    assert "4,750,000" in html and "10.0 %" in html
    assert "5,750,000" in html  # the programme total
    # The Hunterian reports nothing and publishes nothing here: no made-up 0.0 %.
    hunterian_row = re.search(r"Hunterian</a>.*?</tr>", html, re.S).group(0)
    assert "no figure reported" in hunterian_row and "0.0 %" not in hunterian_row


def test_home_counts_published_records_only(public_client):
    institution = museum("NMW", "Amgueddfa Cymru", 1_000_000)
    collection = institution.collections.get()
    SpecimenFactory.create_batch(3, collection=collection, status=Specimen.Status.PUBLISHED)
    SpecimenFactory(collection=collection, status=Specimen.Status.DRAFT)
    SpecimenFactory(collection=collection, status=Specimen.Status.IN_REVIEW)
    SpecimenFactory(collection=collection, status=Specimen.Status.WITHDRAWN)

    html = public_client.get(reverse("home")).content.decode()

    assert "<strong>3</strong> published records are in this portal" in html
    assert "under 0.1 %" in html and "0.0 %" not in html


@pytest.mark.parametrize("n", [2, 10])
def test_home_query_count_does_not_grow_with_institutions(public_client, django_assert_num_queries, n):
    for i in range(n):
        museum(f"M{i}", f"Museum {i}", 1000 * (i + 1), 10 * i)
    public_client.get(reverse("home"))  # fills the published counts' cache

    # collections with metrics, recent specimens with images, exhibitions
    with django_assert_num_queries(3):
        response = public_client.get(reverse("home"))

    assert response.content.decode().count("/institutions/M") == n


def test_home_without_data_says_how_to_load_it(public_client):
    assert "No institutions yet" in public_client.get(reverse("home")).content.decode()


def test_institution_page_lists_collections_with_progress_and_links(public_client):
    institution = museum("NMW", "Amgueddfa Cymru", 4_750_000, 475_000)
    CollectionFactory(institution=institution, code="ZOO", name="Zoology")  # no figures at all

    html = public_client.get(reverse("institution_detail", args=["nmw"])).content.decode()

    assert "Amgueddfa Cymru natural history" in html and reverse("portal:collection_detail", args=["NMW", "NH"]) in html
    assert "4,750,000" in html and "475,000" in html and "10.0 %" in html
    assert "no estimate" in html and 'tabindex="0"' in html  # the scrolling table is reachable by keyboard


def test_unknown_institution_and_collection_are_404(public_client):
    museum("NMW", "Amgueddfa Cymru", 10)
    assert public_client.get(reverse("institution_detail", args=["NOPE"])).status_code == 404
    assert public_client.get(reverse("portal:collection_detail", args=["NMW", "NOPE"])).status_code == 404


def test_collection_page_shows_holdings_and_its_newest_public_records(public_client):
    institution = museum("NMW", "Amgueddfa Cymru", 2_000, 100)
    collection = institution.collections.get()
    SpecimenFactory(collection=collection, status=Specimen.Status.PUBLISHED, catalog_number="PUB-1")
    SpecimenFactory(collection=collection, status=Specimen.Status.DRAFT, catalog_number="DRAFT-1")

    html = public_client.get(reverse("portal:collection_detail", args=["nmw", "nh"])).content.decode()

    assert "2,000 specimens" in html and "PUB-1" in html and "DRAFT-1" not in html
    assert "1 record" in html


def test_collection_page_links_into_search_once_search_exists(public_client):
    museum("NMW", "Amgueddfa Cymru", 2_000)
    html = public_client.get(reverse("portal:collection_detail", args=["NMW", "NH"])).content.decode()
    try:
        search = reverse("portal:search")
    except Exception:  # search (issue 14) not routed: the page shows no dead link
        assert "Browse all" not in html
    else:
        assert f'{search}?collection=NMW%3ANH' in html


# --- the specimen page ---------------------------------------------------------------------------


@pytest.fixture
def oak(institution):
    taxon = taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("phylum", "Tracheophyta"), ("class", "Magnoliopsida"),
                                     ("order", "Fagales"), ("family", "Fagaceae"), ("genus", "Quercus"),
                                     ("species", "Quercus robur")], authorship="L.")
    collection = CollectionFactory(institution=institution, code="BOT", name="Herbarium")
    specimen = SpecimenFactory(collection=collection, status=Specimen.Status.PUBLISHED, taxon=taxon,
                               scientific_name="Quercus robur L.", recorded_by="A. Smith", record_number="77",
                               decimal_latitude="51.478712", decimal_longitude="-0.295103", locality="Kew bog",
                               type_status="Holotype", mids_level=2)
    Identification.objects.create(specimen=specimen, taxon=taxon, verbatim_identification="Quercus robur L.",
                                  identified_by="C. Linnaeus", date_identified="1753", is_current=True)
    Identification.objects.create(specimen=specimen, verbatim_identification="Quercus petraea", identified_by="J. Doe",
                                  is_current=False)
    return specimen


def test_specimen_page_shows_taxonomy_history_map_mids_citation_and_licence(public_client, oak):
    html = public_client.get(reverse("specimen_page", args=[oak.uuid])).content.decode()

    for rank in ("Plantae", "Tracheophyta", "Magnoliopsida", "Fagales", "Fagaceae", "Quercus"):
        assert rank in html
    assert "Quercus petraea" in html and "C. Linnaeus" in html  # identification history
    assert 'data-lat="51.478712"' in html and 'data-half="0"' in html  # the point on the map
    assert "MIDS level 2" in html and "Cite this specimen" in html and "CC0 1.0" in html
    assert f"/specimen/{oak.uuid}.ttl" in html  # the machine representations are linked


def test_specimen_page_maps_a_generalised_area_not_the_point(public_client, oak):
    Specimen.objects.filter(pk=oak.pk).update(locality_sensitivity="100km")

    html = public_client.get(reverse("specimen_page", args=[oak.uuid])).content.decode()

    assert 'data-lat="51.0"' in html or 'data-lat="51"' in html
    assert 'data-half="0.5"' in html and "478712" not in html and "Kew bog" not in html


def test_specimen_page_lists_duplicates_and_the_same_taxon_nearby(public_client, oak, other_institution):
    duplicate = SpecimenFactory(collection=CollectionFactory(institution=other_institution), status=Specimen.Status.PUBLISHED,
                                taxon=oak.taxon, recorded_by="A. Smith", record_number="77", catalog_number="DUP-1")
    near = SpecimenFactory(collection=oak.collection, status=Specimen.Status.PUBLISHED, taxon=oak.taxon,
                           decimal_latitude="51.9", decimal_longitude="0.1", catalog_number="NEAR-1", locality="Secret copse",
                           locality_sensitivity="10km")
    SpecimenFactory(collection=oak.collection, status=Specimen.Status.DRAFT, taxon=oak.taxon, catalog_number="DRAFT-9",
                    recorded_by="A. Smith", record_number="77")
    SpecimenFactory(collection=oak.collection, status=Specimen.Status.PUBLISHED, taxon=oak.taxon, catalog_number="FAR-1",
                    decimal_latitude="10.0", decimal_longitude="10.0")

    html = public_client.get(reverse("specimen_page", args=[oak.uuid])).content.decode()

    assert "Same collector and number" in html and duplicate.catalog_number in html
    assert near.catalog_number in html and "Secret copse" not in html
    assert "DRAFT-9" not in html and "FAR-1" not in html


def test_specimen_page_queries_do_not_grow_with_related_records(public_client, oak, django_assert_max_num_queries):
    SpecimenFactory.create_batch(10, collection=oak.collection, status=Specimen.Status.PUBLISHED, taxon=oak.taxon,
                                 recorded_by="A. Smith", record_number="77")
    # specimen, identifications, duplicates, their thumbnails, nearby, their thumbnails
    with django_assert_max_num_queries(6):
        response = public_client.get(reverse("specimen_page", args=[oak.uuid]))
    assert response.content.decode().count('class="card specimen-card"') == 6  # related lists stop at six


def test_collectors_and_determiners_with_an_orcid_or_wikidata_item_link_to_it(public_client, oak):
    smith = Agent.objects.create(name="A. Smith", name_key="a smith", orcid="https://orcid.org/0000-0002-1825-0097")
    linnaeus = Agent.objects.create(name="C. Linnaeus", name_key="c linnaeus", wikidata_qid="Q1043")
    nobody = Agent.objects.create(name="J. Doe", name_key="j doe")
    SpecimenAgent.objects.create(specimen=oak, agent=smith, role=SpecimenAgent.Role.COLLECTOR)
    SpecimenAgent.objects.create(specimen=oak, agent=linnaeus, role=SpecimenAgent.Role.DETERMINER)
    SpecimenAgent.objects.create(specimen=oak, agent=nobody, role=SpecimenAgent.Role.DETERMINER)

    html = public_client.get(reverse("specimen_page", args=[oak.uuid])).content.decode()

    assert 'href="https://orcid.org/0000-0002-1825-0097" rel="external" aria-label="A. Smith on ORCID"' in html
    assert 'href="https://www.wikidata.org/wiki/Q1043" rel="external" aria-label="C. Linnaeus on Wikidata"' in html
    assert html.count('class="agent-id"') == 2  # J. Doe has neither: no link
