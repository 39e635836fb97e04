"""A checklist imported from the browser: the same upload form, batch, worker task, progress page
and row report as specimen records, its names going into the shared taxonomic tree."""

import csv
import io
import os

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from institutions.models import Role
from imports.checklist import (
    CHOOSE_CHECKLIST,
    TAXA_IMPORT_NO_INSTITUTION,
    TAXA_IMPORT_NOT_ALLOWED,
    taxa_import_batch_create,
)
from imports.undo import UNDO_CHECKLIST, import_batch_undo, import_batch_undo_offered, import_batch_undo_preview
from specimens.models import ImportBatch, ImportRowError, Specimen, Taxon
from imports.tasks import specimen_import_task
from tests.factories.institutions import CollectionFactory, InstitutionFactory, MembershipFactory

from .conftest import DWCA

pytestmark = pytest.mark.django_db

CHECKLIST = DWCA / "gbif-dwca-io/checklist_980.zip"
OCCURRENCES = DWCA / "gbif-pipelines-validator/dwca/Archive.zip"
ImportBatchEvent = apps.get_model("specimens", "ImportBatchEvent")


def _upload(client, path, **data):
    return client.post(reverse("imports:import_list"),
                       {"file": SimpleUploadedFile(path.name, path.read_bytes()), **data})


def _report(client, batch) -> list[list[str]]:
    response = client.get(reverse("imports:import_report", args=[batch.uuid]))
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


