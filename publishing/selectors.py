"""Every named read of publishing. Public reads show only published versions; staff reads are
scoped to the institutions where the user may publish."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from institutions.selectors import ALL, institution_scope

from .models import Dataset, DatasetVersion, DownloadRequest

PUBLISHED = DatasetVersion.Status.PUBLISHED


def _latest_published() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=OuterRef("pk"), status=PUBLISHED).order_by("-major", "-minor")


def dataset_list_public() -> QuerySet[Dataset]:
    """Datasets with at least one published version, with the latest's number and size."""
    latest = _latest_published()
    return (Dataset.objects.select_related("institution")
            .annotate(latest_major=Subquery(latest.values("major")[:1]), latest_minor=Subquery(latest.values("minor")[:1]),
                      latest_records=Subquery(latest.values("records_total")[:1]),
                      latest_published_at=Subquery(latest.values("published_at")[:1]))
            .filter(latest_major__isnull=False).order_by("title"))


def dataset_get_public(*, shortname: str) -> Dataset:
    dataset = dataset_list_public().filter(shortname=shortname).first()
    if dataset is None:
        raise Http404("No published dataset by that name.")
    return dataset


def dataset_versions_public(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset, status=PUBLISHED).order_by("-major", "-minor")


def dataset_version_public(*, dataset: Dataset, number: str | None) -> DatasetVersion:
    """The version named `number` ("1.1"), or the latest; 404 for anything else."""
    versions = dataset_versions_public(dataset=dataset)
    if number:
        major, _, minor = number.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise Http404("No such version.")
        versions = versions.filter(major=int(major), minor=int(minor))
    version = versions.first()
    if version is None:
        raise Http404("No such version.")
    return version


def rss_versions(*, limit: int = 200) -> QuerySet[DatasetVersion]:
    """The feed's items, newest first: one per published version, as the IPT writes them."""
    return (DatasetVersion.objects.filter(status=PUBLISHED).select_related("dataset__institution")
            .prefetch_related("dataset__contacts").order_by("-published_at")[:limit])


def dataset_list_for(*, user, action: str = "publish") -> QuerySet[Dataset]:
    scope = institution_scope(user=user, action=action)
    datasets = Dataset.objects.select_related("institution").prefetch_related(
        Prefetch("versions", queryset=DatasetVersion.objects.order_by("-created_at"), to_attr="recent_versions"))
    return datasets.order_by("title") if scope == ALL else datasets.filter(institution_id__in=scope).order_by("title")


def dataset_get_for(*, user, shortname: str, action: str = "publish") -> Dataset:
    dataset = dataset_list_for(user=user, action=action).filter(shortname=shortname).first()
    if dataset is None:
        raise Http404("No such dataset among yours.")
    return dataset


def dataset_version_get_for(*, user, uuid) -> DatasetVersion:
    scope = institution_scope(user=user, action="publish")
    versions = DatasetVersion.objects.select_related("dataset__institution").filter(uuid=uuid)
    if scope != ALL:
        versions = versions.filter(dataset__institution_id__in=scope)
    version = versions.first()
    if version is None:
        raise Http404("No such version among your datasets.")
    return version


def download_get(*, uuid) -> DownloadRequest:
    """Anyone holding a download's link may follow it (the link is its only key, like a ticket)."""
    download = DownloadRequest.objects.filter(uuid=uuid).first()
    if download is None:
        raise Http404("No such download.")
    return download
