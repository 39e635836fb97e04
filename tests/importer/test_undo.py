"""Undoing a finished import: untouched new records go, changed records come back, the rest is
kept and listed; all or nothing, once, by the people who may delete the institution's records."""

import csv
import io

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from digitisation.services import batch_assign_specimens, batch_create
from imports import undo as undo_module
from imports.tasks import import_batch_undo_task
from imports.undo import (
    UNDO_ALREADY_DONE,
    UNDO_DRY_RUN,
    import_batch_undo,
    import_batch_undo_preview,
    import_batch_undo_run,
)
from institutions.models import Membership, Role
from specimens.models import Identification, ImportBatch, ImportUndoKept, Specimen, SpecimenAgent
from specimens.selectors import specimen_history
from specimens.services import preparation_add, specimen_create, specimen_publish, specimen_update
from tests.factories.institutions import CollectionFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

SpecimenEvent = apps.get_model("specimens", "SpecimenEvent")
IdentificationEvent = apps.get_model("specimens", "IdentificationEvent")
SpecimenAgentEvent = apps.get_model("specimens", "SpecimenAgentEvent")
ImportBatchEvent = apps.get_model("specimens", "ImportBatchEvent")

HEADER = ["catalogNumber", "scientificName", "recordedBy", "identifiedBy", "locality", "country"]


@pytest.fixture
def curator(user_with_role, collection):
    return user_with_role(Role.CURATOR, collection.institution)


@pytest.fixture
def write_csv(tmp_path):
    """write_csv(rows, name=…) → a CSV file of HEADER columns (or the row dicts' own keys)."""
    count = 0

    def write(rows, *, name=None, header=HEADER):
        nonlocal count
        count += 1
        path = tmp_path / (name or f"rows{count}.csv")
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write


@pytest.fixture
def import_rows(run_import, write_csv, curator):
    """import_rows(rows, **kw) → the finished batch, run by the real importer as the curator."""

    def run(rows, *, dry_run=False, header=HEADER):
        batch = run_import(write_csv(rows, header=header), dry_run=dry_run, user=curator)
        assert batch.status == ImportBatch.Status.DONE, batch.file_errors
        return batch

    return run


def row(number, **values):
    return {"catalogNumber": f"Z{number:04d}", "scientificName": "Bellis perennis", "recordedBy": "A. Smith | B. Jones",
            "identifiedBy": "J. Hooker", "locality": "Kew Green", "country": "United Kingdom", **values}


def specimen(catalog_number):
    return Specimen.objects.get(catalog_number=catalog_number)


# --- inserted records ---------------------------------------------------------------------------


def test_undo_deletes_untouched_new_records_with_their_identifications_and_collector_links(import_rows, curator, collection):
    before = specimen_create(collection=collection, user=curator, data={"catalog_number": "OLD1", "locality": "Kew"})
    batch = import_rows([row(1), row(2), row(3)])
    new_ids = list(Specimen.objects.filter(import_batch=batch).values_list("pk", flat=True))
    assert (batch.inserted_count, len(new_ids)) == (3, 3)
    assert Identification.objects.filter(specimen_id__in=new_ids).count() == 3
    assert SpecimenAgent.objects.filter(specimen_id__in=new_ids).count() == 9  # two collectors and a determiner each

    batch = import_batch_undo(batch=batch, user=curator)

    assert (batch.undo_status, batch.undo_deleted_count, batch.undo_restored_count, batch.undo_kept_count) == ("done", 3, 0, 0)
    assert batch.undone_by == curator and batch.undone_at is not None
    assert list(Specimen.objects.values_list("pk", flat=True)) == [before.pk]
    assert not Identification.objects.filter(specimen_id__in=new_ids).exists()
    assert not SpecimenAgent.objects.filter(specimen_id__in=new_ids).exists()
    # Like the insert, the deletion is recorded set-based: an insert and a delete event per record,
    # the delete under the undo's context; none for their identifications and collector links.
    events = SpecimenEvent.objects.filter(pgh_obj_id__in=new_ids).select_related("pgh_context")
    assert sorted((e.pgh_obj_id, e.pgh_label) for e in events) == sorted(
        (pk, label) for pk in new_ids for label in ("insert", "delete"))
    assert {e.pgh_context.metadata["action"] for e in events if e.pgh_label == "delete"} == {"import_undo"}
    assert not IdentificationEvent.objects.filter(specimen_id__in=new_ids).exists()
    assert not SpecimenAgentEvent.objects.filter(specimen_id__in=new_ids).exists()
    event = ImportBatchEvent.objects.filter(pgh_obj=batch, undo_status="done").select_related("pgh_context").get()
    assert event.undo_deleted_count == 3 and event.undone_by_id == curator.pk
    assert event.pgh_context.metadata["action"] == "import_undo"
    assert event.pgh_context.metadata["user"] == curator.pk


