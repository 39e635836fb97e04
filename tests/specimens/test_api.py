import re
from decimal import Decimal

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from collections_portal.common.pagination import CURSOR_SALT, INVALID_CURSOR
from specimens.models import Specimen
from specimens.services import taxon_create

from ..factories.institutions import CollectionFactory
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/specimens/"
PUBLISHED = {"status": Specimen.Status.PUBLISHED, "published_at": timezone.now()}


def published(**kwargs):
    return SpecimenFactory(**PUBLISHED, **kwargs)


def catalog_numbers(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [row["catalog_number"] for row in response.json()["results"]]


def test_list_url_is_the_documented_one():
    assert reverse("specimens_api:specimen_list") == LIST


# --- filters -------------------------------------------------------------------------------------


def test_list_filters_by_institution_and_collection(public_client, institution, other_institution):
    bot = CollectionFactory(institution=institution, code="BOT")
    zoo = CollectionFactory(institution=institution, code="ZOO")
    elsewhere = CollectionFactory(institution=other_institution, code="BOT")
    published(collection=bot, catalog_number="B1")
    published(collection=zoo, catalog_number="Z1")
    published(collection=elsewhere, catalog_number="X1")

    assert sorted(catalog_numbers(public_client.get(LIST, {"institution": "own"}))) == ["B1", "Z1"]
    assert catalog_numbers(public_client.get(LIST, {"collection": "OWN:BOT"})) == ["B1"]
    assert catalog_numbers(public_client.get(LIST, {"collection": "other:bot"})) == ["X1"]
    assert catalog_numbers(public_client.get(LIST, {"collection": "NOPE:BOT"})) == []


def test_a_malformed_collection_filter_is_a_400(public_client):
    response = public_client.get(LIST, {"collection": "OWNBOT"})

    assert response.status_code == 400
    assert "INSTITUTION:COLLECTION" in str(response.json())


def test_list_filters_by_status_for_staff(curator_client, institution):
    collection = CollectionFactory(institution=institution)
    SpecimenFactory(collection=collection, catalog_number="D1")
    published(collection=collection, catalog_number="P1")

    assert catalog_numbers(curator_client.get(LIST, {"status": "draft"})) == ["D1"]
    assert catalog_numbers(curator_client.get(LIST, {"status": "published"})) == ["P1"]
    assert curator_client.get(LIST, {"status": "lost"}).status_code == 400


@pytest.mark.parametrize("query", ["E00012345", "e 0001 2345", "E12345", "e12345"])
def test_catalog_number_filter_ignores_case_spacing_and_leading_zeros(public_client, query):
    published(catalog_number="E00012345")
    published(catalog_number="E00012346")

    assert catalog_numbers(public_client.get(LIST, {"catalog_number": query})) == ["E00012345"]


def test_taxon_filter_includes_descendants(public_client):
    asteraceae = taxon_create(name="Asteraceae", rank="family")
    bellis = taxon_create(name="Bellis", rank="genus", parent=asteraceae)
    perennis = taxon_create(name="Bellis perennis", rank="species", parent=bellis)
    rosaceae = taxon_create(name="Rosaceae", rank="family")
    published(catalog_number="G1", taxon=bellis)
    published(catalog_number="S1", taxon=perennis)
    published(catalog_number="R1", taxon=rosaceae)

    assert sorted(catalog_numbers(public_client.get(LIST, {"taxon": str(asteraceae.uuid)}))) == ["G1", "S1"]
    assert catalog_numbers(public_client.get(LIST, {"taxon": str(perennis.uuid)})) == ["S1"]
    assert catalog_numbers(public_client.get(LIST, {"taxon": "00000000-0000-0000-0000-000000000000"})) == []
    assert public_client.get(LIST, {"taxon": "not-a-uuid"}).status_code == 400


def test_year_range_filter(public_client):
    for year in (1850, 1900, 1950, 2000):
        published(catalog_number=f"Y{year}", year=year)
    published(catalog_number="NOYEAR", year=None)

    assert sorted(catalog_numbers(public_client.get(LIST, {"year_min": 1900, "year_max": 1950}))) == ["Y1900", "Y1950"]
    assert sorted(catalog_numbers(public_client.get(LIST, {"year_min": 1960}))) == ["Y2000"]
    assert public_client.get(LIST, {"year_min": "eighteen-fifty"}).status_code == 400


# --- cursor pagination ---------------------------------------------------------------------------


def test_next_links_walk_every_row_once(public_client):
    expected = {published(catalog_number=f"P{i:03d}").catalog_number for i in range(23)}
    SpecimenFactory(catalog_number="DRAFT")  # never listed to the public

    seen, url, pages = [], f"{LIST}?page_size=5", 0
    while url:
        response = public_client.get(url)
        seen += catalog_numbers(response)
        url = response.json()["next"]
        pages += 1

    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == expected
    assert seen == sorted(seen, reverse=True)  # newest first, a stable order


def test_a_tampered_cursor_is_a_400(public_client):
    published()
    forged = signing.dumps(10**9, salt="someone-elses-salt", compress=True)
    valid = signing.dumps(10**9, salt=CURSOR_SALT, compress=True)

    for cursor in ("abc", forged, valid[:-2] + "xx"):
        response = public_client.get(LIST, {"cursor": cursor})
        assert response.status_code == 400
        assert INVALID_CURSOR in str(response.json()["cursor"])


def test_a_signed_cursor_that_is_not_an_id_is_a_400(public_client):
    response = public_client.get(LIST, {"cursor": signing.dumps("1 OR 1=1", salt=CURSOR_SALT, compress=True)})

    assert response.status_code == 400


@pytest.mark.parametrize("size, status", [("1", 200), ("100", 200), ("101", 400), ("0", 400), ("-5", 400), ("ten", 400)])
def test_page_size_is_bounded(public_client, size, status):
    published()

    assert public_client.get(LIST, {"page_size": size}).status_code == status


# --- visibility ----------------------------------------------------------------------------------


def test_anonymous_sees_only_published_records(public_client, institution):
    collection = CollectionFactory(institution=institution)
    published(collection=collection, catalog_number="P1")
    for status in ("draft", "in_review", "withdrawn"):
        SpecimenFactory(collection=collection, catalog_number=status, status=status)

    assert catalog_numbers(public_client.get(LIST)) == ["P1"]
    assert catalog_numbers(public_client.get(LIST, {"status": "draft"})) == []


def test_staff_see_their_own_drafts_and_others_published_only(curator_client, institution, other_institution):
    own = CollectionFactory(institution=institution)
    other = CollectionFactory(institution=other_institution)
    SpecimenFactory(collection=own, catalog_number="OWN-DRAFT")
    published(collection=own, catalog_number="OWN-PUB")
    SpecimenFactory(collection=other, catalog_number="OTHER-DRAFT")
    published(collection=other, catalog_number="OTHER-PUB")

    assert sorted(catalog_numbers(curator_client.get(LIST))) == ["OTHER-PUB", "OWN-DRAFT", "OWN-PUB"]


def test_programme_manager_sees_every_institution(programme_manager_client, institution, other_institution):
    SpecimenFactory(collection__institution=institution, catalog_number="A")
    SpecimenFactory(collection__institution=other_institution, catalog_number="B")

    assert sorted(catalog_numbers(programme_manager_client.get(LIST))) == ["A", "B"]


SENSITIVE = [
    # sensitivity, public latitude, public longitude
    ("none", 51.478712, -0.295634),
    ("10km", 51.5, -0.3),
    ("100km", 51.0, 0.0),
    ("withhold", None, None),
]


@pytest.mark.parametrize("sensitivity, lat, lon", SENSITIVE)
def test_anonymous_gets_generalised_coordinates_for_sensitive_localities(public_client, sensitivity, lat, lon):
    specimen = published(decimal_latitude=Decimal("51.478712"), decimal_longitude=Decimal("-0.295634"),
                         locality_sensitivity=sensitivity, locality="Orchid bank behind the Palm House",
                         record_number="JH 1234")

    row = public_client.get(LIST).json()["results"][0]
    detail = public_client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).json()

    assert (row["decimal_latitude"], row["decimal_longitude"]) == (lat, lon)
    as_float = (lambda v: None if v is None else float(v))
    assert (as_float(detail["decimal_latitude"]), as_float(detail["decimal_longitude"])) == (lat, lon)
    if sensitivity == "none":
        assert detail["locality"] == "Orchid bank behind the Palm House" and detail["record_number"] == "JH 1234"
    else:
        assert detail["locality"] == "" and detail["record_number"] == ""
        assert detail["data_generalizations"]
        assert "Palm House" not in public_client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).content.decode()


