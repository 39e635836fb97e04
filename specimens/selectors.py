"""Every named read of specimens and taxa. Staff reads are scoped to the user's institutions."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Lookup, OuterRef, Q, QuerySet
from django.http import Http404

from collections_portal.common.db import fetch_prepared
from institutions.selectors import ALL, institution_scope

from .models import Identification, Specimen, SpecimenAgent, Taxon
from .public import PUBLIC_LEVEL_COLUMN, exact_scope, public_columns_sql, public_level_join_sql

NOT_ALLOWED = {
    "edit": "Your role cannot edit records of this institution.",
    "publish": "Only a curator or collection manager can publish or withdraw records.",
    "delete": "Only a curator or collection manager can delete drafts.",
    "create": "Your role cannot add records to this institution.",
}
DIGITISER_EDITS_DRAFTS = "This record is {status}; digitisers may change drafts only — ask a curator."
ANY_STATE = frozenset(Specimen.Status.values)
DRAFTS_ONLY = frozenset({Specimen.Status.DRAFT.value})


def specimen_list_public() -> QuerySet[Specimen]:
    return Specimen.objects.filter(status=Specimen.Status.PUBLISHED)


def specimen_list_for_staff(*, user, action: str = "view") -> QuerySet[Specimen]:
    scope = institution_scope(user=user, action=action)
    qs = Specimen.objects.all()
    return qs if scope == ALL else qs.filter(institution_id__in=scope)


def specimen_list_visible(*, user) -> QuerySet[Specimen]:
    """What a caller may read: their institutions' records in any state, plus everything published."""
    visible = specimen_visible_q(user=user)
    return Specimen.objects.all() if visible is None else Specimen.objects.filter(visible)


def specimen_visible_q(*, user, through: str = "") -> Q | None:
    """specimen_list_visible's rule as a condition (None: everything), on the specimen reached
    through `through` (e.g. "specimen__"), for reads that join to specimens."""
    scope = institution_scope(user=user, action="view")
    if scope == ALL:
        return None
    visible = Q(**{f"{through}status": Specimen.Status.PUBLISHED})
    if scope:
        visible |= Q(**{f"{through}institution_id__in": sorted(scope)})
    return visible


