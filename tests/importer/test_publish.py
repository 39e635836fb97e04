"""Publish on import (issue 10): `import_specimens … --publish --user NAME` and the browser's
"Publish on import" choice. Only a curator or collection manager of the collection's institution
may; otherwise the command exits 2 with a sentence saying why and nothing is written."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from institutions.models import Role
from specimens.models import ImportBatch, ImportRowError, Specimen, Taxon
from imports.services import import_batch_create, import_batch_run
from tests.factories.institutions import CollectionFactory

from .archives import csv_write

pytestmark = pytest.mark.django_db
ROWS = [{"catalogNumber": "P1", "scientificName": "Quercus robur L."}, {"catalogNumber": "P2", "scientificName": ""}]


def _command(capsys, *args):
    try:
        call_command("import_specimens", *map(str, args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err


@pytest.mark.parametrize("role", [Role.CURATOR, Role.COLLECTION_MANAGER, "admin"])
def test_publish_with_a_curator_or_manager_publishes_the_named_records(collection, user_with_role, capsys, tmp_path, role):
    user = user_with_role(role, collection.institution)

    code, lines, _ = _command(capsys, csv_write(tmp_path / "p.txt", ROWS), "--collection", "NHMUK:ZOO",
                              "--publish", "--user", user.username)

    assert code == 0 and lines[-1] == "imported=2 updated=0 rejected=0"
    p1, p2 = Specimen.objects.get(catalog_number="P1"), Specimen.objects.get(catalog_number="P2")
    assert (p1.status, p1.published_at is not None) == ("published", True)
    assert (p2.status, p2.published_at) == ("draft", None)  # publishing needs a name
    assert not Taxon.objects.get(pk=p1.taxon_id).is_provisional  # a published record's name is public
    assert "warning: Published on import: 1 record(s)." in lines
    batch = ImportBatch.objects.get()
    assert ImportRowError.objects.get(batch=batch, severity="warning").line == 3


@pytest.mark.parametrize("role, message", [
    (None, "Publishing on import needs --user NAME"),
    (Role.DIGITISER, "may not publish records of"),
    ("other-curator", "may not publish records of"),
])
def test_publish_without_the_right_user_exits_2_and_writes_nothing(collection, user_with_role, other_institution,
                                                                    capsys, tmp_path, role, message):
    args = []
    if role == "other-curator":
        args = ["--user", user_with_role(Role.CURATOR, other_institution).username]
    elif role:
        args = ["--user", user_with_role(role, collection.institution).username]

    code, lines, err = _command(capsys, csv_write(tmp_path / "p.txt", ROWS), "--collection", "NHMUK:ZOO", "--publish", *args)

    assert code == 2 and message in err and lines[-1] == "imported=0 updated=0 rejected=0"
    assert not ImportBatch.objects.exists() and not Specimen.objects.exists()


def test_publish_on_import_publishes_matched_drafts_and_leaves_withdrawn_records(collection, user_with_role, tmp_path):
    curator = user_with_role(Role.CURATOR, collection.institution)
    source = csv_write(tmp_path / "p.txt", [{"catalogNumber": "P1", "scientificName": "Quercus robur L."},
                                            {"catalogNumber": "P3", "scientificName": "Fagus sylvatica L."}])
    import_batch_run(batch_id=import_batch_create(collection=collection, path=source, user=curator).pk)
    Specimen.objects.filter(catalog_number="P3").update(status=Specimen.Status.WITHDRAWN)

    batch = import_batch_run(batch_id=import_batch_create(collection=collection, path=source, user=curator, publish=True).pk)

    assert batch.status == ImportBatch.Status.DONE
    p1, p3 = Specimen.objects.get(catalog_number="P1"), Specimen.objects.get(catalog_number="P3")
    assert (p1.status, p1.version) == ("published", 2)
    assert p3.status == "withdrawn"


def test_the_browser_offers_publish_on_import_and_the_slash_date_order(client_for, institution, settings):
    collection = CollectionFactory(institution=institution)
    curator = client_for(Role.CURATOR, institution)

    response = curator.post(reverse("imports:import_list"), {
        "collection": collection.pk, "publish": "on", "date_order": "dmy",
        "file": SimpleUploadedFile("rows.csv", b"catalogNumber,scientificName,eventDate\nB1,Poa annua,6/7/2009\n"),
    })

    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert (batch.publish, batch.date_order) == (True, "dmy")
    import_batch_run(batch_id=batch.pk)
    assert Specimen.objects.filter(catalog_number="B1", status="published", event_date="2009-07-06").exists()


def test_the_browser_refuses_publish_on_import_for_a_digitiser(client_for, institution, settings):
    collection = CollectionFactory(institution=institution)
    digitiser = client_for(Role.DIGITISER, institution)
    before = sorted(os.listdir(settings.IMPORT_SPOOL_DIR))

    response = digitiser.post(reverse("imports:import_list"), {
        "collection": collection.pk, "publish": "on",
        "file": SimpleUploadedFile("rows.csv", b"catalogNumber\nB1\n"),
    })

    assert response.status_code == 400
    assert "may not publish records of" in response.content.decode()
    assert not ImportBatch.objects.exists()
    assert sorted(os.listdir(settings.IMPORT_SPOOL_DIR)) == before


def test_the_write_leaves_statistics_that_count_the_new_rows(collection, user_with_role, tmp_path):
    """Publishing reads the new rows back in the same transaction: planned with the statistics of
    an empty table, that read was a nested loop (more than ten minutes for 100,000 rows)."""
    user = user_with_role(Role.CURATOR, collection.institution)
    rows = [{"catalogNumber": f"S{n}", "scientificName": "Quercus robur L."} for n in range(400)]
    batch = import_batch_create(collection=collection, path=csv_write(tmp_path / "s.txt", rows), publish=True, user=user)

    batch = import_batch_run(batch_id=batch.pk)

    assert batch.inserted_count == 400
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'specimens_specimen'::regclass")
        assert cursor.fetchone()[0] >= 400