def test_published_edited_and_otherwise_used_records_are_kept_and_reported(import_rows, curator, client_for, collection):
    batch = import_rows([row(n) for n in range(1, 7)])
    specimen_publish(specimen=specimen("Z0001"), user=curator)
    edited = specimen("Z0002")
    specimen_update(specimen=edited, data={"locality": "Kew Gardens"}, expected_version=1, user=curator)
    preparation_add(specimen=specimen("Z0003"), preparation_type="sheet", user=curator)
    tray = batch_create(institution=collection.institution, name="Tray 1", user=curator)
    batch_assign_specimens(batch=tray, specimens=Specimen.objects.filter(catalog_number="Z0004"), user=curator)
    Specimen.objects.filter(catalog_number="Z0005").update(media_count=1, media=[{"uuid": "x"}])  # as imaging links one

    preview = import_batch_undo_preview(batch=batch, user=curator)
    batch = import_batch_undo(batch=batch, user=curator)

    assert (preview.delete, preview.restore, preview.kept_total) == (1, 0, 5)
    assert (batch.undo_deleted_count, batch.undo_restored_count, batch.undo_kept_count) == (1, 0, 5)
    assert sorted(Specimen.objects.values_list("catalog_number", flat=True)) == ["Z0001", "Z0002", "Z0003", "Z0004", "Z0005"]
    kept = dict(ImportUndoKept.objects.filter(batch=batch).values_list("catalog_number", "reason"))
    assert kept == {"Z0001": "published", "Z0002": "edited", "Z0003": "preparations",
                    "Z0004": "digitisation_batch", "Z0005": "images"}
    assert specimen("Z0002").locality == "Kew Gardens"
    # The published record's stable URI still resolves.
    assert client_for(None).get(reverse("specimen_uri", args=[specimen("Z0001").uuid])).status_code == 303
    # The list of kept records downloads as CSV, with the reasons in words.
    client = client_for(Role.CURATOR, collection.institution)
    response = client.get(reverse("imports:import_undo_kept", args=[batch.uuid]))
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(lines) == 5 and lines[0]["catalogNumber"] == "Z0001"
    assert lines[0]["reason"].startswith("Published since the import")


# --- updated records ----------------------------------------------------------------------------


