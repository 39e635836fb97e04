import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from digitisation.models import BatchSpecimen
from digitisation.services import batch_assign_specimens, batch_create
from specimens.models import Specimen
from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db


def test_assigning_is_set_based_idempotent_and_audited(institution, user_with_role):
    curator = user_with_role("curator", institution)
    batch = batch_create(institution=institution, name="Drawer 14", user=curator)
    specimens = SpecimenFactory.create_batch(3, collection__institution=institution)
    selected = Specimen.objects.filter(pk__in=[s.pk for s in specimens])

    assert batch_assign_specimens(batch=batch, specimens=selected, user=curator) == 3
    assert batch_assign_specimens(batch=batch, specimens=selected, user=curator) == 0

    assert BatchSpecimen.objects.filter(batch=batch).count() == 3
    events = apps.get_model("digitisation", "BatchSpecimenEvent").objects.filter(pgh_label="insert")
    assert events.count() == 3
    assert {e.pgh_context.metadata["user"] for e in events} == {curator.pk}


def test_another_institutions_records_cannot_join_the_batch(institution, other_institution):
    batch = batch_create(institution=institution, name="Tray 1")
    foreign = SpecimenFactory(collection__institution=other_institution)

    with pytest.raises(ValidationError, match="Only OWN's records can go into this batch"):
        batch_assign_specimens(batch=batch, specimens=Specimen.objects.filter(pk=foreign.pk))
    assert BatchSpecimen.objects.count() == 0


def test_batch_names_are_unique_per_institution(institution):
    batch_create(institution=institution, name="Tray 1")
    with pytest.raises(ValidationError, match="already has a batch called 'Tray 1'"):
        batch_create(institution=institution, name=" Tray  1 ")


@pytest.mark.parametrize("role, own, added", [
    ("digitiser", True, 2), ("curator", True, 2), ("programme_manager", False, 0), ("curator", False, 0),
])
def test_bulk_assign_from_the_record_list_respects_scope(client_for, institution, other_institution, role, own, added):
    batch = batch_create(institution=institution, name="Box 3")
    specimens = SpecimenFactory.create_batch(2, collection__institution=institution)
    client = client_for(role, institution if own else other_institution)

    response = client.post(reverse("digitisation:batch_assign"),
                           {"batch": batch.uuid, "selected": [s.uuid for s in specimens], "next": "/curate/"})

    assert response.status_code == 302 and response["Location"] == "/curate/"
    assert BatchSpecimen.objects.filter(batch=batch).count() == added


def test_batch_assign_never_redirects_off_site(curator_client, institution):
    batch = batch_create(institution=institution, name="Box 4")
    response = curator_client.post(reverse("digitisation:batch_assign"), {"batch": batch.uuid, "next": "https://evil.example/"})
    assert response["Location"] == "/curate/"


def test_batch_pages_list_and_show_members(curator_client, institution):
    batch = batch_create(institution=institution, name="Drawer 9")
    specimen = SpecimenFactory(collection__institution=institution, catalog_number="BM000000999")
    batch_assign_specimens(batch=batch, specimens=Specimen.objects.filter(pk=specimen.pk))

    assert "Drawer 9" in curator_client.get(reverse("digitisation:batch_list")).content.decode()
    assert "BM000000999" in curator_client.get(reverse("digitisation:batch_detail", args=[batch.uuid])).content.decode()
    assert "Drawer 9" in curator_client.get(reverse("digitisation:batch_options")).content.decode()