def test_staff_of_the_owning_institution_see_exact_coordinates(curator_client, client_for, institution, other_institution):
    specimen = published(collection__institution=institution, decimal_latitude=Decimal("51.478712"),
                         decimal_longitude=Decimal("-0.295634"), locality_sensitivity="100km", locality="Secret bog")
    outsider = client_for("curator", other_institution)
    url = reverse("specimens_api:specimen_detail", args=[specimen.uuid])

    own_row = curator_client.get(LIST).json()["results"][0]
    own_detail = curator_client.get(url).json()
    outsider_row = outsider.get(LIST).json()["results"][0]
    outsider_detail = outsider.get(url).json()

    assert (own_row["decimal_latitude"], own_row["decimal_longitude"]) == (51.478712, -0.295634)
    assert own_detail["locality"] == "Secret bog" and Decimal(own_detail["decimal_latitude"]) == Decimal("51.478712")
    assert (outsider_row["decimal_latitude"], outsider_row["decimal_longitude"]) == (51.0, 0.0)
    assert outsider_detail["locality"] == ""


# --- query counts --------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 10, 100])
def test_public_list_is_one_query_at_any_page_size(public_client, django_assert_num_queries, page_size):
    for i in range(12):
        published(collection=CollectionFactory(), catalog_number=f"P{i}")

    with django_assert_num_queries(1):
        response = public_client.get(LIST, {"page_size": page_size})

    assert len(response.json()["results"]) == min(page_size, 12)


