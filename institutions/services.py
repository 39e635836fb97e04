"""Every write to institutions, collections, metrics and memberships."""

from __future__ import annotations

import datetime as dt

import pghistory
from django.db import transaction

from .models import Collection, CollectionMetric, Institution, Membership, Role

INSTITUTION_FIELDS = ("name", "city", "country", "website", "ror_id", "grscicoll_key")
COLLECTION_FIELDS = ("name", "discipline", "mids_discipline", "barcode_pattern", "grscicoll_key", "default_license")


@transaction.atomic
def institution_upsert(*, code: str, name: str, actor=None, **fields) -> Institution:
    """Create the institution `code`, or bring an existing one up to date (re-runnable seeds)."""
    values = {"name": name, **{k: v for k, v in fields.items() if k in INSTITUTION_FIELDS}}
    with pghistory.context(user=getattr(actor, "pk", None), source="service"):
        institution = Institution.objects.filter(code=code).first() or Institution(code=code)
        changed = institution._state.adding or any(getattr(institution, k) != v for k, v in values.items())
        if changed:
            for key, value in values.items():
                setattr(institution, key, value)
            institution.full_clean()
            institution.save()
    return institution


@transaction.atomic
def collection_upsert(*, institution: Institution, code: str, name: str, actor=None, **fields) -> Collection:
    values = {"name": name, **{k: v for k, v in fields.items() if k in COLLECTION_FIELDS}}
    with pghistory.context(user=getattr(actor, "pk", None), source="service"):
        collection = Collection.objects.filter(institution=institution, code=code).first() or Collection(
            institution=institution, code=code
        )
        changed = collection._state.adding or any(getattr(collection, k) != v for k, v in values.items())
        if changed:
            for key, value in values.items():
                setattr(collection, key, value)
            collection.full_clean()
            collection.save()
    return collection


def collection_metric_record(
    *,
    collection: Collection,
    measurement_type: str,
    value: int,
    derivation: str,
    measured_on: dt.date,
    source: str = "",
    source_url: str = "",
) -> CollectionMetric:
    """One measurement per collection, type, derivation and day: re-recording a day replaces it."""
    metric, _ = CollectionMetric.objects.update_or_create(
        collection=collection,
        measurement_type=measurement_type,
        derivation=derivation,
        measured_on=measured_on,
        defaults={"value": value, "source": source, "source_url": source_url},
    )
    return metric


@transaction.atomic
def membership_grant(*, user, role: str, institution: Institution | None = None, actor=None) -> Membership:
    if role == Role.PROGRAMME_MANAGER:
        institution = None
    with pghistory.context(user=getattr(actor, "pk", None), source="service"):
        membership, _ = Membership.objects.get_or_create(user=user, institution=institution, role=role)
    return membership