def test_updated_records_are_put_back_to_their_state_before_the_import_and_the_restore_is_in_history(
    import_rows, curator, collection
):
    first = import_rows([row(1), row(2)])
    specimen_create(collection=collection, user=curator, data={"catalog_number": "Z0003", "locality": "Box Hill"})
    second = import_rows([
        row(1, locality="Wicken Fen", recordedBy="C. Darwin", scientificName="Bellis annua", identifiedBy="A. Gray"),
        row(2),  # unchanged
        row(3, locality="Wicken Fen", recordedBy="C. Darwin", scientificName="Bellis annua", identifiedBy="A. Gray"),
        row(4),  # new
    ])
    assert (second.inserted_count, second.updated_count, second.unchanged_count) == (1, 2, 1)
    z1 = specimen("Z0001")
    assert (z1.locality, z1.recorded_by, z1.scientific_name, z1.import_batch_id) == ("Wicken Fen", "C. Darwin", "Bellis annua", second.pk)

    batch = import_batch_undo(batch=second, user=curator)

    assert (batch.undo_deleted_count, batch.undo_restored_count, batch.undo_kept_count) == (1, 2, 0)
    assert not Specimen.objects.filter(catalog_number="Z0004").exists()
    z1 = specimen("Z0001")
    assert (z1.locality, z1.recorded_by, z1.scientific_name) == ("Kew Green", "A. Smith | B. Jones", "Bellis perennis")
    assert (z1.version, z1.import_batch_id) == (3, first.pk)
    assert z1.identifications.get(is_current=True).verbatim_identification == "Bellis perennis"
    assert z1.identifications.count() == 1
    assert sorted(z1.agent_links.values_list("role", "agent__name", "order")) == [
        ("collector", "A. Smith", 0), ("collector", "B. Jones", 1), ("determiner", "J. Hooker", 0)]
    z3 = specimen("Z0003")
    assert (z3.locality, z3.recorded_by, z3.identified_by, z3.version, z3.import_batch_id) == ("Box Hill", "", "", 3, None)
    assert not z3.agent_links.exists()
    assert z3.identifications.count() == 0
    # The restore is a recorded version, labelled as the undo, with what it changed.
    latest = specimen_history(specimen=z1)[0]
    assert latest["action"] == "import_undo" and latest["user"] == curator.username
    assert ("locality", "Wicken Fen", "Kew Green") in latest["changes"]
    # Its history: the first import's version 1, the snapshot before the second, that import, the undo.
    assert [e["action"] for e in specimen_history(specimen=z1)] == [
        "import_undo", "specimen_import", "before_import", "specimen_import"]


def test_an_updated_record_changed_again_after_the_import_is_kept_and_reported(import_rows, curator):
    import_rows([row(1), row(2)])
    second = import_rows([row(1, locality="Wicken Fen"), row(2, locality="Wicken Fen")])
    specimen_update(specimen=specimen("Z0002"), data={"habitat": "fen"}, expected_version=2, user=curator)

    batch = import_batch_undo(batch=second, user=curator)

    assert (batch.undo_deleted_count, batch.undo_restored_count, batch.undo_kept_count) == (0, 1, 1)
    assert specimen("Z0001").locality == "Kew Green"
    assert (specimen("Z0002").locality, specimen("Z0002").habitat) == ("Wicken Fen", "fen")
    kept = ImportUndoKept.objects.get(batch=batch)
    assert (kept.catalog_number, kept.kind, kept.reason) == ("Z0002", "updated", "changed_after")


def test_records_a_later_import_changed_are_kept_when_the_first_import_is_undone(import_rows, curator):
    first = import_rows([row(1), row(2)])
    import_rows([row(1, locality="Wicken Fen")])

    batch = import_batch_undo(batch=first, user=curator)

    assert (batch.undo_deleted_count, batch.undo_kept_count) == (1, 1)
    assert list(Specimen.objects.values_list("catalog_number", flat=True)) == ["Z0001"]
    assert ImportUndoKept.objects.get(batch=batch).reason == "reimported"


def test_a_failing_restore_leaves_everything_as_it_was(import_rows, curator, collection):
    """All or nothing: the import renamed a record whose old number is taken since, so the undo fails whole."""
    header = [*HEADER, "occurrenceID"]
    import_rows([row(1, occurrenceID="urn:catalog:test:1")], header=header)
    second = import_rows([row(1, catalogNumber="Z0001-A", occurrenceID="urn:catalog:test:1"),
                          row(2, occurrenceID="urn:catalog:test:2")], header=header)
    assert (second.inserted_count, second.updated_count) == (1, 1)
    specimen_create(collection=collection, user=curator, data={"catalog_number": "Z0001"})

    with pytest.raises(ValidationError, match="nothing was undone"):
        import_batch_undo(batch=second, user=curator)

    assert sorted(Specimen.objects.values_list("catalog_number", flat=True)) == ["Z0001", "Z0001-A", "Z0002"]
    second.refresh_from_db()
    assert (second.undo_status, second.undo_deleted_count) == ("", 0)
    assert not ImportUndoKept.objects.exists()


