import json

import pytest
from django.apps import apps
from django.urls import reverse

from specimens.models import Specimen
from specimens.services import specimen_create, specimen_delete, specimen_publish, specimen_update, taxon_ensure_path

from ..factories.institutions import CollectionFactory, UserFactory
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

SpecimenEvent = apps.get_model("specimens", "SpecimenEvent")
IdentificationEvent = apps.get_model("specimens", "IdentificationEvent")


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="BOT")


def events_of(specimen_pk):
    return list(SpecimenEvent.objects.filter(pgh_obj_id=specimen_pk).select_related("pgh_context").order_by("pgh_id"))


def test_service_calls_record_insert_update_and_delete_with_the_user(collection):
    curator = UserFactory(username="audit.curator")
    taxon_ensure_path(ranks=[("genus", "Bellis"), ("species", "Bellis perennis")])

    specimen = specimen_create(collection=collection, user=curator, data={"catalog_number": "E1", "scientific_name": "Bellis perennis"})
    specimen_update(specimen=specimen, expected_version=1, user=curator, data={"locality": "Kew"})
    specimen_publish(specimen=specimen, user=curator)
    pk = specimen.pk
    # a fresh draft for the delete (a published record cannot be deleted)
    draft = specimen_create(collection=collection, user=curator, data={"catalog_number": "E2"})
    specimen_delete(specimen=draft, user=curator)

    events = events_of(pk)
    assert [e.pgh_label for e in events] == ["insert", "update", "update"]
    assert [e.version for e in events] == [1, 2, 3]
    assert events[1].locality == "Kew" and events[0].locality == ""
    assert [e.pgh_context.metadata["action"] for e in events] == ["specimen_create", "specimen_update", "specimen_publish"]
    assert all(e.pgh_context.metadata["user"] == curator.pk for e in events)
    assert events[0].pgh_context.metadata["source"] == "ui"
    deleted = events_of(draft.pk)
    assert [e.pgh_label for e in deleted] == ["insert", "delete"]
    assert deleted[-1].catalog_number == "E2" and deleted[-1].pgh_context.metadata["user"] == curator.pk
    identification = IdentificationEvent.objects.get(pgh_obj__specimen_id=pk)
    assert identification.pgh_context.metadata["action"] == "specimen_create"


def test_a_bulk_queryset_update_is_recorded_row_by_row(collection):
    specimens = SpecimenFactory.create_batch(3, collection=collection, locality="")
    other = SpecimenFactory(collection=collection, locality="elsewhere")
    before = SpecimenEvent.objects.filter(pgh_label="update").count()

    updated = Specimen.objects.filter(pk__in=[s.pk for s in specimens]).update(locality="Kew Gardens")

    assert updated == 3
    rows = SpecimenEvent.objects.filter(pgh_label="update").order_by("pgh_obj_id")
    assert rows.count() == before + 3
    assert {e.pgh_obj_id for e in rows} == {s.pk for s in specimens}
    assert all(e.locality == "Kew Gardens" and e.pgh_context_id is None for e in rows)
    assert not SpecimenEvent.objects.filter(pgh_obj_id=other.pk, pgh_label="update").exists()


def test_an_update_that_changes_nothing_writes_no_event(collection):
    specimen = SpecimenFactory(collection=collection, locality="Kew")
    before = SpecimenEvent.objects.count()

    Specimen.objects.filter(pk=specimen.pk).update(locality="Kew")

    assert SpecimenEvent.objects.count() == before


def test_an_api_edit_is_recorded_with_the_user_and_source(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="BOT")
    specimen = SpecimenFactory(collection=collection)

    response = curator_client.patch(reverse("specimens_api:specimen_detail", args=[specimen.uuid]),
                                    data=json.dumps({"version": 1, "habitat": "chalk grassland"}),
                                    content_type="application/json")

    assert response.status_code == 200
    event = SpecimenEvent.objects.filter(pgh_obj_id=specimen.pk, pgh_label="update").select_related("pgh_context").get()
    assert event.habitat == "chalk grassland"
    metadata = event.pgh_context.metadata
    assert metadata["user"] == curator_client.user.pk
    assert metadata["source"] == "api"
    assert metadata["action"] == "specimen_update"
