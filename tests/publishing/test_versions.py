"""Versions: numbered major.minor, change summaries, refusals, auto-publish only on change, one
build per dataset at a time, and a killed build that never shows a half-written version."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from publishing.models import Dataset, DatasetRecord, DatasetVersion
from publishing.services import (
    PUBLISH_IN_PROGRESS, dataset_publish, dataset_save, dataset_version_build, datasets_auto_publish,
    datasets_republish,
)
from specimens.models import Specimen
from tests.conftest import ROOT, worker_database_url

from .conftest import archive_read, published

DWC = "http://rs.tdwg.org/dwc/terms/"


def publish(dataset, **kwargs) -> DatasetVersion:
    version = dataset_publish(dataset=dataset, **kwargs)
    dataset_version_build(version_id=version.pk)
    version.refresh_from_db()
    return version


@pytest.mark.django_db
def test_publish_edit_publish_then_auto_publish_without_change_makes_no_version(
        dataset, collection, curator, django_capture_on_commit_callbacks):
    records = published(collection, 3)
    Dataset.objects.filter(pk=dataset.pk).update(auto_publish=True, update_frequency="daily")
    with django_capture_on_commit_callbacks() as callbacks:
        first = dataset_publish(dataset=dataset, user=curator)
    assert len(callbacks) == 1  # the build is queued at commit, not before
    dataset_version_build(version_id=first.pk)
    first.refresh_from_db()
    assert (first.status, first.number, first.records_added, first.records_total) == ("published", "1.0", 3, 3)
    assert first.archive_key == "datasets/own-botany/dwca-own-botany-v1.0.zip"
    assert first.change_summary == "First version: 3 records."
    assert len(archive_read(default_storage.path(first.archive_key))["core"]) == 3

    Specimen.objects.filter(pk=records[0].pk).update(locality="Changed", updated_at=timezone.now())
    published(collection, 1)
    second = publish(dataset, user=curator)
    assert (second.number, second.records_added, second.records_changed, second.records_withdrawn) == ("1.1", 1, 1, 0)
    assert second.change_summary == "Since version 1.0: 1 records added, 1 changed, 0 withdrawn (4 records)."
    rows = archive_read(default_storage.path(second.archive_key))["core"]
    assert {r[DWC + "locality"] for r in rows} == {"Changed", ""}
    assert default_storage.exists(first.archive_key)  # every version's file is kept

    Dataset.objects.filter(pk=dataset.pk).update(next_auto_publish_at=timezone.now() - timedelta(minutes=1))
    assert datasets_auto_publish() == 1
    check = DatasetVersion.objects.get(dataset=dataset, only_if_changed=True)
    dataset_version_build(version_id=check.pk)
    check.refresh_from_db()
    dataset.refresh_from_db()
    assert check.status == "unchanged" and check.number == ""
    assert dataset.auto_publish_result == "No change since version 1.1: no new version."
    assert dataset.next_auto_publish_at > timezone.now() + timedelta(hours=23)
    assert DatasetVersion.objects.filter(dataset=dataset, status="published").count() == 2

    # A metadata edit alone is a change too.
    dataset.title = "Own Museum botany: herbarium sheets"
    dataset.save()
    assert publish(dataset, only_if_changed=True).number == "1.2"

    # A withdrawal makes a new major version, as the IPT does.
    Specimen.objects.filter(pk=records[1].pk).update(status=Specimen.Status.WITHDRAWN)
    third = publish(dataset)
    assert (third.number, third.records_withdrawn, third.records_total) == ("2.0", 1, 3)
    assert DatasetRecord.objects.filter(dataset=dataset).count() == 3


@pytest.mark.django_db
def test_release_is_refused_with_the_records_to_fix(dataset, collection):
    published(collection, 1)
    (bad,) = published(collection, 1, event_date="", scientific_name="")
    version = publish(dataset)
    assert version.status == "refused" and version.number == ""
    assert version.problems == [{"uuid": str(bad.uuid), "catalog_number": bad.catalog_number,
                                 "missing": ["scientificName", "eventDate"]}]
    assert "1 record(s) lack what GBIF requires" in version.error
    assert not DatasetVersion.objects.filter(status="published").exists()


@pytest.mark.django_db
def test_metadata_gbif_would_refuse_stops_the_release(dataset, collection):
    published(collection, 1)
    Dataset.objects.filter(pk=dataset.pk).update(title="Plants")
    dataset.refresh_from_db()
    version = publish(dataset)
    assert version.status == "refused" and "at least 10 characters" in version.error


@pytest.mark.django_db
def test_a_second_publish_while_one_is_building_is_refused(dataset, collection):
    published(collection, 1)
    dataset_publish(dataset=dataset)
    with pytest.raises(ValidationError, match=PUBLISH_IN_PROGRESS):
        dataset_publish(dataset=dataset)
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


@pytest.mark.django_db
def test_version_numbers_never_collide_in_the_database(dataset):
    DatasetVersion.objects.create(dataset=dataset, status="published", major=1, minor=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        DatasetVersion.objects.create(dataset=dataset, status="published", major=1, minor=0)


@pytest.mark.django_db
def test_republish_several_datasets_with_one_summary(dataset, collection, curator):
    from tests.factories.institutions import CollectionFactory

    zoology = CollectionFactory(institution=collection.institution, code="ZOO", name="Zoology")
    published(collection, 1)
    published(zoology, 2)
    other = dataset_save(user=curator, collections=[zoology], values={
        "shortname": "own-zoology", "title": "Own Museum zoology specimens", "abstract": "Spirit collection.",
        "contact_email": "data@own.example.org"})
    dataset_publish(dataset=other)  # being built: listed back, not queued twice
    queued, refused = datasets_republish(datasets=[dataset, other], user=curator, change_summary="Annual refresh")
    assert [v.dataset.shortname for v in queued] == ["own-botany"] and refused == ["own-zoology"]
    dataset_version_build(version_id=queued[0].pk)
    queued[0].refresh_from_db()
    assert (queued[0].number, queued[0].change_summary) == ("1.0", "Annual refresh")


@pytest.mark.django_db(transaction=True)
def test_a_build_killed_after_storing_leaves_no_visible_version_and_a_rerun_completes(dataset, collection, monkeypatch):
    # The build runs in the process this test kills; a session's Celery worker (started by an
    # earlier test) must not also take the queued message and publish the version first.
    monkeypatch.setattr("publishing.services._enqueue_build", lambda version_id: None)
    published(collection, 5)
    final = "datasets/own-botany/dwca-own-botany-v1.0.zip"
    if default_storage.exists(final):  # left by an earlier test of this run
        default_storage.delete(final)
    version = dataset_publish(dataset=dataset)
    env = {**os.environ, "DATABASE_URL": worker_database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "DJANGO_SETTINGS_MODULE": "tests.publishing.worker_settings"}
    code = ("import django; django.setup(); from publishing.services import dataset_version_build; "
            f"dataset_version_build(version_id={version.pk})")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not default_storage.exists(final):  # stored under its final key, not yet published
            assert process.poll() is None, "the build exited before the kill"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    version.refresh_from_db()
    assert version.status == "building" and version.number == "" and version.attempts == 1
    assert not DatasetVersion.objects.filter(dataset=dataset, status="published").exists()
    assert not DatasetRecord.objects.filter(dataset=dataset).exists()

    dataset_version_build(version_id=version.pk)  # the lease is still live: nothing happens
    version.refresh_from_db()
    assert version.status == "building"
    DatasetVersion.objects.filter(pk=version.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    dataset_version_build(version_id=version.pk)
    version.refresh_from_db()
    assert (version.status, version.number, version.attempts) == ("published", "1.0", 2)
    assert len(archive_read(default_storage.path(final))["core"]) == 5
    assert DatasetRecord.objects.filter(dataset=dataset).count() == 5


@pytest.mark.worker
def test_a_real_worker_publishes_a_queued_version(transactional_db, celery_worker_process, dataset, collection):
    published(collection, 4)
    version = dataset_publish(dataset=dataset)  # committed: the bulk queue gets it at once
    deadline = time.monotonic() + 60
    while version.status not in ("published", "refused", "failed"):
        assert time.monotonic() < deadline, f"still {version.status} after 60 s"
        time.sleep(0.3)
        version.refresh_from_db()
    assert (version.status, version.number, version.records_total, version.attempts) == ("published", "1.0", 4, 1)
    assert version.lease_owner == "" and version.lease_expires_at is None


@pytest.mark.django_db(transaction=True)
def test_two_publishes_at_the_same_moment_leave_one_build(dataset, collection):
    import threading

    from django.db import connection

    published(collection, 1)
    barrier, outcomes = threading.Barrier(2), []

    def publish_now():
        try:
            barrier.wait()
            dataset_publish(dataset=dataset)
            outcomes.append("queued")
        except ValidationError as exc:
            outcomes.append(exc.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=publish_now) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == sorted(["queued", PUBLISH_IN_PROGRESS])
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


@pytest.mark.django_db
def test_a_build_that_keeps_dying_fails_with_a_reason_and_stale_builds_are_found(dataset, collection):
    from publishing import jobs

    published(collection, 1)
    version = dataset_publish(dataset=dataset)
    DatasetVersion.objects.filter(pk=version.pk).update(status="building", attempts=3, queued_at=timezone.now() - timedelta(minutes=5),
                                                        lease_expires_at=timezone.now() - timedelta(minutes=1))
    assert jobs.stale_ids(DatasetVersion, unsettled=["queued", "building"], patience=timedelta(minutes=30)) == [version.pk]
    assert jobs.stale_ids(DatasetVersion, unsettled=["queued", "building"], patience=timedelta(minutes=30)) == []  # sent once per lapse
    dataset_version_build(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "failed" and "stopped 3 times" in version.error
    assert not DatasetVersion.objects.filter(status="published").exists()
