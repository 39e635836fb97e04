import html as html_lib
import re

import pytest
from django.urls import reverse

from specimens.models import Specimen
from specimens.services import (
    CATALOG_NUMBER_TAKEN,
    EVENT_DATE_IN_FUTURE,
    LATITUDE_RANGE,
    SPECIMEN_EDITABLE_FIELDS,
    specimen_create,
    specimen_update,
)

from ..factories.institutions import CollectionFactory
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db


def next_link(html: str) -> str | None:
    match = re.search(r'href="(\?[^"]*after=[^"]+)"', html)
    return html_lib.unescape(match.group(1)) if match else None


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/curate/specimens/[0-9a-f-]+/">([^<]+)</a>', html)


def form_data(specimen=None, **overrides) -> dict:
    data = {}
    for name in SPECIMEN_EDITABLE_FIELDS:
        value = getattr(specimen, name) if specimen else Specimen._meta.get_field(name).get_default()
        data[name] = "" if value is None else str(value)
    data.update(overrides)
    return data


# --- the record list -----------------------------------------------------------------------------


def test_curate_list_walks_every_record_once_by_keyset_pages(curator_client, institution, other_institution):
    collection = CollectionFactory(institution=institution)
    SpecimenFactory.create_batch(120, collection=collection)
    SpecimenFactory.create_batch(3, collection__institution=other_institution)  # not in this curator's list

    seen, url, pages = [], reverse("specimens:curate_list"), 0
    while url:
        response = curator_client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        seen += listed(page)
        link = next_link(page)
        url = reverse("specimens:curate_list") + link if link else None
        pages += 1

    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == set(collection.specimens.values_list("catalog_number", flat=True))


def test_curate_list_keeps_filters_across_pages(curator_client, institution):
    collection = CollectionFactory(institution=institution)
    SpecimenFactory.create_batch(55, collection=collection, status=Specimen.Status.DRAFT)
    SpecimenFactory.create_batch(5, collection=collection, status=Specimen.Status.IN_REVIEW)

    first = curator_client.get(reverse("specimens:curate_list"), {"status": "draft"}).content.decode()
    link = next_link(first)
    second = curator_client.get(reverse("specimens:curate_list") + link).content.decode()

    assert "status=draft" in link
    assert len(listed(first)) == 50 and len(listed(second)) == 5 and next_link(second) is None


@pytest.mark.parametrize("count", [5, 60])
def test_curate_list_query_count_is_constant(curator_client, institution, django_assert_num_queries, count):
    SpecimenFactory.create_batch(count, collection=CollectionFactory(institution=institution))

    # session, the user with their memberships, the page (with institution and collection joined)
    with django_assert_num_queries(3):
        response = curator_client.get(reverse("specimens:curate_list"))

    assert len(listed(response.content.decode())) == min(count, 50)


def test_curate_pages_send_anonymous_visitors_to_login_and_refuse_non_staff(public_client, client, django_user_model):
    response = public_client.get(reverse("specimens:curate_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    client.force_login(django_user_model.objects.create_user(username="visitor", password="x"))
    assert client.get(reverse("specimens:curate_list")).status_code == 403


# --- the form keeps input after an error ---------------------------------------------------------


def test_create_form_keeps_every_input_and_shows_the_message_at_the_field(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="BOT")
    entered = form_data(
        collection=collection.pk, catalog_number="E00098765", locality="Ben Lawers, north-facing crags",
        recorded_by="G. Don | R. Brown", event_date="1794-07-12", habitat="wet flushes at 1000 m",
        decimal_latitude="91.5", decimal_longitude="-4.22", country_code="GB", record_number="GD 17",
    )

    response = curator_client.post(reverse("specimens:curate_create"), entered)

    page = response.content.decode()
    assert response.status_code == 400
    for name in ("catalog_number", "locality", "recorded_by", "event_date", "habitat", "decimal_latitude",
                 "decimal_longitude", "record_number"):
        assert html_lib.escape(entered[name]) in page, f"{name} lost after the error"
    field = re.search(r'<div class="field has-error">.*?</div>', page, re.S).group(0)
    assert 'name="decimal_latitude"' in field and LATITUDE_RANGE in field
    assert f'<option value="{collection.pk}" selected>' in page
    assert not Specimen.objects.exists()


def test_create_form_reports_a_duplicate_catalogue_number(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="BOT")
    specimen_create(collection=collection, data={"catalog_number": "E1"})

    response = curator_client.post(reverse("specimens:curate_create"),
                                   form_data(collection=collection.pk, catalog_number="E1", locality="Kew"))

    assert response.status_code == 400
    assert html_lib.escape(CATALOG_NUMBER_TAKEN.format(value="E1", collection=collection)) in response.content.decode()
    assert Specimen.objects.count() == 1


def test_edit_form_keeps_input_on_a_validation_error(curator_client, institution):
    specimen = specimen_create(collection=CollectionFactory(institution=institution), data={"catalog_number": "E1"})

    response = curator_client.post(
        reverse("specimens:curate_edit", args=[specimen.uuid]),
        form_data(specimen, version=1, locality="Slapton Ley", event_date="2999-05-01"),
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "Slapton Ley" in page and "2999-05-01" in page
    assert html_lib.escape(EVENT_DATE_IN_FUTURE.format(value="2999-05-01")) in page
    specimen.refresh_from_db()
    assert specimen.locality == "" and specimen.version == 1


def test_edit_form_conflict_is_a_409_that_keeps_input_and_names_the_changed_field(curator_client, institution):
    specimen = specimen_create(collection=CollectionFactory(institution=institution),
                               data={"catalog_number": "E1", "locality": "Kew"})
    specimen_update(specimen=specimen, expected_version=1, data={"locality": "Wakehurst"})

    response = curator_client.post(
        reverse("specimens:curate_edit", args=[specimen.uuid]),
        form_data(specimen, version=1, locality="Kew", habitat="my unsaved habitat note"),
    )

    page = response.content.decode()
    assert response.status_code == 409
    assert "my unsaved habitat note" in page
    assert "Wakehurst" in page and "locality" in page
    assert Specimen.objects.get(pk=specimen.pk).habitat == ""


def test_edit_form_saves_and_redirects(curator_client, institution):
    specimen = specimen_create(collection=CollectionFactory(institution=institution), data={"catalog_number": "E1"})

    response = curator_client.post(reverse("specimens:curate_edit", args=[specimen.uuid]),
                                   form_data(specimen, version=1, locality="Slapton Ley"))

    assert response.status_code == 302 and response["Location"] == reverse("specimens:curate_detail", args=[specimen.uuid])
    specimen.refresh_from_db()
    assert specimen.locality == "Slapton Ley" and specimen.version == 2


def test_bulk_action_never_redirects_off_site(curator_client, institution):
    specimen = SpecimenFactory(collection=CollectionFactory(institution=institution))

    response = curator_client.post(reverse("specimens:curate_bulk"), {
        "bulk_action": "publish", "selected": [str(specimen.uuid)], "next": "https://evil.example/phish",
    })

    assert response.status_code == 302 and response["Location"] == reverse("specimens:curate_list")
    assert Specimen.objects.get(pk=specimen.pk).status == Specimen.Status.PUBLISHED
