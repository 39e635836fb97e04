"""Every write of publishing: datasets, their versions (built by a task), auto-publishing and
downloads of searches. Shapes: STYLE.md; the build follows imaging's image_asset_process."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import sql

from imaging.storage import storage_delete, storage_put_path
from institutions.models import Collection
from institutions.selectors import institution_scope, ALL
from specimens.models import Agent
from standards.eml import Coverage, EmlDocument, Party, eml_problems, eml_xml

from . import jobs
from .archives import archive_write
from .export import RecordScope, core_columns, coverage_query, missing_required, row_hashes_query
from .models import (
    AUTO_PUBLISH_INTERVALS, DOWNLOAD_UNSETTLED, RECORD_FILTER_KEYS, VERSION_UNSETTLED, Dataset, DatasetVersion,
    DownloadRequest,
)

logger = logging.getLogger(__name__)

DATASET_NEEDS_COLLECTION = "Choose at least one collection."
DATASET_ONE_PUBLISHER = "All of a dataset's collections must belong to one institution: a dataset has one publisher."
DATASET_NOT_YOURS = "You can define datasets only over your own institution's collections."
DATASET_UNKNOWN_FILTER = "Unknown filter {key!r}; use " + ", ".join(RECORD_FILTER_KEYS) + "."
PUBLISH_IN_PROGRESS = "This dataset is being published already; wait for that version to finish."
PUBLISH_RECORDS_TO_FIX = ("{n} record(s) lack what GBIF requires (occurrenceID, scientificName, eventDate): "
                          "fix them, then publish again.")
PUBLISH_METADATA_TO_FIX = "The metadata is not ready for GBIF: {problems}"
PUBLISH_NOTHING = "The dataset has no published records yet."
NO_CHANGE = "No change since version {number}: no new version."
RECORDS_TO_FIX_SHOWN = 200


# --- datasets -------------------------------------------------------------------------------------


def dataset_scope(dataset: Dataset) -> RecordScope:
    return RecordScope(collection_ids=list(dataset.collections.values_list("pk", flat=True)),
                       record_filter=dataset.record_filter or {})


def _dataset_check(*, user, collections: list[Collection], record_filter: dict) -> int:
    if not collections:
        raise ValidationError({"collections": DATASET_NEEDS_COLLECTION})
    institutions = {c.institution_id for c in collections}
    if len(institutions) > 1:
        raise ValidationError({"collections": DATASET_ONE_PUBLISHER})
    (institution_id,) = institutions
    scope = institution_scope(user=user, action="publish")
    if scope != ALL and institution_id not in scope:
        raise ValidationError({"collections": DATASET_NOT_YOURS})
    for key in record_filter:
        if key not in RECORD_FILTER_KEYS:
            raise ValidationError({"record_filter": DATASET_UNKNOWN_FILTER.format(key=key)})
    return institution_id


@transaction.atomic
def dataset_save(*, user, values: dict, collections: list[Collection], creators: list[Agent] = (),
                 contacts: list[Agent] = (), dataset: Dataset | None = None) -> Dataset:
    """Create or update a dataset (curators and collection managers of its institution)."""
    record_filter = {k: v for k, v in (values.pop("record_filter", None) or {}).items() if v not in ("", None, False)}
    institution_id = _dataset_check(user=user, collections=collections, record_filter=record_filter)
    dataset = dataset or Dataset(created_by=user)
    for key, value in values.items():
        setattr(dataset, key, value)
    dataset.record_filter = record_filter
    dataset.institution_id = institution_id
    if dataset.auto_publish and dataset.update_frequency in AUTO_PUBLISH_INTERVALS and not dataset.next_auto_publish_at:
        dataset.next_auto_publish_at = timezone.now() + AUTO_PUBLISH_INTERVALS[dataset.update_frequency]
    dataset.full_clean()
    dataset.save()
    dataset.collections.set(collections)
    dataset.creators.set(creators)
    dataset.contacts.set(contacts)
    return dataset


def dataset_metadata_hash(dataset: Dataset) -> str:
    """What a person may change in the metadata: a new value means a new version is due."""
    values = {name: getattr(dataset, name) for name in (
        "title", "abstract", "contact_email", "licence", "image_licence", "citation", "identifier",
        "update_frequency", "language", "record_filter")}
    values["collections"] = sorted(dataset.collections.values_list("pk", flat=True))
    values["creators"] = list(dataset.creators.order_by("pk").values_list("name", "orcid"))
    values["contacts"] = list(dataset.contacts.order_by("pk").values_list("name", "orcid"))
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def dataset_url(dataset: Dataset) -> str:
    return f"{settings.PUBLIC_BASE_URL}/publishing/datasets/{dataset.shortname}/"


def dataset_citation(dataset: Dataset, *, number: str, year: int | None = None) -> str:
    if dataset.citation.strip():
        return dataset.citation.strip()
    publisher = dataset.institution.name
    identifier = dataset.identifier or dataset_url(dataset)
    return (f"{publisher} ({year or timezone.now().year}). {dataset.title}. Version {number}. {publisher}. "
            f"Occurrence dataset {identifier}")


def _parties(agents, email: str = "") -> list[Party]:
    return [Party(name=a.name, orcid=a.orcid or "", email=email, is_organisation=a.agent_type == Agent.AgentType.ORGANISATION)
            for a in agents]


def dataset_eml(dataset: Dataset, *, number: str, coverage: Coverage | None = None, pub_date: date | None = None) -> bytes:
    publisher = Party(organisation=dataset.institution.name, email=dataset.contact_email)
    creators = _parties(dataset.creators.all()) or [publisher]
    contacts = _parties(dataset.contacts.all(), dataset.contact_email) or [publisher]
    return eml_xml(EmlDocument(
        package_id=f"{dataset.uuid}/v{number}", title=dataset.title, abstract=dataset.abstract,
        publisher=dataset.institution.name, creators=creators, contacts=contacts, metadata_providers=contacts[:1],
        pub_date=pub_date or timezone.now().date(), licence_url=dataset.licence,
        citation=dataset_citation(dataset, number=number), identifier=dataset.identifier or dataset_url(dataset),
        update_frequency=dataset.update_frequency, homepage=dataset_url(dataset), language=dataset.language,
        coverage=coverage or Coverage(),
    ))


def dataset_metadata_problems(dataset: Dataset) -> list[str]:
    """GBIF's metadata checks, run on the EML we would write (a sample coverage)."""
    return eml_problems(dataset_eml(dataset, number="1.0"))