# The API list row, in output order after the id; values typed in SQL as JSON will show them
# (uuid and time as text, coordinates as float), so no row is converted twice in Python.
LIST_PAGE_KEYS = (
    "uuid", "occurrence_id", "institution_code", "collection_code", "catalog_number", "scientific_name",
    "basis_of_record", "status", "event_date", "year", "country_code", "decimal_latitude", "decimal_longitude",
    "mids_level", "media_count", "modified",
)
_PUBLIC = public_columns_sql("s", level=f"s_public.{PUBLIC_LEVEL_COLUMN}")
# datetime.isoformat() of the UTC time Django reads: microseconds only when there are some.
_MODIFIED_SQL = ("to_char(s.updated_at AT TIME ZONE 'UTC', CASE WHEN mod(date_part('microseconds', s.updated_at)::bigint, "
                 "1000000) = 0 THEN 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"' "
                 "ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"' END)")


def _coordinate_sql(name: str, exact) -> str:
    """The stored value for viewers who may read it exactly, the public one for everyone else."""
    if exact == ALL:
        return f"s.{name}::float8"
    if not exact:
        return f"{_PUBLIC[name]}::float8"
    ids = ", ".join(str(int(i)) for i in sorted(exact))
    return f"(CASE WHEN s.institution_id IN ({ids}) THEN s.{name} ELSE {_PUBLIC[name]} END)::float8"


def specimen_list_page(*, user, after: int | None, limit: int) -> list[tuple]:
    """The unfiltered API list: (id, *LIST_PAGE_KEYS values) of up to `limit` records `user` may
    read (specimen_list_visible's rule), newest first, below the id `after`.

    The hot path of a harvester walking every page. One statement written once, not compiled by
    the ORM per request, with the public read model's SQL form for the coordinates (the record's
    level worked out once, its taxon joined once), prepared once per connection (its LIMIT inline:
    collections_portal.common.db); filtered lists go through the QuerySet instead.
    """
    scope = institution_scope(user=user, action="view")
    where, params = [], []
    if scope != ALL:
        if scope:
            where.append("(s.status = 'published' OR s.institution_id = ANY(%s))")
            params.append(sorted(scope))
        else:
            where.append("s.status = 'published'")
    if after is not None:
        where.append("s.id < %s")
        params.append(after)
    exact = exact_scope(user=user)
    statement = (
        "SELECT s.id, s.uuid::text, s.occurrence_id, i.code, c.code, s.catalog_number, s.scientific_name, "
        "s.basis_of_record, s.status, s.event_date, s.year, s.country_code, "
        f"{_coordinate_sql('decimal_latitude', exact)}, {_coordinate_sql('decimal_longitude', exact)}, "
        f"s.mids_level, s.media_count, {_MODIFIED_SQL} "
        "FROM specimens_specimen s JOIN institutions_institution i ON i.id = s.institution_id "
        "JOIN institutions_collection c ON c.id = s.collection_id "
        "LEFT JOIN specimens_taxon t ON t.id = s.taxon_id "
        f"{public_level_join_sql('s', taxon_level='t.effective_sensitivity')} "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY s.id DESC LIMIT {int(limit)}"
    )
    return fetch_prepared(statement, params)


def specimen_get_for(*, user, uuid, action: str) -> Specimen:
    """The specimen if `user` may do `action` on it: 404 if they may not see it, 403 if only see it."""
    specimen = (specimen_list_visible(user=user).select_related("collection__institution", "taxon", "mids_assessment")
                .filter(uuid=uuid).first())
    if specimen is None:
        raise Http404("No such specimen.")
    if action == "view":
        return specimen
    scope = institution_scope(user=user, action=action)
    if scope != ALL and specimen.institution_id not in scope:
        raise PermissionDenied(NOT_ALLOWED.get(action, "Not allowed."))
    if action == "edit" and specimen.status not in specimen_states_editable(user=user, institution_id=specimen.institution_id):
        raise PermissionDenied(specimen_state_refusal(status=specimen.status))
    return specimen


def _may_edit_any_state(*, user, institution_id: int) -> bool:
    scope = institution_scope(user=user, action="publish")
    return scope == ALL or institution_id in scope


def specimen_states_editable(*, user, institution_id: int) -> frozenset[str]:
    """The one rule for who may write what: the record states `user` may change at `institution_id`.

    Every write path asks it: the form and the API (specimen_get_for), bulk edits, restore, imports
    (the importer rejects the rows it refuses), undo and linking an image by hand. Those who may
    publish there (curators, collection managers, admins) change records in any state; the others
    who may edit (digitisers) change drafts only; everyone else nothing.
    """
    scope = institution_scope(user=user, action="edit")
    if scope != ALL and institution_id not in scope:
        return frozenset()
    return ANY_STATE if _may_edit_any_state(user=user, institution_id=institution_id) else DRAFTS_ONLY


def specimen_state_refusal(*, status: str) -> str:
    """Why a record in `status` is refused to someone who may change drafts only."""
    return DIGITISER_EDITS_DRAFTS.format(status=Specimen.Status(status).label.lower())


def specimen_detail_related(*, specimen: Specimen) -> dict:
    return {
        "identifications": list(
            Identification.objects.filter(specimen=specimen).select_related("taxon").order_by("-is_current", "-created_at")
        ),
        "preparations": list(specimen.preparation_items.all()),
    }


# What a curator fills in to meet each MIDS element, in our form's words (the Darwin Core term after).
MIDS_ELEMENT_TODO = {
    "PhysicalSpecimenID": "Add a catalogue number (catalogNumber)",
    "Organization": "Add the institution code (institutionCode)",
    "Name": "Add a scientific name (scientificName)",
    "ObjectType": "Add a preparation, e.g. sheet or skin (preparations)",
    "License": "Add a licence (license), or set the collection's default licence",
    "Modified": "Save the record once (modified)",
    "Chronostratigraphy": "Add a chronostratigraphic age, e.g. period or stage (earliestPeriodOrLowestSystem…)",
    "QualitativeLocation": "Add a locality or a country (locality, country)",
    "QuantitativeLocation": "Add coordinates (decimalLatitude and decimalLongitude)",
    "CollectingAgent": "Add a collector (recordedBy)",
    "DateCollected": "Add the collecting date — a year will do (eventDate)",
    "CollectingNumber": "Add the collector's number or a field number (recordNumber, fieldNumber)",
    "Media": "Add an image of the specimen",
    "StratigraphicContext": "Add the stratigraphy: formation, member or bed (formation, member, bed)",
    "GeographicalLocalityID": ("Complete the coordinates with their precision, uncertainty and datum "
                               "(coordinatePrecision, coordinateUncertaintyInMeters, geodeticDatum)"),
    "OrganizationID": "Ask an administrator to add the institution's ROR or GRSciColl identifier (institutionID)",
    "CollectingAgentID": "Link the collector to a person with an ORCID or Wikidata identifier (recordedByID)",
    "IdentifiedAsID": "Choose the name from the taxonomy, so it carries a name identifier (scientificNameID)",
    "IdentifiedByID": "Link the determiner to a person with an ORCID or Wikidata identifier (identifiedByID)",
    "MediaID": "Add an image of the specimen (a multimedia identifier)",
}


def specimen_mids_summary(*, specimen: Specimen) -> dict | None:
    """The record's stored MIDS outcome for a page: its level and, per failing element, what to fill
    in and which level that reaches (elements blocking the next level first). None if never assessed.

    Reads `specimen.mids_assessment`, which the caller's selector joined; a generalised copy keeps
    its full record's assessment, so outsiders see the level the full record earned.
    """
    assessment = specimen.mids_assessment if specimen.mids_assessment_id else None
    if assessment is None:
        return None
    blocking = set(assessment.blocking)
    todo = [
        {"element": e["element"], "level": e["level"], "reason": e.get("reason", ""),
         "blocking": e["element"] in blocking,
         "todo": f"{MIDS_ELEMENT_TODO.get(e['element'], 'Fill in ' + e['element'])} to reach MIDS-{e['level']}"}
        for e in assessment.elements if not e["pass"]
    ]
    todo.sort(key=lambda item: (not item["blocking"], item["level"]))
    return {
        "level": assessment.level,
        "next_level": assessment.level + 1 if assessment.level < 3 else None,
        "todo": todo,
        "todo_next": [item for item in todo if item["blocking"]],
        "todo_later": [item for item in todo if not item["blocking"]],
        "passed": [e for e in assessment.elements if e["pass"]],
        "mapping_set": assessment.mapping_set,
        "mapping_version": assessment.mapping_version,
    }


def taxon_list() -> QuerySet[Taxon]:
    return Taxon.objects.all()


class PathWithin(Lookup):
    """`path__within=<a node's path>`: the node and its subtree, as a byte-wise range that the
    text_pattern_ops index (taxon_path_prefix) serves even when the path comes from an outer query,
    where LIKE 'prefix%' cannot use it. Path characters are base 36, all below '~'."""

    lookup_name = "within"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs} ~>=~ {rhs} AND {lhs} ~<~ ({rhs} || '~'))", [*lhs_params, *rhs_params, *lhs_params, *rhs_params]