# --- refusals -----------------------------------------------------------------------------------


def test_a_second_undo_is_refused_with_a_clear_message(import_rows, curator):
    batch = import_rows([row(1)])
    import_batch_undo(batch=batch, user=curator)

    with pytest.raises(ValidationError, match="already undone on .* by " + curator.username):
        import_batch_undo(batch=batch, user=curator)
    assert UNDO_ALREADY_DONE.startswith("This import was already undone")


def test_a_dry_run_cannot_be_undone(import_rows, curator):
    batch = import_rows([row(1)], dry_run=True)

    with pytest.raises(ValidationError, match=UNDO_DRY_RUN):
        import_batch_undo(batch=batch, user=curator)


@pytest.mark.parametrize("role, own", [(Role.DIGITISER, True), (Role.CURATOR, False), (Role.PROGRAMME_MANAGER, False)])
def test_only_curators_and_managers_of_the_institution_may_undo(import_rows, user_with_role, collection, role, own):
    batch = import_rows([row(1)])
    other = InstitutionFactory(code="ELSE")
    CollectionFactory(institution=other)
    user = user_with_role(role, collection.institution if own else other)

    with pytest.raises(PermissionDenied, match="Only a curator or collection manager of NHMUK"):
        import_batch_undo(batch=batch, user=user)
    assert Specimen.objects.count() == 1
    batch.refresh_from_db()
    assert batch.undo_status == ""


@pytest.mark.parametrize("role", [Role.COLLECTION_MANAGER, "admin"])
def test_managers_and_administrators_may_undo(import_rows, user_with_role, collection, role):
    batch = import_rows([row(1)])

    batch = import_batch_undo(batch=batch, user=user_with_role(role, collection.institution))

    assert batch.undo_status == "done" and not Specimen.objects.exists()


# --- scale and the worker -----------------------------------------------------------------------


def test_the_undo_runs_a_fixed_number_of_queries_whatever_the_number_of_rows(import_rows, curator):
    def undo_queries(first_number, count):
        import_rows([row(n) for n in range(first_number, first_number + count)])
        changed = import_rows([row(n, locality="Slapton Ley") for n in range(first_number, first_number + count)]
                              + [row(n) for n in range(first_number + count, first_number + 2 * count)])
        user = type(curator).objects.get(pk=curator.pk)  # memberships not yet read, both times
        with CaptureQueriesContext(connection) as queries:
            batch = import_batch_undo(batch=changed, user=user)
        assert (batch.undo_deleted_count, batch.undo_restored_count) == (count, count)
        return len(queries)

    small, large = undo_queries(1, 2), undo_queries(1000, 60)

    assert small == large
    assert large <= 32  # 30, plus the public search refresh of the records put back (specimens.search)


