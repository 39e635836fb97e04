import datetime as dt

import pytest
from django.urls import reverse

from institutions.models import CollectionMetric

from ..factories.institutions import CollectionFactory, CollectionMetricFactory, InstitutionFactory

pytestmark = pytest.mark.django_db


def make_institutions(n: int):
    for i in range(n):
        institution = InstitutionFactory(code=f"M{i}", name=f"Museum {i}", ror_id=f"https://ror.org/0{i}abcde")
        for code in ("BOT", "ZOO"):
            collection = CollectionFactory(institution=institution, code=code)
            CollectionMetricFactory(collection=collection, value=1000 * (i + 1), measured_on=dt.date(2024, 1, 1))
            CollectionMetricFactory(collection=collection, value=900, measured_on=dt.date(2020, 1, 1))
            CollectionMetricFactory(collection=collection, measurement_type=CollectionMetric.MeasurementType.DIGITISED,
                                    value=100 * (i + 1), measured_on=dt.date(2024, 6, 1))


def test_institution_list_and_detail(public_client):
    InstitutionFactory(code="NHMUK", name="Natural History Museum", ror_id="https://ror.org/039zvsn29")
    InstitutionFactory(code="K", name="Royal Botanic Gardens, Kew")

    listing = public_client.get(reverse("institutions_api:institution_list"))
    detail = public_client.get(reverse("institutions_api:institution_detail", args=["NHMUK"]))
    missing = public_client.get(reverse("institutions_api:institution_detail", args=["NOPE"]))

    assert listing.status_code == 200
    assert sorted(i["code"] for i in listing.json()["results"]) == ["K", "NHMUK"]
    assert detail.json()["institution_id"] == "https://ror.org/039zvsn29"
    assert missing.status_code == 404


def test_collection_list_gives_latest_reported_and_calculated_counts(public_client):
    make_institutions(1)

    rows = public_client.get(reverse("institutions_api:collection_list")).json()["results"]

    assert sorted(r["full_code"] for r in rows) == ["M0:BOT", "M0:ZOO"]
    assert all(r["estimated_objects"] == 1000 for r in rows)  # the 2024 figure, not the 2020 one
    assert all(r["digitised_reported"] == 100 and r["records_in_portal"] is None for r in rows)


def test_collection_list_filters_by_institution(public_client):
    make_institutions(2)

    rows = public_client.get(reverse("institutions_api:collection_list"), {"institution": "M1"}).json()["results"]

    assert sorted(r["full_code"] for r in rows) == ["M1:BOT", "M1:ZOO"]


def test_institution_writes_are_not_open(public_client, curator_client):
    url = reverse("institutions_api:institution_list")

    assert public_client.post(url, {"code": "X", "name": "X"}).status_code in (401, 403, 405)
    assert curator_client.post(url, {"code": "X", "name": "X"}).status_code in (403, 405)


@pytest.mark.parametrize("n", [2, 8])
def test_institution_list_is_one_query(public_client, django_assert_num_queries, n):
    make_institutions(n)

    with django_assert_num_queries(1):
        response = public_client.get(reverse("institutions_api:institution_list"))

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [2, 8])
def test_collection_list_is_one_query(public_client, django_assert_num_queries, n):
    make_institutions(n)

    with django_assert_num_queries(1):
        response = public_client.get(reverse("institutions_api:collection_list"), {"page_size": 100})

    assert len(response.json()["results"]) == 2 * n


def test_collection_list_pages_walk_every_row_once(public_client):
    make_institutions(6)

    seen, url = [], reverse("institutions_api:collection_list") + "?page_size=5"
    while url:
        body = public_client.get(url).json()
        seen += [r["full_code"] for r in body["results"]]
        url = body["next"]

    assert len(seen) == len(set(seen)) == 12
