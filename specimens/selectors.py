"""Every named read of specimens and taxa. Staff reads are scoped to the user's institutions."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from institutions.selectors import ALL, institution_scope

from .models import Identification, Specimen, Taxon

NOT_ALLOWED = {
    "edit": "Your role cannot edit records of this institution.",
    "publish": "Only a curator or collection manager can publish or withdraw records.",
    "delete": "Only a curator or collection manager can delete drafts.",
    "create": "Your role cannot add records to this institution.",
}
DIGITISER_EDITS_DRAFTS = "Digitisers edit drafts only; ask a curator to change a record in review or published."


def specimen_list_public() -> QuerySet[Specimen]:
    return Specimen.objects.filter(status=Specimen.Status.PUBLISHED)


def specimen_list_for_staff(*, user, action: str = "view") -> QuerySet[Specimen]:
    scope = institution_scope(user=user, action=action)
    qs = Specimen.objects.all()
    return qs if scope == ALL else qs.filter(institution_id__in=scope)


def specimen_list_visible(*, user) -> QuerySet[Specimen]:
    """What a caller may read: their institutions' records in any state, plus everything published."""
    scope = institution_scope(user=user, action="view")
    if scope == ALL:
        return Specimen.objects.all()
    if not scope:
        return specimen_list_public()
    return Specimen.objects.filter(Q(institution_id__in=scope) | Q(status=Specimen.Status.PUBLISHED))


def specimen_get_for(*, user, uuid, action: str) -> Specimen:
    """The specimen if `user` may do `action` on it: 404 if they may not see it, 403 if only see it."""
    specimen = specimen_list_visible(user=user).select_related("collection__institution", "taxon").filter(uuid=uuid).first()
    if specimen is None:
        raise Http404("No such specimen.")
    if action == "view":
        return specimen
    scope = institution_scope(user=user, action=action)
    if scope != ALL and specimen.institution_id not in scope:
        raise PermissionDenied(NOT_ALLOWED.get(action, "Not allowed."))
    if action == "edit" and not _may_edit_any_state(user=user, institution_id=specimen.institution_id):
        if specimen.status != Specimen.Status.DRAFT:
            raise PermissionDenied(DIGITISER_EDITS_DRAFTS)
    return specimen


def _may_edit_any_state(*, user, institution_id: int) -> bool:
    scope = institution_scope(user=user, action="publish")
    return scope == ALL or institution_id in scope


def specimen_detail_related(*, specimen: Specimen) -> dict:
    return {
        "identifications": list(
            Identification.objects.filter(specimen=specimen).select_related("taxon").order_by("-is_current", "-created_at")
        ),
        "preparations": list(specimen.preparation_items.all()),
    }


def taxon_list() -> QuerySet[Taxon]:
    return Taxon.objects.all()


def taxon_descendants(*, taxon: Taxon, include_self: bool = True) -> QuerySet[Taxon]:
    """One prefix range scan on the `path` index, however deep or wide the subtree."""
    qs = Taxon.objects.filter(path__startswith=taxon.path)
    return qs if include_self else qs.exclude(pk=taxon.pk)


def taxon_children(*, taxon: Taxon | None) -> QuerySet[Taxon]:
    return Taxon.objects.filter(parent=taxon).order_by("name")


def taxon_search(*, prefix: str, limit: int = 20) -> QuerySet[Taxon]:
    """Autocomplete: name prefix on the upper(name) text_pattern_ops index."""
    from django.db.models.functions import Upper

    return (
        Taxon.objects.annotate(name_upper=Upper("name"))
        .filter(name_upper__startswith=prefix.strip().upper())
        .order_by("name")[:limit]
    )


# --- history ------------------------------------------------------------------------------------

HISTORY_FIELDS = ("status", "version", "collection_id", "taxon_id", "withdrawn_reason")


def specimen_history(*, specimen: Specimen, limit: int = 200) -> list[dict]:
    """Every audit event of the record, newest first, each with who, when and old → new per field.

    Reads the pghistory event table (written by triggers, so bulk updates and imports appear too)
    and diffs each snapshot against the one before it. Two queries whatever the length.
    """
    from django.apps import apps
    from django.contrib.auth import get_user_model

    from .services import SPECIMEN_EDITABLE_FIELDS

    event_model = apps.get_model("specimens", "SpecimenEvent")
    fields = (*SPECIMEN_EDITABLE_FIELDS, *HISTORY_FIELDS)
    events = list(
        event_model.objects.filter(pgh_obj_id=specimen.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
        .values("pgh_id", "pgh_created_at", "pgh_label", "pgh_context__metadata", *fields)
    )
    user_ids = {(e["pgh_context__metadata"] or {}).get("user") for e in events} - {None}
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    history, previous = [], None
    for event in events:
        meta = event["pgh_context__metadata"] or {}
        changes = []
        if previous is not None:
            changes = [(name, previous[name], event[name]) for name in fields
                       if name != "version" and previous[name] != event[name]]
        history.append({
            "id": event["pgh_id"], "at": event["pgh_created_at"], "label": event["pgh_label"],
            "version": event["version"], "user": names.get(meta.get("user"), "system" if not meta.get("user") else f"user {meta.get('user')}"),
            # A "before_import" event is the record as it was when an import first rewrote it.
            "action": "before_import" if event["pgh_label"] == "before_import" else meta.get("action") or event["pgh_label"],
            "source": meta.get("source", ""),
            "changes": changes, "snapshot": {name: event[name] for name in SPECIMEN_EDITABLE_FIELDS},
        })
        previous = event
    history.reverse()
    return history[:limit]


def agent_search(*, prefix: str, limit: int = 20) -> list[str]:
    from django.db.models.functions import Upper

    from .models import Agent

    return list(
        Agent.objects.annotate(name_upper=Upper("name")).filter(name_upper__startswith=prefix.strip().upper())
        .order_by("name").values_list("name", flat=True)[:limit]
    )
