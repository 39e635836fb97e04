"""Downloads of a public search, as CSV or as a Darwin Core Archive: the same rows as the search
page (specimens.search builds the condition over SpecimenSearch), written through the same
public read model and writer as dataset versions, by a task under a lease, kept for a set time.

CSV is for spreadsheets, so text that a spreadsheet would run as a formula (a leading =, +, -
or @) gets a leading apostrophe; numbers and the DwC-A are left as they are (DESIGN §8).
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from psycopg import ClientCursor, sql

from imaging.storage import storage_delete, storage_put_path
from specimens.search import SearchInputError, search_params_parse, search_where_sql
from standards.eml import EmlDocument, Party, eml_xml

from . import jobs
from .archives import FLUSH_BYTES, archive_write
from .export import NUMERIC_TERMS, RecordScope, _base, core_columns
from .models import DOWNLOAD_UNSETTLED, Dataset, DatasetVersion, DownloadRequest, Licence

logger = logging.getLogger(__name__)

DOWNLOAD_FORMAT_UNKNOWN = "Choose CSV or Darwin Core Archive."
FORMULA_STARTS = ("=", "+", "-", "@")


def keep_for() -> timedelta:
    return timedelta(days=getattr(settings, "DOWNLOAD_KEEP_DAYS", 7))


def download_request_create(*, params, format: str, user=None) -> DownloadRequest:
    """Check the search's parameters as the search page does, then queue the download."""
    if format not in DownloadRequest.Format.values:
        raise ValidationError(DOWNLOAD_FORMAT_UNKNOWN)
    try:
        parsed = search_params_parse(params)
    except SearchInputError as exc:
        raise ValidationError(exc.message) from exc
    with transaction.atomic():
        download = DownloadRequest.objects.create(format=format, params={"items": parsed.query_items()},
                                                  requested_by=user, queued_at=timezone.now())
        from .tasks import bulk_queue, download_request_build_task

        transaction.on_commit(partial(download_request_build_task.apply_async, (download.pk,), queue=bulk_queue()))
    return download


def search_scope(items: list) -> RecordScope:
    """The records a search names, as a condition over the export's specimen alias `s`."""
    query: dict[str, list[str]] = {}
    for name, value in items:
        query.setdefault(name, []).append(value)
    where, values = search_where_sql(search_params_parse(query), alias="r")
    with connection.cursor() as cursor:
        bound = ClientCursor(cursor.connection).mogrify(where, values)
    condition = sql.Composed([sql.SQL("s.id IN (SELECT r.specimen_id FROM specimens_specimensearch r WHERE "),
                              sql.SQL(bound), sql.SQL(")")])
    return RecordScope(condition=condition)


def csv_query(scope: RecordScope) -> sql.Composed:
    columns = []
    for term, expression in core_columns():
        if term not in NUMERIC_TERMS:
            starts = ", ".join("'" + c + "'" for c in FORMULA_STARTS)
            expression = f"(CASE WHEN left({expression}, 1) IN ({starts}) THEN '''' || {expression} ELSE {expression} END)"
        columns.append(sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(term.rpartition(":")[2])))
    return sql.SQL("SELECT {} ").format(sql.SQL(", ").join(columns)) + _base(scope)


def csv_write(*, scope: RecordScope, path: Path, progress=None) -> int:
    """RFC 4180 CSV with a header line, streamed from COPY; returns the rows written."""
    query = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(csv_query(scope))
    rows, buffer = -1, bytearray()
    with open(path, "wb") as out, connection.cursor() as cursor:
        with cursor.cursor.copy(query) as copy:
            for chunk in copy:
                buffer += chunk
                rows += 1
                if len(buffer) >= FLUSH_BYTES:
                    out.write(buffer)
                    buffer.clear()
                if progress and rows % 10_000 == 0:
                    progress(rows)
        out.write(buffer)
    return max(rows, 0)