Taxon._meta.get_field("path").register_lookup(PathWithin)


def taxon_list_public() -> QuerySet[Taxon]:
    """The tree anyone may read: every name but the provisional ones, which a specimen write brought
    in and which stay out until a record using them is published or a curator accepts them."""
    return Taxon.objects.filter(is_provisional=False)


def taxon_list_for(*, user) -> QuerySet[Taxon]:
    """The tree `user` may read: the public names, plus the provisional names their institutions'
    records use (the name itself or one below it). Programme managers and admins see every name."""
    scope = institution_scope(user=user, action="view")
    if scope == ALL:
        return taxon_list()
    if not scope:
        return taxon_list_public()
    in_use = Specimen.objects.filter(institution_id__in=sorted(scope), taxon__path__within=OuterRef("path"))
    return Taxon.objects.filter(Q(is_provisional=False) | Exists(in_use))


TAXON_ACCEPT_NOT_ALLOWED = "Only a curator or collection manager can accept a name into the public tree."


def taxon_accept_permitted(*, user) -> bool:
    """Accepting a provisional name adds to the tree every institution shares: the import_taxa right."""
    scope = institution_scope(user=user, action="import_taxa")
    return scope == ALL or bool(scope)


def taxon_get_for(*, user, uuid) -> Taxon:
    taxon = taxon_list_for(user=user).filter(uuid=uuid).first()
    if taxon is None:
        raise Http404("No such taxon.")
    return taxon


def taxon_descendants(*, taxon: Taxon, include_self: bool = True) -> QuerySet[Taxon]:
    """One prefix range scan on the `path` index, however deep or wide the subtree."""
    qs = Taxon.objects.filter(path__startswith=taxon.path)
    return qs if include_self else qs.exclude(pk=taxon.pk)


def taxon_children(*, taxon: Taxon | None) -> QuerySet[Taxon]:
    return Taxon.objects.filter(parent=taxon).order_by("name")


def taxon_search(*, prefix: str, user, limit: int = 20) -> QuerySet[Taxon]:
    """Autocomplete: name prefix on the upper(name) text_pattern_ops index, among the names `user` may read."""
    from django.db.models.functions import Upper

    return (
        taxon_list_for(user=user).annotate(name_upper=Upper("name"))
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


def agent_search(*, prefix: str, user, limit: int = 20) -> list[str]:
    """Autocomplete: agents by name prefix (the upper(name) index), only those linked to a record
    `user` may read (specimen_list_visible's rule): one EXISTS probe of the agent's links each."""
    from django.db.models.functions import Upper

    from .models import Agent

    agents = Agent.objects.annotate(name_upper=Upper("name")).filter(name_upper__startswith=prefix.strip().upper())
    visible = specimen_visible_q(user=user, through="specimen__")
    if visible is not None:
        agents = agents.filter(Exists(SpecimenAgent.objects.filter(visible, agent=OuterRef("pk"))))
    return list(agents.order_by("name").values_list("name", flat=True)[:limit])
