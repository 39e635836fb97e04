"""Multimedia extensions become external media on the record (issue 10): a real archive's GBIF
Simple Multimedia extension (2,951 image links) was dropped silently. Shapes copied from IPT
exports: multimedia.txt keyed by the core id, dc:identifier the file, dc:format, dc:license,
dc:rightsHolder, dc:creator; Audubon Core with ac:accessURI and xmpRights."""

import pytest
from django.urls import reverse

from specimens.models import ImportRowError, Specimen
from specimens.services import specimen_media_set

from .archives import AUDUBON, MULTIMEDIA, Table, dwca_write, occurrences

pytestmark = pytest.mark.django_db
CORE = occurrences([
    {"id": "occ-1", "catalogNumber": "M1", "scientificName": "Bellis perennis", "basisOfRecord": "PreservedSpecimen"},
    {"id": "occ-2", "catalogNumber": "M2", "scientificName": "Poa annua", "basisOfRecord": "PreservedSpecimen"},
])
GBIF_TERMS = ["id", "identifier", "format", "type", "title", "license", "rightsHolder", "creator", "references"]
CC_BY = "http://creativecommons.org/licenses/by/4.0/"


def _gbif(rows):
    return Table(MULTIMEDIA, "multimedia.txt", GBIF_TERMS, rows)


def _archive(tmp_path, media_rows, name="media.zip"):
    return dwca_write(tmp_path / name, core=CORE, extensions=[_gbif(media_rows)])


def test_gbif_multimedia_rows_become_external_media_with_their_rights(run_import, tmp_path):
    archive = _archive(tmp_path, [
        ["occ-1", "https://images.example.org/M1.jpg", "image/jpeg", "StillImage", "Sheet", CC_BY, "Kew", "A. Smith", ""],
        ["occ-1", "https://sounds.example.org/M1.mp3", "audio/mpeg", "Sound", "", "", "", "", ""],
        ["occ-2", "", "", "", "", "", "", "", "https://portal.example.org/M2"],
    ])

    batch = run_import(archive)

    assert (batch.inserted_count, batch.rejected_count) == (2, 0)
    m1, m2 = Specimen.objects.get(catalog_number="M1"), Specimen.objects.get(catalog_number="M2")
    assert m1.external_media == [
        {"url": "https://images.example.org/M1.jpg", "format": "image/jpeg", "type": "StillImage", "title": "Sheet",
         "license": CC_BY, "rights_holder": "Kew", "creator": "A. Smith", "image": True},
        {"url": "https://sounds.example.org/M1.mp3", "format": "audio/mpeg", "type": "Sound", "image": False},
    ]
    assert (m1.media_count, m1.media) == (2, [])
    assert m2.external_media == [{"url": "https://portal.example.org/M2", "image": False}]  # a page: a link


def test_audubon_core_access_uri_wins_over_its_identifier(run_import, tmp_path):
    audubon = Table(AUDUBON, "audubon.txt", ["id", "identifier", "accessURI", "dc:format", "UsageTerms", "Owner", "dc:creator"], [
        ["occ-1", "urn:uuid:5b0c", "https://media.example.org/ac/1.png", "image/png", CC_BY, "NHM", "B. Jones"],
    ])

    run_import(dwca_write(tmp_path / "ac.zip", core=CORE, extensions=[audubon]))

    assert Specimen.objects.get(catalog_number="M1").external_media == [
        {"url": "https://media.example.org/ac/1.png", "format": "image/png", "license": CC_BY, "rights_holder": "NHM",
         "creator": "B. Jones", "image": True}]


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)", "file:///etc/passwd", "data:image/png;base64,iVBORw0KGgo=",
    "http://127.0.0.1:8000/admin/", "http://10.1.2.3/x.jpg", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/x.jpg", "http://localhost/x.jpg", "http://2130706433/x.jpg",
])
def test_dangerous_media_addresses_are_refused_and_reported_and_the_record_imports(run_import, tmp_path, url):
    archive = _archive(tmp_path, [["occ-1", url, "image/jpeg", "", "", "", "", "", ""],
                                  ["occ-1", "https://ok.example.org/1.jpg", "", "", "", "", "", "", ""]])

    batch = run_import(archive)

    assert (batch.inserted_count, batch.rejected_count) == (2, 0)
    assert [m["url"] for m in Specimen.objects.get(catalog_number="M1").external_media] == ["https://ok.example.org/1.jpg"]
    problem = ImportRowError.objects.get(batch=batch, severity="warning", column="multimedia.txt: identifier")
    assert (problem.line, problem.value) == (2, url) and f"'{url}'" in problem.message


def test_our_images_and_imported_links_never_overwrite_each_other(run_import, tmp_path):
    archive = _archive(tmp_path, [["occ-1", "https://images.example.org/M1.jpg", "image/jpeg", "", "", "", "", "", ""]])
    run_import(archive)
    m1 = Specimen.objects.get(catalog_number="M1")
    ours = [{"uuid": "u1", "order": 1, "width": 10, "height": 10, "licence": CC_BY, "iiif_service": "/iiif/u1"}]

    specimen_media_set(specimen_id=m1.pk, media=ours)  # imaging links a photograph
    m1.refresh_from_db()
    assert (m1.media, len(m1.external_media), m1.media_count) == (ours, 1, 2)

    again = run_import(_archive(tmp_path, [
        ["occ-1", "https://images.example.org/M1.jpg", "image/jpeg", "", "", "", "", "", ""],
        ["occ-1", "https://images.example.org/M1b.jpg", "image/jpeg", "", "", "", "", "", ""]], name="again.zip"))

    m1.refresh_from_db()
    assert again.updated_count == 1
    assert (m1.media, len(m1.external_media), m1.media_count) == (ours, 2, 3)


def test_reimporting_the_same_media_changes_nothing(run_import, tmp_path):
    archive = _archive(tmp_path, [["occ-1", "https://images.example.org/M1.jpg", "", "", "", "", "", "", ""]])
    run_import(archive)

    again = run_import(archive)

    assert (again.inserted_count, again.updated_count, again.unchanged_count) == (0, 0, 2)


def test_record_page_shows_an_image_link_as_a_thumbnail_and_other_media_as_links(run_import, tmp_path, client):
    run_import(_archive(tmp_path, [
        ["occ-1", "https://images.example.org/M1.jpg", "image/jpeg", "StillImage", "Sheet", CC_BY, "Kew", "A. Smith", ""],
        ["occ-1", "https://sounds.example.org/M1.mp3", "audio/mpeg", "Sound", "Call", "", "", "", ""],
    ]))
    m1 = Specimen.objects.get(catalog_number="M1")
    Specimen.objects.filter(pk=m1.pk).update(status=Specimen.Status.PUBLISHED)

    page = client.get(reverse("specimen_page", kwargs={"uuid": m1.uuid})).content.decode()

    assert '<img src="https://images.example.org/M1.jpg"' in page and 'referrerpolicy="no-referrer"' in page
    assert '<a href="https://sounds.example.org/M1.mp3" rel="noopener noreferrer nofollow" target="_blank">Call</a>' in page