def download_citation(*, collection_counts: list[tuple[int, int]], download: DownloadRequest) -> str:
    """One line naming the datasets (or, outside any dataset, the collections) the rows come from."""
    collection_ids = [cid for cid, _ in collection_counts]
    cited, covered = [], set()
    datasets = (Dataset.objects.filter(collections__in=collection_ids, versions__status=DatasetVersion.Status.PUBLISHED)
                .select_related("institution").prefetch_related("collections").distinct().order_by("title"))
    for dataset in datasets:
        latest = dataset.versions.filter(status="published").order_by("-major", "-minor").first()
        from .services import dataset_citation

        cited.append(dataset_citation(dataset, number=latest.number, year=latest.published_at.year))
        covered.update(c.pk for c in dataset.collections.all())
    from institutions.models import Collection

    for collection in Collection.objects.filter(pk__in=set(collection_ids) - covered).select_related("institution"):
        cited.append(f"{collection.institution.name}: {collection.name} ({collection.full_code})")
    total = sum(n for _, n in collection_counts)
    url = settings.PUBLIC_BASE_URL + f"/publishing/downloads/{download.uuid}/"
    return (f"Occurrence download {url} ({total:,} records, {timezone.now():%d %B %Y}), from: "
            + ("; ".join(cited) if cited else "no records") + ".")


def download_request_build(*, download_id: int) -> None:
    download, owner = jobs.claim(DownloadRequest, pk=download_id, unsettled=DOWNLOAD_UNSETTLED,
                                 working_status=DownloadRequest.Status.BUILDING, failed_status=DownloadRequest.Status.FAILED)
    if owner is None:
        return
    lease = jobs.Lease(DownloadRequest, download_id, owner)
    try:
        with lease.kept():
            _build(download, lease)
    except jobs.LeaseLost:
        logger.warning("publishing: download %s is run by another task now", download_id)
    except Exception as exc:
        logger.exception("publishing: download %s failed", download_id)
        DownloadRequest.objects.filter(pk=download_id, lease_owner__in=[owner, ""]).update(
            status=DownloadRequest.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])


def _build(download: DownloadRequest, lease: jobs.Lease) -> None:
    scope = search_scope(download.params.get("items", []))
    work = Path(tempfile.mkdtemp(prefix=f"download-{download.pk}-"))
    path = work / ("download.csv" if download.format == "csv" else "download.zip")
    try:
        with connection.cursor() as cursor:
            cursor.execute((sql.SQL("SELECT s.collection_id, count(*) ") + _base(scope)
                            + sql.SQL(" GROUP BY s.collection_id ORDER BY 2 DESC")).as_string(cursor.connection))
            counts = cursor.fetchall()
        total = sum(n for _, n in counts)
        citation = download_citation(collection_counts=counts, download=download)
        lease.progress = {"records_total": total, "records_done": 0}

        def progress(rows: int) -> None:
            lease.check()
            lease.progress = {"records_total": total, "records_done": rows}

        if download.format == DownloadRequest.Format.CSV:
            rows = csv_write(scope=scope, path=path, progress=progress)
        else:
            rows = archive_write(scope=scope, path=path, eml=_download_eml(download, citation),
                                 image_licence=Licence.CC_BY.value, progress=progress)["occurrence.txt"]
        key = f"downloads/{download.uuid}/{path.name}"
        size = storage_put_path(key, path)
        with transaction.atomic():
            lease.fence(status=DownloadRequest.Status.READY, file_key=key, file_bytes=size, records_total=total,
                        records_done=rows, citation=citation, finished_at=timezone.now(),
                        expires_at=timezone.now() + keep_for())
    finally:
        path.unlink(missing_ok=True)
        work.rmdir()


def _download_eml(download: DownloadRequest, citation: str) -> bytes:
    portal = Party(organisation=settings.SITE_NAME)
    return eml_xml(EmlDocument(
        package_id=f"{download.uuid}/v1.0", title=f"Occurrence download {download.uuid}",
        abstract="Published specimen records matching a search of the collections portal. " + citation,
        publisher=settings.SITE_NAME, creators=[portal], contacts=[portal], metadata_providers=[portal],
        pub_date=timezone.now().date(), licence_url=Licence.CC_BY.value, citation=citation,
        identifier=settings.PUBLIC_BASE_URL + f"/publishing/downloads/{download.uuid}/", update_frequency="notPlanned",
    ))


def downloads_expire() -> int:
    """Beat: remove the files of downloads past their time; the page then says so."""
    expired = 0
    for download in DownloadRequest.objects.filter(status=DownloadRequest.Status.READY, expires_at__lte=timezone.now())[:500]:
        storage_delete(download.file_key)
        DownloadRequest.objects.filter(pk=download.pk, status=DownloadRequest.Status.READY).update(
            status=DownloadRequest.Status.EXPIRED, file_key="")
        expired += 1
    return expired
