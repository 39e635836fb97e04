"""History from the first version: imported and generated records get their insert event (version
1) written set-based, so "Restore" can go back to the imported state and a conflict names the
fields that changed (issue 10 part 3, DESIGN §3 Audit)."""

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from institutions.models import Role
from seeds.synthetic import specimens_generate
from specimens.models import Specimen
from specimens.services import SPECIMEN_EDITABLE_FIELDS, specimen_update

pytestmark = pytest.mark.django_db

SpecimenEvent = apps.get_model("specimens", "SpecimenEvent")
CSV = ("catalogNumber,scientificName,recordedBy,locality,country,eventDate\n"
       "H0001,Bellis perennis,A. Smith,Kew Green,United Kingdom,1901-05-02\n"
       "H0002,Poa annua,B. Jones,Wakehurst,United Kingdom,1950\n"
       "H0003,Poa annua,,Box Hill,United Kingdom,\n")


@pytest.fixture
def imported(run_import, user_with_role, collection, tmp_path):
    """The CSV above imported by a curator of the collection's institution: (batch, curator)."""
    curator = user_with_role(Role.CURATOR, collection.institution)
    source = tmp_path / "herbarium.csv"
    source.write_text(CSV)
    batch = run_import(source, user=curator)
    assert (batch.status, batch.inserted_count) == ("done", 3), batch.file_errors
    return batch, curator


def test_each_imported_record_gets_its_version_1_from_one_set_based_insert(run_import, user_with_role, collection,
                                                                          tmp_path):
    curator = user_with_role(Role.CURATOR, collection.institution)
    source = tmp_path / "herbarium.csv"
    source.write_text(CSV)

    with CaptureQueriesContext(connection) as queries:
        batch = run_import(source, user=curator)

    writes = [q["sql"] for q in queries.captured_queries if "INSERT INTO specimens_specimenevent" in q["sql"]]
    assert len(writes) == 1  # one statement for all three records, not a trigger call each
    tracked = [f.name for f in SpecimenEvent._meta.concrete_fields if not f.name.startswith("pgh_")]
    for specimen in Specimen.objects.filter(import_batch=batch):
        [event] = SpecimenEvent.objects.filter(pgh_obj_id=specimen.pk).select_related("pgh_context")
        assert (event.pgh_label, event.version) == ("insert", 1)
        assert {name: getattr(event, name) for name in tracked} == {name: getattr(specimen, name) for name in tracked}
        metadata = event.pgh_context.metadata
        assert (metadata["action"], metadata["source"], metadata["import_batch"], metadata["user"]) == (
            "specimen_import", "import", str(batch.uuid), curator.pk)


def test_restore_goes_back_to_the_imported_state(imported, client_for, collection):
    _batch, curator = imported
    specimen = Specimen.objects.get(catalog_number="H0001")
    specimen_update(specimen=specimen, expected_version=1, user=curator,
                    data={"locality": "Kew Gardens", "scientific_name": "Poa annua", "habitat": "lawn"})
    imported_event = SpecimenEvent.objects.get(pgh_obj_id=specimen.pk, pgh_label="insert")

    client = client_for(Role.CURATOR, collection.institution)
    page = client.get(reverse("specimens:curate_history", args=[specimen.uuid])).content.decode()
    assert "specimen_import" in page and "Record created." in page
    assert f'name="event" value="{imported_event.pgh_id}"' in page  # its "Restore this version" button
    response = client.post(reverse("specimens:curate_revert", args=[specimen.uuid]),
                           {"event": imported_event.pgh_id, "version": 2})

    assert response.status_code == 302
    specimen.refresh_from_db()
    assert (specimen.locality, specimen.scientific_name, specimen.habitat, specimen.version) == (
        "Kew Green", "Bellis perennis", "", 3)
    assert {name: getattr(specimen, name) for name in SPECIMEN_EDITABLE_FIELDS} == {
        name: getattr(imported_event, name) for name in SPECIMEN_EDITABLE_FIELDS}
    assert specimen.identifications.get(is_current=True).verbatim_identification == "Bellis perennis"


def test_the_conflict_page_of_an_imported_record_lists_the_fields_that_changed(imported, client_for, collection):
    _batch, curator = imported
    specimen = Specimen.objects.get(catalog_number="H0002")
    form = {name: "" if getattr(specimen, name) is None else str(getattr(specimen, name))
            for name in SPECIMEN_EDITABLE_FIELDS}
    specimen_update(specimen=specimen, expected_version=1, user=curator, data={"locality": "Wakehurst Place"})

    client = client_for(Role.CURATOR, collection.institution)
    response = client.post(reverse("specimens:curate_edit", args=[specimen.uuid]),
                           {**form, "version": "1", "habitat": "my unsaved note"})

    page = response.content.decode()
    assert response.status_code == 409
    assert "my unsaved note" in page
    assert response.context["conflict"].changed_fields == {"locality": ("Wakehurst", "Wakehurst Place")}
    assert "<td>locality</td><td>Wakehurst</td><td>Wakehurst Place</td>" in page


def test_generated_records_get_their_version_1_too(collection):
    specimens_generate(collection=collection, count=40, seed=3)

    events = SpecimenEvent.objects.filter(pgh_obj__collection=collection).select_related("pgh_context")
    assert events.count() == 40
    assert {(e.pgh_label, e.version, e.pgh_context.metadata["action"]) for e in events} == {
        ("insert", 1, "specimens_generate")}
    specimen = Specimen.objects.filter(collection=collection).order_by("pk").first()
    event = events.get(pgh_obj_id=specimen.pk)
    assert (event.catalog_number, event.scientific_name, event.status) == (
        specimen.catalog_number, specimen.scientific_name, specimen.status)
