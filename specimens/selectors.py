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