def test_a_checklist_upload_is_queued_at_commit_and_the_task_imports_its_names(
    curator_client, institution, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _upload(curator_client, CHECKLIST, kind="taxa")

    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert response["Location"] == reverse("imports:import_detail", args=[batch.uuid])
    assert (batch.kind, batch.collection, batch.institution, batch.status) == ("taxa", None, institution, "pending")
    assert len(callbacks) == 1

    specimen_import_task(batch.pk)
    specimen_import_task(batch.pk)  # redelivered: the batch is no longer pending

    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE and batch.started_at and batch.finished_at
    assert (batch.rows_total, batch.rows_done, batch.rejected_count) == (356, 356, 36)
    assert batch.inserted_count == Taxon.objects.count() > 300
    assert (batch.unchanged_count, batch.synonym_count, batch.file_errors) == (0, 0, [])
    assert Specimen.objects.count() == 0
    assert ImportRowError.objects.filter(batch=batch, severity="error").values("line").distinct().count() == 36
    statuses = list(ImportBatchEvent.objects.filter(pgh_obj_id=batch.pk).order_by("pgh_id").values_list("status", flat=True))
    assert list(dict.fromkeys(statuses)) == ["pending", "reading", "validating", "writing", "done"]
    assert not os.path.exists(batch.source_path)  # the spooled upload is removed once the import has run

    report = _report(curator_client, batch)
    assert report[0] == ["line", "field", "value", "problem", "outcome"]
    assert [row[4] for row in report[1:3]] == ["warning", "warning"]  # the archive's own warnings first
    assert [row[0] for row in report[3:8]] == ["2", "10", "15", "18", "46"]
    assert {row[4] for row in report[3:]} == {"row not imported"}
    assert {row[2] for row in report if row[0] == "210"} == {"Pardosa cf. hyperborea"}


def test_the_finished_checklist_page_shows_its_counts_and_offers_no_undo(curator_client):
    _upload(curator_client, CHECKLIST, kind="taxa")
    batch = ImportBatch.objects.get()
    specimen_import_task(batch.pk)

    page = curator_client.get(reverse("imports:import_detail", args=[batch.uuid])).content.decode()

    assert "checklist → taxonomic tree" in page
    assert "Names added to the tree" in page and "Synonyms linked to their accepted name" in page
    assert f'<dd class="count-inserted">{Taxon.objects.count()}</dd>' in page
    assert '<dd class="count-rejected">36</dd>' in page
    assert "Undo this import" not in page and "cannot be undone" in page
    assert "Pardosa cf. hyperborea" in page  # a row problem, listed on the page


def test_the_same_checklist_uploaded_as_specimen_records_is_refused_with_the_choice_to_make(curator_client, institution):
    collection = CollectionFactory(institution=institution)
    _upload(curator_client, CHECKLIST, kind="specimens", collection=collection.pk)
    batch = ImportBatch.objects.get()

    specimen_import_task(batch.pk)

    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.REJECTED
    assert "Taxon" in batch.file_errors[0] and batch.file_errors[-1] == CHOOSE_CHECKLIST
    assert '"Taxonomic checklist (names into the tree)"' in CHOOSE_CHECKLIST
    page = curator_client.get(reverse("imports:import_detail", args=[batch.uuid])).content.decode()
    assert "Taxonomic checklist (names into the tree)" in page
    assert Taxon.objects.count() == 0


def test_an_occurrence_archive_uploaded_as_a_checklist_is_refused_with_the_choice_to_make(curator_client):
    _upload(curator_client, OCCURRENCES, kind="taxa")
    batch = ImportBatch.objects.get()

    specimen_import_task(batch.pk)

    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.REJECTED
    assert 'choose "Specimen records"' in batch.file_errors[0]
    assert (batch.inserted_count, Taxon.objects.count(), Specimen.objects.count()) == (0, 0, 0)


def test_specimen_records_still_need_a_collection_and_still_import(curator_client, institution):
    collection = CollectionFactory(institution=institution)

    refused = _upload(curator_client, OCCURRENCES, kind="specimens")
    assert refused.status_code == 400
    assert "Choose the collection the records belong to." in refused.content.decode()

    response = _upload(curator_client, OCCURRENCES, kind="specimens", collection=collection.pk)
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    specimen_import_task(batch.pk)
    batch.refresh_from_db()
    assert (batch.kind, batch.collection, batch.status, batch.inserted_count) == ("specimens", collection, "done", 19)
    assert batch.file_errors == []


def test_the_database_requires_a_collection_for_specimen_records(institution):
    batch = ImportBatch(kind=ImportBatch.Kind.SPECIMENS, institution=institution, file_name="rows.csv")
    with pytest.raises(ValidationError, match="Choose the collection the specimen records belong to."):
        batch.full_clean()


def test_the_form_offers_checklists_to_curators_only(curator_client, digitiser_client, institution):
    CollectionFactory(institution=institution)

    assert 'value="taxa"' in curator_client.get(reverse("imports:import_list")).content.decode()
    assert 'value="taxa"' not in digitiser_client.get(reverse("imports:import_list")).content.decode()


def test_a_digitiser_cannot_import_a_checklist(digitiser_client, institution):
    CollectionFactory(institution=institution)

    response = _upload(digitiser_client, CHECKLIST, kind="taxa")

    assert response.status_code == 400  # not a choice the form offers a digitiser
    assert ImportBatch.objects.count() == 0
    with pytest.raises(PermissionDenied, match=TAXA_IMPORT_NOT_ALLOWED):
        taxa_import_batch_create(path=CHECKLIST, user=digitiser_client.user)


def test_a_curator_with_no_collection_may_still_import_a_checklist(client_for):
    client = client_for(Role.CURATOR, InstitutionFactory(code="KEW"))

    assert _upload(client, CHECKLIST, kind="taxa").status_code == 302
    assert ImportBatch.objects.get().institution.code == "KEW"


def test_an_administrator_imports_under_a_membership_else_is_told_why_not(client_for, institution):
    admin = client_for("admin")

    response = _upload(admin, CHECKLIST, kind="taxa")
    assert response.status_code == 400
    assert TAXA_IMPORT_NO_INSTITUTION in response.content.decode().replace("&#x27;", "'")

    MembershipFactory(user=admin.user, institution=institution, role=Role.DIGITISER)
    assert _upload(admin, CHECKLIST, kind="taxa").status_code == 302
    assert ImportBatch.objects.get().institution == institution


def test_a_checklist_batch_cannot_be_undone(curator_client):
    _upload(curator_client, CHECKLIST, kind="taxa")
    batch = ImportBatch.objects.get()
    specimen_import_task(batch.pk)
    batch.refresh_from_db()
    taxa = Taxon.objects.count()

    assert not import_batch_undo_offered(batch=batch, user=curator_client.user)
    for service in (import_batch_undo_preview, import_batch_undo):
        with pytest.raises(ValidationError, match="A checklist import cannot be undone"):
            service(batch=batch, user=curator_client.user)
    response = curator_client.post(reverse("imports:import_undo", args=[batch.uuid]), follow=True)
    assert UNDO_CHECKLIST in response.content.decode().replace("&#x27;", "'")
    batch.refresh_from_db()
    assert (batch.undo_status, Taxon.objects.count()) == ("", taxa)


def test_the_list_of_imports_shows_what_each_held(curator_client, institution):
    collection = CollectionFactory(institution=institution, code="ZOO")
    _upload(curator_client, CHECKLIST, kind="taxa")
    _upload(curator_client, OCCURRENCES, kind="specimens", collection=collection.pk)

    page = curator_client.get(reverse("imports:import_list")).content.decode()

    assert '<td class="import-kind-taxa">Checklist</td>' in page and "taxonomic tree" in page
    assert '<td class="import-kind-specimens">Specimens</td>' in page and collection.full_code in page
