import datetime as dt

import pytest
from django.urls import reverse

from institutions.models import CollectionMetric

from ..factories.institutions import CollectionFactory, CollectionMetricFactory, InstitutionFactory

pytestmark = pytest.mark.django_db


def museum(code: str, name: str, estimate: int, digitised: int | None = None):
    institution = InstitutionFactory(code=code, name=name, city="Cardiff")
    collection = CollectionFactory(institution=institution, code="NH", name=f"{name} natural history")
    CollectionMetricFactory(collection=collection, value=estimate, measured_on=dt.date(2024, 1, 1))
    if digitised is not None:
        CollectionMetricFactory(collection=collection, measurement_type=CollectionMetric.MeasurementType.DIGITISED,
                                value=digitised, measured_on=dt.date(2024, 3, 1))
    return institution


def test_home_lists_institutions_with_their_numbers(public_client):
    museum("NMW", "Amgueddfa Cymru", 4_750_000, 475_000)
    museum("HUNT", "Hunterian", 1_000_000)

    response = public_client.get(reverse("home"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Amgueddfa Cymru" in html and reverse("institution_detail", args=["NMW"]) in html
    assert "4,750,000" in html and "475,000" in html and "10.0 %" in html
    assert "Hunterian" in html and "1,000,000" in html
    assert "5,750,000" in html  # the programme total


@pytest.mark.parametrize("n", [2, 10])
def test_home_query_count_does_not_grow_with_institutions(public_client, django_assert_num_queries, n):
    for i in range(n):
        museum(f"M{i}", f"Museum {i}", 1000 * (i + 1), 10 * i)

    with django_assert_num_queries(1):
        response = public_client.get(reverse("home"))

    assert response.content.decode().count("/institutions/M") == n


def test_home_without_data_says_how_to_load_it(public_client):
    response = public_client.get(reverse("home"))

    assert response.status_code == 200
    assert "No institutions yet" in response.content.decode()


def test_institution_page_shows_its_collections_and_counts(public_client):
    museum("NMW", "Amgueddfa Cymru", 4_750_000, 475_000)

    response = public_client.get(reverse("institution_detail", args=["nmw"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Amgueddfa Cymru natural history" in html and "NMW:NH" in html
    assert "4,750,000" in html and "475,000" in html


def test_unknown_institution_is_a_404(public_client):
    assert public_client.get(reverse("institution_detail", args=["NOPE"])).status_code == 404


def test_login_page_and_a_wrong_password(public_client, django_user_model):
    django_user_model.objects.create_user(username="nhm.curator", password="a-long-passphrase")

    page = public_client.get(reverse("login"))
    wrong = public_client.post(reverse("login"), {"username": "nhm.curator", "password": "nope"})
    right = public_client.post(reverse("login"), {"username": "nhm.curator", "password": "a-long-passphrase"})

    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    assert wrong.status_code == 200 and 'role="alert"' in wrong.content.decode()
    assert right.status_code == 302 and right["Location"] == reverse("specimens:curate_list")
