"""Downloads of a public search: the same rows as the search, as CSV (formula-safe) or DwC-A,
built by a task with progress, cited, and removed after their keeping time."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from publishing.downloads import download_request_build, downloads_expire
from publishing.models import DownloadRequest
from specimens.search import search_rebuild

from .conftest import archive_read, published

pytestmark = pytest.mark.django_db


def build(response) -> DownloadRequest:
    download = DownloadRequest.objects.get(uuid=response["Location"].rstrip("/").rsplit("/", 1)[-1])
    download_request_build(download_id=download.pk)
    download.refresh_from_db()
    return download


def test_a_visitor_downloads_a_search_as_csv_with_formulas_neutralised(collection, public_client,
                                                                       django_capture_on_commit_callbacks):
    published(collection, 1, scientific_name="Bellis perennis", locality="=HYPERLINK(\"http://evil\")",
              recorded_by="@SUM(1+1)", decimal_latitude="-12.5", decimal_longitude="+3.25".lstrip("+"))
    published(collection, 1, scientific_name="Bellis perennis", habitat="+cmd|' /C calc'!A0", record_number="-5")
    published(collection, 1, scientific_name="Quercus robur")
    search_rebuild()
    with django_capture_on_commit_callbacks() as callbacks:
        response = public_client.post(reverse("publishing:download_create"), {"q": "Bellis", "format": "csv"})
    assert response.status_code == 302 and len(callbacks) == 1
    download = build(response)
    assert (download.status, download.records_total, download.records_done) == ("ready", 2, 2)
    assert "Own Museum: Botany (OWN:BOT)" in download.citation and "2 records" in download.citation
    page = public_client.get(response["Location"]).content.decode()
    assert "Download the file" in page and "Cite this download" in page
    body = b"".join(public_client.get(reverse("publishing:download_file", args=[download.uuid])).streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 2 and {r["scientificName"] for r in rows} == {"Bellis perennis"}
    first = next(r for r in rows if r["locality"])
    assert first["locality"] == "'=HYPERLINK(\"http://evil\")" and first["recordedBy"] == "'@SUM(1+1)"
    assert first["decimalLatitude"] == "-12.5"  # numbers untouched
    second = next(r for r in rows if r["habitat"])
    assert second["habitat"].startswith("'+cmd") and second["recordNumber"] == "'-5"


def test_a_search_downloads_as_a_darwin_core_archive(collection, public_client):
    published(collection, 3, scientific_name="Bellis perennis")
    search_rebuild()
    download = build(public_client.post(reverse("publishing:download_create"), {"q": "Bellis", "format": "dwca"}))
    assert len(archive_read(default_storage.path(download.file_key))["core"]) == 3
    assert download.citation in zipfile.ZipFile(default_storage.path(download.file_key)).read("eml.xml").decode()


def test_bad_search_input_is_refused_with_a_message(public_client):
    response = public_client.post(reverse("publishing:download_create"), {"q": "x" * 600, "format": "csv"})
    assert response.status_code == 400 and "too long" in response.content.decode()
    response = public_client.post(reverse("publishing:download_create"), {"format": "xlsx"})
    assert response.status_code == 400 and not DownloadRequest.objects.exists()
    assert public_client.get(reverse("publishing:download_create")).status_code == 405


def test_downloads_are_removed_after_their_time(collection, public_client):
    published(collection, 1)
    search_rebuild()
    download = build(public_client.post(reverse("publishing:download_create"), {"format": "csv"}))
    assert default_storage.exists(download.file_key)
    assert downloads_expire() == 0
    DownloadRequest.objects.filter(pk=download.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert downloads_expire() == 1
    assert not default_storage.exists(download.file_key)
    assert public_client.get(reverse("publishing:download_file", args=[download.uuid])).status_code == 404
    assert "has been removed" in public_client.get(reverse("publishing:download_detail", args=[download.uuid])).content.decode()
