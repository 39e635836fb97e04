"""Who may do what where. Every staff read and write is scoped through these functions."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import OuterRef, QuerySet, Subquery

from .models import Collection, CollectionMetric, Institution, Membership, Role

ALL = "all"  # scope marker: every institution

# The roles that may do each action at their own institutions. Programme managers only read,
# everywhere; superusers may do everything everywhere.
ACTION_ROLES: dict[str, set[str]] = {
    "view": {Role.DIGITISER, Role.CURATOR, Role.COLLECTION_MANAGER},
    # Exact sensitive localities (specimens.public): the owning institution's staff only. Unlike
    # "view", a programme manager's read-everything scope does not extend to them.
    "view_exact": {Role.DIGITISER, Role.CURATOR, Role.COLLECTION_MANAGER},
    "create": {Role.DIGITISER, Role.CURATOR, Role.COLLECTION_MANAGER},
    "edit": {Role.DIGITISER, Role.CURATOR, Role.COLLECTION_MANAGER},
    "publish": {Role.CURATOR, Role.COLLECTION_MANAGER},
    "delete": {Role.CURATOR, Role.COLLECTION_MANAGER},
    "manage": {Role.COLLECTION_MANAGER},
    # The taxonomic tree is shared by every institution: a curator anywhere may add names to it.
    "import_taxa": {Role.CURATOR, Role.COLLECTION_MANAGER},
}
ACTIONS = tuple(ACTION_ROLES)
# Where memberships_for keeps a user object's memberships (institutions.backends fills it on sign-in reads).
MEMBERSHIPS_ATTR = "_portal_memberships"


def memberships_for(*, user) -> list[tuple[int | None, str]]:
    """(institution_id, role) pairs, read once per user object (a signed-in request's user arrives
    with them: institutions.backends)."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, MEMBERSHIPS_ATTR, None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user).values_list("institution_id", "role"))
        setattr(user, MEMBERSHIPS_ATTR, cached)
    return cached


def institution_scope(*, user, action: str) -> str | set[int]:
    """ALL, or the ids of the institutions where `user` may do `action` (empty set: nowhere)."""
    if action not in ACTION_ROLES:
        raise ValueError(f"unknown action {action!r}")
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return ALL
    memberships = memberships_for(user=user)
    if action == "view" and any(role == Role.PROGRAMME_MANAGER for _, role in memberships):
        return ALL
    roles = ACTION_ROLES[action]
    return {inst for inst, role in memberships if role in roles and inst is not None}


def is_staff_member(*, user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or memberships_for(user=user)))


def roles_for(*, user, institution_id: int) -> set[str]:
    return {role for inst, role in memberships_for(user=user) if inst == institution_id}


def scope_filter(queryset: QuerySet, *, user, action: str, field: str = "institution_id") -> QuerySet:
    scope = institution_scope(user=user, action=action)
    if scope == ALL:
        return queryset
    return queryset.filter(**{f"{field}__in": scope})


def institution_list() -> QuerySet[Institution]:
    return Institution.objects.order_by("name")


def institution_list_for(*, user, action: str = "view") -> QuerySet[Institution]:
    return scope_filter(institution_list(), user=user, action=action, field="id")


def collection_list() -> QuerySet[Collection]:
    return Collection.objects.select_related("institution").order_by("institution__code", "code")


def collection_list_for(*, user, action: str) -> QuerySet[Collection]:
    return scope_filter(collection_list(), user=user, action=action)


def collection_get_by_full_code(*, full_code: str) -> Collection:
    """`NHMUK:BOT` → the collection; raises Collection.DoesNotExist with a readable message."""
    institution_code, sep, code = full_code.partition(":")
    if not sep or not institution_code or not code:
        raise Collection.DoesNotExist(f"'{full_code}' is not of the form INSTITUTION:COLLECTION, e.g. NHMUK:BOT.")
    collection = collection_list().filter(institution__code=institution_code.upper(), code=code.upper()).first()
    if collection is None:
        raise Collection.DoesNotExist(f"No collection '{full_code}'. Codes are listed by `manage.py list_collections`.")
    return collection


def _latest_metric(measurement_type: str, derivation: str | None = None) -> Subquery:
    metrics = CollectionMetric.objects.filter(collection=OuterRef("pk"), measurement_type=measurement_type)
    if derivation:
        metrics = metrics.filter(derivation=derivation)
    return Subquery(metrics.order_by("-measured_on").values("value")[:1])


def collection_progress_list() -> QuerySet[Collection]:
    """Collections with their latest estimated size, reported and calculated digitised counts.

    Reads only CollectionMetric rows (one small index probe per collection), never the specimens.
    """
    return collection_list().annotate(
        estimated_objects=_latest_metric(CollectionMetric.MeasurementType.ESTIMATED_OBJECTS),
        digitised_reported=_latest_metric(CollectionMetric.MeasurementType.DIGITISED, CollectionMetric.Derivation.REPORTED),
        records_in_portal=_latest_metric(CollectionMetric.MeasurementType.DIGITISED, CollectionMetric.Derivation.CALCULATED),
    )


def institution_progress_list() -> list[dict]:
    """One row per institution: estimated objects, reported digitised, records in the portal."""
    rows: dict[int, dict] = {}
    for c in collection_progress_list():
        inst = c.institution
        row = rows.setdefault(inst.pk, {
            "institution": inst, "collections": 0, "estimated_objects": 0,
            "digitised_reported": 0, "records_in_portal": 0, "source": "",
        })
        row["collections"] += 1
        row["estimated_objects"] += c.estimated_objects or 0
        row["digitised_reported"] += c.digitised_reported or 0
        row["records_in_portal"] += c.records_in_portal or 0
    result = sorted(rows.values(), key=lambda r: -r["estimated_objects"])
    for row in result:
        est = row["estimated_objects"]
        digitised = max(row["digitised_reported"], row["records_in_portal"])
        row["digitised"] = digitised
        row["percent"] = round(100 * digitised / est, 1) if est else None
    return result


def programme_totals(rows: list[dict]) -> dict:
    est = sum(r["estimated_objects"] for r in rows)
    dig = sum(r["digitised"] for r in rows)
    return {
        "institutions": len(rows),
        "collections": sum(r["collections"] for r in rows),
        "estimated_objects": est,
        "digitised": dig,
        "records_in_portal": sum(r["records_in_portal"] for r in rows),
        "percent": round(100 * dig / est, 1) if est else None,
    }


