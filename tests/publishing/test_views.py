"""Public dataset pages, files for aggregators and the IPT-format RSS feed; the curator's pages."""

import re
import zipfile
from io import BytesIO
from xml.etree import ElementTree as ET

import pytest
from django.urls import reverse
from django.utils import timezone

from institutions.models import Role
from publishing.models import Dataset, DatasetVersion
from publishing.services import dataset_publish, dataset_version_build
from specimens.models import Specimen
from tests.paths import DWCA

from .conftest import published

pytestmark = pytest.mark.django_db
IPT = "{http://ipt.gbif.org/}"


def publish(dataset):
    version = dataset_publish(dataset=dataset)
    dataset_version_build(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "published", version.error
    return version


@pytest.fixture
def two_versions(dataset, collection):
    records = published(collection, 2)
    first = publish(dataset)
    Specimen.objects.filter(pk=records[0].pk).update(habitat="Chalk grassland", updated_at=timezone.now())
    second = publish(dataset)
    return first, second


def test_dataset_page_shows_citation_versions_and_downloads(two_versions, public_client, dataset):
    response = public_client.get(reverse("publishing:dataset_detail", args=[dataset.shortname]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Own Museum (" in page and "Own Museum botany specimens. Version 1.1. Own Museum." in page
    assert "?v=1.0" in page and "?v=1.1" in page
    assert "Since version 1.0: 0 records added, 1 changed, 0 withdrawn (2 records)." in page
    listing = public_client.get(reverse("publishing:dataset_list")).content.decode()
    assert "Own Museum botany specimens" in listing and "1.1" in listing


def test_archive_and_eml_downloads_by_version(two_versions, public_client, dataset):
    latest = public_client.get(reverse("publishing:dataset_dwca", args=[dataset.shortname]))
    assert latest.status_code == 200 and latest["Content-Type"] == "application/zip"
    assert 'filename="dwca-own-botany-v1.1.zip"' in latest["Content-Disposition"]
    first = public_client.get(reverse("publishing:dataset_dwca", args=[dataset.shortname]) + "?v=1.0")
    archive = zipfile.ZipFile(BytesIO(b"".join(first.streaming_content)))
    assert ET.fromstring(archive.read("eml.xml")).get("packageId") == f"{dataset.uuid}/v1.0"
    eml = public_client.get(reverse("publishing:dataset_eml", args=[dataset.shortname]) + "?v=1.1")
    assert ET.fromstring(b"".join(eml.streaming_content)).get("packageId") == f"{dataset.uuid}/v1.1"
    assert public_client.get(reverse("publishing:dataset_dwca", args=[dataset.shortname]) + "?v=9.9").status_code == 404
    assert public_client.get(reverse("publishing:dataset_dwca", args=[dataset.shortname]) + "?v=../x").status_code == 404


def test_unpublished_datasets_have_no_public_page(dataset, public_client):
    assert public_client.get(reverse("publishing:dataset_detail", args=[dataset.shortname])).status_code == 404


def test_rss_feed_has_the_ipt_shape_with_both_versions(two_versions, public_client, dataset):
    response = public_client.get(reverse("publishing:rss"))
    assert response["Content-Type"].startswith("application/rss+xml")
    ours = ET.fromstring(response.content)
    reference = ET.parse(DWCA / "gbif-ipt" / "rss.xml").getroot()
    channel_tags = lambda root: {child.tag for child in root.find("channel") if child.tag != "item"}  # noqa: E731
    item_tags = lambda root: {child.tag for child in root.find("channel/item")}  # noqa: E731
    assert channel_tags(reference) - {"webMaster"} <= channel_tags(ours)
    assert item_tags(reference) == item_tags(ours)
    items = ours.findall("channel/item")
    assert [i.findtext("title") for i in items] == ["Own Museum botany specimens - Version 1.1",
                                                    "Own Museum botany specimens - Version 1.0"]
    assert [i.findtext("guid") for i in items] == [f"{dataset.uuid}/v1.1", f"{dataset.uuid}/v1.0"]
    assert items[0].find("guid").get("isPermaLink") == "false"
    assert items[1].findtext(f"{IPT}dwca").endswith("/publishing/datasets/own-botany/dwca.zip?v=1.0")
    assert items[1].findtext(f"{IPT}eml").endswith("/publishing/datasets/own-botany/eml.xml?v=1.0")
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", items[0].findtext("pubDate"))
    assert items[0].findtext("author") == "data@own.example.org (Ada Lovelace)"
    assert ours.findtext("channel/ttl") == "15"


def test_curator_creates_a_dataset_sees_gbif_checks_and_publishes(client_for, institution, collection):
    from specimens.models import Agent

    Agent.objects.create(name="Joseph Hooker", name_key="joseph hooker")
    published(collection, 1)
    (bad,) = published(collection, 1, event_date="")
    client = client_for(Role.CURATOR, institution)
    response = client.post(reverse("publishing:dataset_create"), {
        "shortname": "own-herbarium", "title": "Herb", "abstract": "Sheets.", "collections": [collection.pk],
        "contact_email": "data@own.example.org", "licence": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
        "image_licence": "http://creativecommons.org/licenses/by/4.0/legalcode", "update_frequency": "asNeeded",
        "language": "en", "creators_text": "joseph hooker", "contacts_text": "Nobody Known"})
    assert response.status_code == 200
    assert "No agent named “Nobody Known”" in response.content.decode()
    response = client.post(reverse("publishing:dataset_create"), {
        "shortname": "own-herbarium", "title": "Herb", "abstract": "Sheets.", "collections": [collection.pk],
        "contact_email": "data@own.example.org", "licence": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
        "image_licence": "http://creativecommons.org/licenses/by/4.0/legalcode", "update_frequency": "asNeeded",
        "language": "en", "creators_text": "joseph hooker", "contacts_text": "Joseph Hooker"})
    assert response.status_code == 302
    dataset = Dataset.objects.get(shortname="own-herbarium")
    assert [a.name for a in dataset.creators.all()] == ["Joseph Hooker"]
    page = client.get(response["Location"]).content.decode()
    assert "The title must be at least 10 characters long." in page
    assert bad.catalog_number in page and "eventDate" in page
    assert re.search(r'<button type="submit" class="primary" disabled', page)


def test_other_institutions_and_digitisers_cannot_publish(client_for, other_institution, institution, dataset):
    outsider = client_for(Role.CURATOR, other_institution)
    assert outsider.get(reverse("publishing:dataset_publish", args=[dataset.shortname])).status_code == 404
    assert outsider.post(reverse("publishing:dataset_publish", args=[dataset.shortname])).status_code == 404
    assert client_for(Role.DIGITISER, institution).get(reverse("publishing:manage_list")).status_code == 403
    assert client_for(None).get(reverse("publishing:manage_list")).status_code == 302
    assert not DatasetVersion.objects.exists()


def test_version_page_polls_until_settled(client_for, institution, dataset, collection):
    published(collection, 1)
    version = dataset_publish(dataset=dataset)
    client = client_for(Role.CURATOR, institution)
    page = client.get(reverse("publishing:version_detail", args=[version.uuid])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "Waiting" in page
    dataset_version_build(version_id=version.pk)
    fragment = client.get(reverse("publishing:version_detail", args=[version.uuid]), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment and "Download version 1.0" in fragment
    client.post(reverse("publishing:version_detail", args=[version.uuid]), {"change_summary": "First release for GBIF."})
    version.refresh_from_db()
    assert version.change_summary == "First release for GBIF." and version.summary_edited


def test_public_pages_and_feed_take_the_same_queries_whatever_the_versions(
        two_versions, public_client, dataset, django_assert_max_num_queries):
    for name, args in (("publishing:dataset_list", []), ("publishing:dataset_detail", [dataset.shortname]),
                       ("publishing:rss", [])):
        with django_assert_max_num_queries(6):
            assert public_client.get(reverse(name, args=args)).status_code == 200