def dataset_release_check(*, dataset: Dataset, limit: int = RECORDS_TO_FIX_SHOWN) -> dict:
    """What stops a release: metadata problems and records missing GBIF's required terms."""
    return {"metadata": dataset_metadata_problems(dataset),
            "records": missing_required(dataset_scope(dataset), limit=limit)}


# --- publishing a version -------------------------------------------------------------------------


def dataset_publish(*, dataset: Dataset, user=None, change_summary: str = "", only_if_changed: bool = False) -> DatasetVersion:
    """Queue a new version of the dataset; refused while another build of it is unsettled."""
    version = DatasetVersion(dataset=dataset, requested_by=user, change_summary=change_summary.strip(),
                             summary_edited=bool(change_summary.strip()), only_if_changed=only_if_changed,
                             queued_at=timezone.now())
    try:
        with transaction.atomic():
            version.save()
            _enqueue_build(version.pk)
    except IntegrityError as exc:
        if "dataset_version_one_build" in str(exc):
            raise ValidationError(PUBLISH_IN_PROGRESS) from exc
        raise
    return version


def _enqueue_build(version_id: int) -> None:
    from .tasks import bulk_queue, dataset_version_build_task

    transaction.on_commit(partial(dataset_version_build_task.apply_async, (version_id,), queue=bulk_queue()))