def test_a_big_batch_is_undone_by_the_worker_once_after_commit(import_rows, curator, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    batch = import_rows([row(1), row(2)])
    monkeypatch.setattr(undo_module, "UNDO_INLINE_MAX_ROWS", 1)

    with django_capture_on_commit_callbacks() as callbacks:
        queued = import_batch_undo(batch=batch, user=curator)

    assert len(callbacks) == 1
    assert (queued.undo_status, Specimen.objects.count()) == ("queued", 2)
    with pytest.raises(ValidationError, match="already being undone"):
        import_batch_undo(batch=batch, user=curator)

    import_batch_undo_task(batch.pk)
    import_batch_undo_task(batch.pk)  # redelivered: the undo is no longer queued

    batch.refresh_from_db()
    assert (batch.undo_status, batch.undo_deleted_count, batch.undone_by) == ("done", 2, curator)
    assert not Specimen.objects.exists()
    assert ImportBatchEvent.objects.filter(pgh_obj=batch, undo_status="done").count() == 1
    assert import_batch_undo_run(batch_id=batch.pk).undo_status == "done"


def test_a_queued_undo_whose_requester_lost_the_right_fails_with_the_reason(import_rows, curator, monkeypatch):
    batch = import_rows([row(1)])
    monkeypatch.setattr(undo_module, "UNDO_INLINE_MAX_ROWS", 0)
    import_batch_undo(batch=batch, user=curator)
    Membership.objects.filter(user=curator).delete()

    batch = import_batch_undo_run(batch_id=batch.pk)

    assert batch.undo_status == "failed" and "Only a curator" in batch.undo_error
    assert Specimen.objects.count() == 1


# --- the pages ----------------------------------------------------------------------------------


def test_a_curator_confirms_then_undoes_and_sees_the_result(import_rows, client_for, collection):
    batch = import_rows([row(1), row(2)])
    client = client_for(Role.CURATOR, collection.institution)
    specimen_publish(specimen=specimen("Z0002"), user=client.user)
    detail = reverse("imports:import_detail", args=[batch.uuid])
    undo = reverse("imports:import_undo", args=[batch.uuid])

    page = client.get(detail).content.decode()
    assert f'href="{undo}"' in page and "Undo this import" in page

    confirm = client.get(undo)
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert 'name="csrfmiddlewaretoken"' in text and 'method="post"' in text
    assert '<dd class="undo-delete"><strong>1</strong> record this import created' in text
    assert '<dd class="undo-restore"><strong>0</strong> records' in text
    assert '<dd class="undo-kept"><strong>1</strong> record changed' in text
    assert "Published since the import" in text
    assert Specimen.objects.count() == 2  # looking changes nothing

    response = client.post(undo, follow=True)

    assert response.redirect_chain[-1] == (detail, 302)
    text = response.content.decode()
    assert "Import undone: 1 deleted, 0 put back, 1 left as they were." in text
    assert '<dd class="count-undo-deleted">1</dd>' in text and "Z0002" in text
    assert f'href="{undo}"' not in text  # once only
    listing = client.get(reverse("imports:import_list")).content.decode()
    assert '<span class="status status-undo-done">Undone</span>' in listing
    again = client.post(undo, follow=True).content.decode()
    assert "This import was already undone on" in again


def test_the_post_is_csrf_protected(import_rows, collection, user_with_role):
    from django.test import Client

    batch = import_rows([row(1)])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_role(Role.CURATOR, collection.institution))

    response = client.post(reverse("imports:import_undo", args=[batch.uuid]))

    assert response.status_code == 403
    assert Specimen.objects.count() == 1


@pytest.mark.parametrize("role, own, expected", [
    (Role.DIGITISER, True, 403), (Role.PROGRAMME_MANAGER, False, 403), (Role.CURATOR, False, 404), (None, True, 302),
])
def test_the_undo_pages_refuse_those_who_may_not_undo(import_rows, client_for, collection, role, own, expected):
    batch = import_rows([row(1)])
    other = InstitutionFactory(code="ELSE")
    client = client_for(role, collection.institution if own else other)
    undo = reverse("imports:import_undo", args=[batch.uuid])

    assert client.get(undo).status_code == expected
    assert client.post(undo).status_code == expected
    assert Specimen.objects.count() == 1
    if role == Role.DIGITISER:  # sees the import, is not offered the button
        assert f'href="{undo}"' not in client.get(reverse("imports:import_detail", args=[batch.uuid])).content.decode()


def test_a_dry_run_page_offers_no_undo_and_the_confirm_page_explains(import_rows, client_for, collection):
    batch = import_rows([row(1)], dry_run=True)
    client = client_for(Role.CURATOR, collection.institution)
    undo = reverse("imports:import_undo", args=[batch.uuid])

    assert f'href="{undo}"' not in client.get(reverse("imports:import_detail", args=[batch.uuid])).content.decode()
    response = client.get(undo, follow=True)
    assert UNDO_DRY_RUN in response.content.decode()
