import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from specimens.models import ImportBatch
from tests.factories.institutions import CollectionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name, content, message", [
    ("rows.csv", b"", "The submitted file is empty."),
    ("photo.jpg", b"\xff\xd8\xff\xe0 not rows", "Upload a Darwin Core Archive (.zip) or a CSV/TSV file"),
])
def test_a_bad_upload_is_refused_at_the_field_and_leaves_nothing(curator_client, institution, settings, name, content, message):
    collection = CollectionFactory(institution=institution)
    before = sorted(os.listdir(settings.IMPORT_SPOOL_DIR))

    response = curator_client.post(reverse("imports:import_list"),
                                   {"collection": collection.pk, "file": SimpleUploadedFile(name, content)})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert ImportBatch.objects.count() == 0
    assert sorted(os.listdir(settings.IMPORT_SPOOL_DIR)) == before


def test_an_upload_above_the_limit_is_refused(curator_client, institution, settings):
    settings.IMPORT_MAX_UPLOAD_MB = 0
    collection = CollectionFactory(institution=institution)

    response = curator_client.post(reverse("imports:import_list"),
                                   {"collection": collection.pk, "file": SimpleUploadedFile("rows.csv", b"catalogNumber\nX1\n")})

    assert response.status_code == 400
    assert "the limit for one upload is 0 MB" in response.content.decode()
    assert ImportBatch.objects.count() == 0


def test_the_browser_name_never_becomes_a_path(curator_client, institution, settings):
    collection = CollectionFactory(institution=institution)

    response = curator_client.post(reverse("imports:import_list"), {
        "collection": collection.pk, "file": SimpleUploadedFile("../../etc/rows.csv", b"catalogNumber\nX1\n")})

    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert batch.source_path.startswith(str(settings.IMPORT_SPOOL_DIR))
    assert ".." not in batch.source_path