def datasets_republish(*, datasets: list[Dataset], user, change_summary: str) -> tuple[list[DatasetVersion], list[str]]:
    """One change summary for several datasets: a version queued for each (those being published
    already are listed back instead)."""
    queued, refused = [], []
    for dataset in datasets:
        try:
            queued.append(dataset_publish(dataset=dataset, user=user, change_summary=change_summary))
        except ValidationError:
            refused.append(dataset.shortname)
    return queued, refused


def datasets_auto_publish() -> int:
    """Beat: each auto-published dataset that is due gets a build that makes a version only if
    its records or metadata changed; the next check is set one update interval on."""
    now = timezone.now()
    sent = 0
    due = Dataset.objects.filter(auto_publish=True, next_auto_publish_at__lte=now,
                                 update_frequency__in=list(AUTO_PUBLISH_INTERVALS)).order_by("next_auto_publish_at")
    for dataset in due[:100]:
        try:
            dataset_publish(dataset=dataset, only_if_changed=True)
            sent += 1
        except ValidationError:
            continue  # a build is running: check again at the next beat
        Dataset.objects.filter(pk=dataset.pk).update(
            next_auto_publish_at=now + AUTO_PUBLISH_INTERVALS[dataset.update_frequency])
    return sent


def dataset_version_summary_edit(*, version: DatasetVersion, change_summary: str) -> DatasetVersion:
    version.change_summary = change_summary.strip()
    version.summary_edited = True
    version.full_clean()
    version.save(update_fields=["change_summary", "summary_edited", "updated_at"])
    return version


def _version_key(dataset: Dataset, number: str, kind: str) -> str:
    name = f"dwca-{dataset.shortname}-v{number}.zip" if kind == "zip" else f"eml-{dataset.shortname}-v{number}.xml"
    return f"datasets/{dataset.shortname}/{name}"


def _last_published(dataset: Dataset) -> DatasetVersion | None:
    return (DatasetVersion.objects.filter(dataset=dataset, status=DatasetVersion.Status.PUBLISHED)
            .order_by("-major", "-minor").first())


def _settle(lease: jobs.Lease, **values) -> None:
    with transaction.atomic():
        lease.fence(**values, updated_at=timezone.now())


def dataset_version_build(*, version_id: int) -> None:
    """The task's body: claim the version, check it, write its archive, publish it.

    Reads happen in one REPEATABLE READ snapshot (row hashes, coverage, the archive's files), so
    the manifest and the file agree. The archive is stored under its final key before the row
    says `published`, in a transaction fenced on the lease: a worker killed at any point leaves the
    row unsettled (never a visible half-written version), and the rerun writes it again.
    """
    version, owner = jobs.claim(DatasetVersion, pk=version_id, unsettled=VERSION_UNSETTLED,
                                working_status=DatasetVersion.Status.BUILDING, failed_status=DatasetVersion.Status.FAILED)
    if owner is None:
        return
    lease = jobs.Lease(DatasetVersion, version_id, owner)
    hashes = f"publish_rows_{version_id}_{version.attempts}"
    try:
        with lease.kept():
            _build(version, lease, hashes)
    except jobs.LeaseLost:
        logger.warning("publishing: version %s is run by another task now", version_id)
    except Exception as exc:  # a bug or a database error: record it, do not retry a broken build
        logger.exception("publishing: version %s failed", version_id)
        DatasetVersion.objects.filter(pk=version_id, lease_owner__in=[owner, ""]).update(
            status=DatasetVersion.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(hashes)).as_string(cursor.connection))