@pytest.mark.parametrize("page_size", [2, 50])
def test_staff_list_queries_do_not_grow_with_the_page(curator_client, institution, django_assert_num_queries, page_size):
    collection = CollectionFactory(institution=institution)
    for i in range(30):
        SpecimenFactory(collection=collection, catalog_number=f"D{i}")

    # session, the user with their memberships (institutions.backends), the page
    with django_assert_num_queries(3):
        response = curator_client.get(LIST, {"page_size": page_size})

    assert len(response.json()["results"]) == min(page_size, 30)


def test_filtered_list_adds_one_query_for_the_taxon(public_client, django_assert_num_queries):
    genus = taxon_create(name="Bellis", rank="genus")
    for i in range(5):
        published(taxon=genus, catalog_number=f"T{i}")

    with django_assert_num_queries(2):
        response = public_client.get(LIST, {"taxon": str(genus.uuid), "year_min": 1800, "collection": "OWN:BOT"})

    assert response.status_code == 200


def test_detail_is_a_fixed_number_of_queries(public_client, django_assert_num_queries):
    genus = taxon_create(name="Bellis", rank="genus")
    specimen = published(taxon=genus)
    url = reverse("specimens_api:specimen_detail", args=[specimen.uuid])

    with django_assert_num_queries(4):  # visible lookup, the row with joins, identifications, preparations
        response = public_client.get(url)

    assert response.status_code == 200 and response["ETag"] == f'"{specimen.version}"'


@pytest.mark.parametrize("count", [3, 30])
def test_taxon_list_is_one_query(public_client, django_assert_num_queries, count):
    root = taxon_create(name="Plantae", rank="kingdom")
    for i in range(count):
        taxon_create(name=f"Genus{i}", rank="genus", parent=root)

    with django_assert_num_queries(1):
        response = public_client.get(reverse("specimens_api:taxon_list"), {"page_size": 100})

    assert len(response.json()["results"]) == count + 1


def test_taxon_list_lazy_children_and_prefix(public_client):
    root = taxon_create(name="Plantae", rank="kingdom")
    taxon_create(name="Bellis", rank="genus", parent=root)
    taxon_create(name="Bellevalia", rank="genus", parent=root)
    taxon_create(name="Rosa", rank="genus", parent=root)

    children = public_client.get(reverse("specimens_api:taxon_list"), {"parent": str(root.uuid)}).json()["results"]
    prefix = public_client.get(reverse("specimens_api:taxon_list"), {"q": "bell"}).json()["results"]

    assert sorted(t["name"] for t in children) == ["Bellevalia", "Bellis", "Rosa"]
    assert sorted(t["name"] for t in prefix) == ["Bellevalia", "Bellis"]


# --- the schema and its docs ---------------------------------------------------------------------


def test_openapi_schema_is_valid_and_lists_the_endpoints(public_client):
    from drf_spectacular.validation import validate_schema

    response = public_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # raises on an invalid OpenAPI document
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/specimens/", "/api/v1/specimens/{uuid}/", "/api/v1/specimens/{uuid}/publish/",
                 "/api/v1/institutions/", "/api/v1/collections/", "/api/v1/taxa/"):
        assert path in schema["paths"], path
    list_params = {p["name"] for p in schema["paths"]["/api/v1/specimens/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "collection", "catalog_number", "taxon", "year_min", "year_max"} <= list_params
    assert "409" in schema["paths"]["/api/v1/specimens/{uuid}/"]["patch"]["responses"]


def test_api_docs_use_only_local_static_files(public_client):
    response = public_client.get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    sources = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
    assert any("swagger-ui" in s for s in sources)
    assert not [s for s in sources if re.match(r"^(https?:)?//", s)]
    assert not re.search(r"https?://[^\s\"']*(cdn|jsdelivr|unpkg|cdnjs)", html)
