import re
from html import unescape
from urllib.parse import parse_qsl

import pytest
from django.urls import reverse

from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db


def _walk(client, url, params):
    seen, pages = [], 0
    while True:
        html = client.get(url, params).content.decode()
        seen += re.findall(r'aria-label="Select ([^"]+)"', html)
        pages += 1
        more = re.search(r'href="\?([^"]*after=[^"]+)"', html)
        if not more:
            return seen, pages
        params = dict(parse_qsl(unescape(more.group(1))))


def test_work_list_sorts_by_catalogue_number_across_keyset_pages(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="ENT")
    numbers = [f"NHMUK{n:09d}" for n in (7, 3, 120, 55, 9, 1000, 2, 64, 31, 8)] + [f"E{n:08d}" for n in range(100, 160)]
    for number in numbers:
        SpecimenFactory(collection=collection, catalog_number=number)
    SpecimenFactory(collection=CollectionFactory(institution=institution, code="BOT"))  # other collection: not listed

    seen, pages = _walk(curator_client, reverse("specimens:curate_list"),
                        {"collection": f"{institution.code}:ENT", "sort": "catalog_number"})

    assert pages == 2
    assert seen == sorted(numbers)


def test_without_a_collection_the_list_stays_newest_first(curator_client, institution):
    made = [SpecimenFactory(collection__institution=institution).catalog_number for _ in range(55)]

    seen, pages = _walk(curator_client, reverse("specimens:curate_list"), {"sort": "catalog_number"})

    assert pages == 2
    assert seen == list(reversed(made))


def test_a_malformed_collection_filter_is_a_message_not_an_error_page(curator_client, institution):
    SpecimenFactory(collection__institution=institution)

    response = curator_client.get(reverse("specimens:curate_list"), {"collection": "NHMUK-BOT"})

    assert response.status_code == 200
    assert "Use INSTITUTION:COLLECTION, e.g. NHMUK:BOT." in response.content.decode()


def test_the_api_answers_400_for_a_malformed_collection_filter(public_client):
    response = public_client.get("/api/v1/specimens/", {"collection": "NHMUK-BOT"})

    assert response.status_code == 400
    assert response.json() == {"collection": ["Use INSTITUTION:COLLECTION, e.g. NHMUK:BOT."]}