def _build(version: DatasetVersion, lease: jobs.Lease, hashes: str) -> None:
    dataset = Dataset.objects.select_related("institution").get(pk=version.dataset_id)
    scope = dataset_scope(dataset)
    metadata = dataset_metadata_problems(dataset)
    if metadata:
        _settle(lease, status=DatasetVersion.Status.REFUSED, problems=[], error=PUBLISH_METADATA_TO_FIX.format(
            problems=" ".join(metadata)))
        return
    to_fix = missing_required(scope, limit=RECORDS_TO_FIX_SHOWN)
    if to_fix:
        _settle(lease, status=DatasetVersion.Status.REFUSED, problems=to_fix,
                error=PUBLISH_RECORDS_TO_FIX.format(n=len(to_fix) if len(to_fix) < RECORDS_TO_FIX_SHOWN else f"{len(to_fix)}+"))
        return
    last = _last_published(dataset)
    metadata_hash = dataset_metadata_hash(dataset)
    terms = [term for term, _ in core_columns()]
    work = Path(tempfile.mkdtemp(prefix=f"publish-{version.pk}-"))
    archive_path, eml_path = work / "archive.zip", work / "eml.xml"
    try:
        outermost = not connection.in_atomic_block  # a test's transaction has its own snapshot already
        with transaction.atomic(), connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(sql.SQL("CREATE TEMP TABLE {} (specimen_id bigint PRIMARY KEY, row_hash uuid NOT NULL)")
                           .format(sql.Identifier(hashes)).as_string(cursor.connection))
            cursor.execute((sql.SQL("INSERT INTO {} ").format(sql.Identifier(hashes)) + row_hashes_query(scope))
                           .as_string(cursor.connection))
            total = cursor.rowcount
            cursor.execute(sql.SQL(
                "SELECT count(*) FILTER (WHERE m.specimen_id IS NULL), "
                "count(*) FILTER (WHERE m.row_hash <> h.row_hash), "
                "(SELECT count(*) FROM publishing_datasetrecord o WHERE o.dataset_id = {dataset} "
                " AND NOT EXISTS (SELECT 1 FROM {hashes} x WHERE x.specimen_id = o.specimen_id)) "
                "FROM {hashes} h LEFT JOIN publishing_datasetrecord m ON m.dataset_id = {dataset} AND m.specimen_id = h.specimen_id"
            ).format(dataset=sql.Literal(dataset.pk), hashes=sql.Identifier(hashes)).as_string(cursor.connection))
            added, changed, withdrawn = cursor.fetchone()
            lease.progress = {"records_total": total, "records_done": 0}
            unchanged = last is not None and not (added or changed or withdrawn) and last.metadata_hash == metadata_hash
            # Settled after this snapshot ends: the renewal thread writes the row meanwhile, and a
            # REPEATABLE READ update of it would fail to serialise.
            if not total and last is None:
                outcome = {"status": DatasetVersion.Status.REFUSED, "error": PUBLISH_NOTHING}
            elif version.only_if_changed and unchanged:
                outcome = {"status": DatasetVersion.Status.UNCHANGED, "records_total": total,
                           "change_summary": NO_CHANGE.format(number=last.number)}
            else:
                outcome = None
            if outcome is None:
                if last is None:
                    major, minor = 1, 0
                elif withdrawn or last.terms != terms:
                    major, minor = last.major + 1, 0  # the IPT's rule: removals or a new term set break harvesters
                else:
                    major, minor = last.major, last.minor + 1
                number = f"{major}.{minor}"
                coverage = _coverage(cursor, scope)
                eml = dataset_eml(dataset, number=number, coverage=coverage)
                eml_path.write_bytes(eml)

                def progress(rows: int) -> None:
                    lease.check()
                    lease.progress = {"records_total": total, "records_done": rows}

                counts = archive_write(scope=scope, path=archive_path, eml=eml, image_licence=dataset.image_licence,
                                       progress=progress)
        if outcome is not None:
            _settle(lease, **outcome)
            if outcome["status"] == DatasetVersion.Status.UNCHANGED:
                Dataset.objects.filter(pk=dataset.pk).update(auto_publish_checked_at=timezone.now(),
                                                             auto_publish_result=outcome["change_summary"])
            return
        archive_key, eml_key = _version_key(dataset, number, "zip"), _version_key(dataset, number, "eml")
        lease.check()
        size = storage_put_path(archive_key, archive_path)
        storage_put_path(eml_key, eml_path)
        if delay := getattr(settings, "PUBLISHING_BUILD_DELAY_SECONDS", 0):
            time.sleep(delay)  # only the crash test sets it: a kill lands between storing and publishing
        summary = version.change_summary if version.summary_edited else _summary(added, changed, withdrawn, total, last)
        with transaction.atomic():
            lease.fence(status=DatasetVersion.Status.PUBLISHED, major=major, minor=minor, records_total=total,
                        records_done=counts["occurrence.txt"], records_added=added, records_changed=changed,
                        records_withdrawn=withdrawn, terms=terms, metadata_hash=metadata_hash,
                        archive_key=archive_key, eml_key=eml_key, archive_bytes=size, change_summary=summary,
                        published_at=timezone.now(), updated_at=timezone.now())
            _manifest_replace(dataset.pk, hashes)
            if version.only_if_changed:
                Dataset.objects.filter(pk=dataset.pk).update(
                    auto_publish_checked_at=timezone.now(), auto_publish_result=f"Published version {number}.")
    finally:
        for path in (archive_path, eml_path):
            path.unlink(missing_ok=True)
        work.rmdir()


def _summary(added: int, changed: int, withdrawn: int, total: int, last: DatasetVersion | None) -> str:
    if last is None:
        return f"First version: {total:,} records."
    if not (added or changed or withdrawn):
        return f"Metadata updated; records unchanged since version {last.number} ({total:,} records)."
    return (f"Since version {last.number}: {added:,} records added, {changed:,} changed, {withdrawn:,} withdrawn "
            f"({total:,} records).")


def _manifest_replace(dataset_id: int, hashes: str) -> None:
    """The manifest becomes the new version's rows, set-based, in the publishing transaction."""
    with connection.cursor() as cursor:
        params = {"dataset": sql.Literal(dataset_id), "hashes": sql.Identifier(hashes)}
        cursor.execute(sql.SQL(
            "DELETE FROM publishing_datasetrecord o WHERE o.dataset_id = {dataset} "
            "AND NOT EXISTS (SELECT 1 FROM {hashes} h WHERE h.specimen_id = o.specimen_id)").format(**params)
            .as_string(cursor.connection))
        cursor.execute(sql.SQL(
            "INSERT INTO publishing_datasetrecord (dataset_id, specimen_id, row_hash) "
            "SELECT {dataset}, specimen_id, row_hash FROM {hashes} "
            "ON CONFLICT (dataset_id, specimen_id) DO UPDATE SET row_hash = EXCLUDED.row_hash "
            "WHERE publishing_datasetrecord.row_hash <> EXCLUDED.row_hash").format(**params).as_string(cursor.connection))


def _coverage(cursor, scope: RecordScope) -> Coverage:
    cursor.execute(coverage_query(scope).as_string(cursor.connection))
    _count, west, east, north, south, start, end, kingdoms, families = cursor.fetchone()
    taxa = [("kingdom", k) for k in sorted(kingdoms or [])] + [("family", f) for f in sorted(families or [])]
    return Coverage(west=float(west) if west is not None else None, east=float(east) if east is not None else None,
                    north=float(north) if north is not None else None, south=float(south) if south is not None else None,
                    start=start, end=end, taxa=taxa)


def dataset_versions_reenqueue_stale() -> int:
    """The reconciler (beat): builds whose task died, or whose message was lost, are sent again."""
    ids = jobs.stale_ids(DatasetVersion, unsettled=VERSION_UNSETTLED, patience=timedelta(minutes=30))
    from .tasks import bulk_queue, dataset_version_build_task, download_request_build_task

    for version_id in ids:
        dataset_version_build_task.apply_async((version_id,), queue=bulk_queue())
    downloads = jobs.stale_ids(DownloadRequest, unsettled=DOWNLOAD_UNSETTLED, patience=timedelta(minutes=30))
    for download_id in downloads:
        download_request_build_task.apply_async((download_id,), queue=bulk_queue())
    return len(ids) + len(downloads)


def dataset_version_delete_files(version: DatasetVersion) -> None:
    storage_delete(version.archive_key)
    storage_delete(version.eml_key)
