"""Every write to specimens, taxa and agents. Each service owns its transaction and history label."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import pghistory
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Func, IntegerField, QuerySet
from django.utils import timezone

from collections_portal.common.errors import ConflictError
from institutions.models import Collection, CollectionMetric
from institutions.services import collection_metric_record

from .dates import EventDateError, parse_event_date
from .mids import specimen_mids_assess, specimen_mids_assess_ids
from .dwc import HIGHER_COLUMNS, HIGHER_RANKS
from .models import SENSITIVITY_ORDER, SENSITIVITY_ORDER_SQL, TAXON_PATH_STEP, Agent, Identification, Preparation, Specimen, SpecimenAgent, Taxon
from .taxonomy import taxa_ensure, taxon_ids_draw, taxon_path_segment  # noqa: F401 — taxon_path_segment: callers read it here
from .search import search_specimens_refresh, search_taxon_subtree_refresh

# Fields a curator edits directly; the rest are derived or set by workflow services.
SPECIMEN_EDITABLE_FIELDS = (
    "catalog_number", "other_catalog_numbers", "basis_of_record", "license", "rights_holder",
    "record_number", "recorded_by", "recorded_by_id", "individual_count", "sex", "life_stage",
    "preparations", "disposition", "event_date", "verbatim_event_date", "field_number", "habitat",
    "country", "country_code", "state_province", "county", "locality", "verbatim_locality",
    "water_body", "minimum_elevation_in_meters", "maximum_elevation_in_meters",
    "minimum_depth_in_meters", "maximum_depth_in_meters", "decimal_latitude", "decimal_longitude",
    "geodetic_datum", "coordinate_uncertainty_in_meters", "coordinate_precision", "location_id",
    "locality_sensitivity", "information_withheld", "data_generalizations",
    "scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status",
)
SPECIMEN_FOREIGN_KEYS = ["collection", "institution", "taxon", "created_by", "import_batch"]
IDENTIFICATION_FIELDS = ("identified_by", "date_identified", "identification_qualifier", "type_status")

CATALOG_NUMBER_TAKEN = "Catalogue number {value} is already used in collection {collection}."
CATALOG_NUMBER_REQUIRED = "Enter a catalogue number."
TAXON_UNKNOWN = "Unknown taxon '{value}'. Pick a name from the taxonomy, or add it there first."
TAXON_AMBIGUOUS = "'{value}' matches {n} taxa; choose one by its authorship."
EVENT_DATE_IN_FUTURE = "The collecting date {value} is in the future."
LATITUDE_RANGE = "Latitude must be between -90 and 90 (decimal degrees)."
LONGITUDE_RANGE = "Longitude must be between -180 and 180 (decimal degrees)."
COORDINATES_PAIR = "Enter both latitude and longitude, or neither."
VERSION_CONFLICT = "Someone else saved this record (now version {current}) after you opened version {yours}."
PUBLISH_WRONG_STATUS = "Only a draft or a record in review can be published (this one is {status})."
PUBLISH_NEEDS_NAME = "Add a scientific name before publishing."
WITHDRAW_NOT_PUBLISHED = "Only a published record can be withdrawn."
WITHDRAW_NEEDS_REASON = "Give the reason for withdrawing; it is shown on the record's tombstone page."
DELETE_ONLY_DRAFTS = "Only a draft that was never published can be deleted; withdraw a published record instead."


# --- helpers ----------------------------------------------------------------------------------


def catalog_number_normalise(value: str) -> str:
    """Matching key: upper case, no spaces, no leading zeros in numeric parts."""
    compact = re.sub(r"\s+", "", value or "").upper()
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", compact)


def occurrence_id_mint(specimen_uuid: uuid.UUID) -> str:
    return f"{settings.PUBLIC_BASE_URL}/specimen/{specimen_uuid}"


def _decimal_or_none(value):
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return "invalid"


def taxon_resolve(*, scientific_name: str) -> Taxon | None:
    """Exact name (with or without authorship), case-insensitive; accepted names first."""
    text = " ".join((scientific_name or "").split())
    if not text:
        return None
    candidates = list(Taxon.objects.filter(name__iexact=text)[:5])
    if not candidates:
        candidates = [t for t in Taxon.objects.filter(name__iexact=" ".join(text.split()[:3]))[:20]
                      if str(t).lower() == text.lower()]
        if not candidates:
            candidates = [t for t in Taxon.objects.filter(name__iexact=" ".join(text.split()[:2]))[:20]
                          if str(t).lower() == text.lower()]
    if not candidates:
        raise ValidationError({"scientific_name": TAXON_UNKNOWN.format(value=text)})
    accepted = [t for t in candidates if t.accepted_id is None]
    if len(accepted) == 1 or len(candidates) == 1:
        return (accepted or candidates)[0]
    raise ValidationError({"scientific_name": TAXON_AMBIGUOUS.format(value=text, n=len(candidates))})


def _validate_and_derive(specimen: Specimen, *, today: dt.date | None = None) -> None:
    """Field-level checks a curator can act on, then derived columns. Raises ValidationError."""
    errors: dict[str, list[str]] = {}
    specimen.catalog_number = (specimen.catalog_number or "").strip()
    if not specimen.catalog_number:
        errors.setdefault("catalog_number", []).append(CATALOG_NUMBER_REQUIRED)
    else:
        taken = Specimen.objects.filter(collection_id=specimen.collection_id, catalog_number=specimen.catalog_number)
        if specimen.pk:
            taken = taken.exclude(pk=specimen.pk)
        if taken.exists():
            errors.setdefault("catalog_number", []).append(
                CATALOG_NUMBER_TAKEN.format(value=specimen.catalog_number, collection=specimen.collection)
            )
    specimen.catalog_number_normalised = catalog_number_normalise(specimen.catalog_number)

    try:
        parsed = parse_event_date(specimen.event_date)
    except EventDateError as exc:
        errors.setdefault("event_date", []).append(str(exc))
        parsed = None
    if parsed is not None:
        if parsed.start > (today or timezone.localdate()):
            errors.setdefault("event_date", []).append(EVENT_DATE_IN_FUTURE.format(value=specimen.event_date))
        specimen.event_date_start, specimen.event_date_end = parsed.start, parsed.end
        specimen.year, specimen.month, specimen.day = parsed.year, parsed.month, parsed.day
    elif not specimen.event_date:
        specimen.event_date_start = specimen.event_date_end = None

    lat, lon = _decimal_or_none(specimen.decimal_latitude), _decimal_or_none(specimen.decimal_longitude)
    if lat == "invalid" or (lat is not None and not Decimal(-90) <= lat <= Decimal(90)):
        errors.setdefault("decimal_latitude", []).append(LATITUDE_RANGE)
    if lon == "invalid" or (lon is not None and not Decimal(-180) <= lon <= Decimal(180)):
        errors.setdefault("decimal_longitude", []).append(LONGITUDE_RANGE)
    if (lat is None) != (lon is None):
        errors.setdefault("decimal_longitude" if lon is None else "decimal_latitude", []).append(COORDINATES_PAIR)
    if errors:
        raise ValidationError(errors)
    specimen.decimal_latitude, specimen.decimal_longitude = lat, lon
    specimen.country_code = (specimen.country_code or "").upper()
    # Foreign keys come from scoped lookups already; re-checking them costs three queries per save.
    specimen.full_clean(exclude=SPECIMEN_FOREIGN_KEYS, validate_unique=False, validate_constraints=False)


def _apply(specimen: Specimen, data: dict) -> set[str]:
    unknown = set(data) - set(SPECIMEN_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in sorted(unknown)})
    changed = set()
    for name, value in data.items():
        if value is None and not Specimen._meta.get_field(name).null:
            value = ""
        if getattr(specimen, name) != value:
            setattr(specimen, name, value)
            changed.add(name)
    return changed


# --- specimens --------------------------------------------------------------------------------


@transaction.atomic
def specimen_create(*, collection: Collection, data: dict, user=None, source: str = "ui") -> Specimen:
    specimen = Specimen(collection=collection, institution_id=collection.institution_id, created_by=user)
    specimen.uuid = uuid.uuid4()
    specimen.occurrence_id = occurrence_id_mint(specimen.uuid)
    _apply(specimen, data)
    taxon = taxon_resolve(scientific_name=specimen.scientific_name) if specimen.scientific_name else None
    _set_current_name(specimen, taxon)
    _validate_and_derive(specimen)
    with pghistory.context(user=getattr(user, "pk", None), source=source, action="specimen_create"):
        specimen.save()
        if specimen.scientific_name:
            Identification.objects.create(
                specimen=specimen, taxon=taxon, verbatim_identification=specimen.scientific_name, is_current=True,
                **{f: getattr(specimen, f) for f in IDENTIFICATION_FIELDS},
            )
        specimen_agent_links_sync(specimens=[specimen], fields=AGENT_LINK_ROLES, user=user)
    specimen_mids_assess(specimens=[specimen])  # in this transaction: the saved page shows the level
    return specimen


def _set_current_name(specimen: Specimen, taxon: Taxon | None) -> None:
    specimen.taxon = taxon
    if taxon is not None:
        specimen.scientific_name = str(taxon)


def _snapshot_at_version(specimen: Specimen, version: int) -> dict | None:
    """The record as the editor loaded it, from the audit trail (pghistory writes every version)."""
    event_model = apps.get_model("specimens", "SpecimenEvent")
    return event_model.objects.filter(pgh_obj_id=specimen.pk, version=version).order_by("-pgh_id").values().first()


@transaction.atomic
def specimen_update(*, specimen: Specimen, data: dict, expected_version: int, user=None, source: str = "ui") -> Specimen:
    """Apply `data` if nobody saved since `expected_version`; else ConflictError with what changed."""
    current = Specimen.objects.select_for_update().select_related("collection__institution").get(pk=specimen.pk)
    if current.version != expected_version:
        seen = _snapshot_at_version(current, expected_version) or {}
        changed = {
            name: (seen.get(name), getattr(current, name))
            for name in SPECIMEN_EDITABLE_FIELDS
            if name in seen and seen.get(name) != getattr(current, name)
        }
        raise ConflictError(
            VERSION_CONFLICT.format(current=current.version, yours=expected_version), current=current, changed_fields=changed
        )
    changed = _apply(current, data)
    if not changed:
        return current
    new_taxon = current.taxon
    if "scientific_name" in changed:
        new_taxon = taxon_resolve(scientific_name=current.scientific_name) if current.scientific_name else None
        _set_current_name(current, new_taxon)
    _validate_and_derive(current)
    with pghistory.context(user=getattr(user, "pk", None), source=source, action="specimen_update"):
        current.version += 1
        current.save()
        if changed & {"scientific_name", *IDENTIFICATION_FIELDS}:
            _identification_make_current(current, new_taxon)
        if new_taxon is not None and new_taxon.is_provisional and current.status == Specimen.Status.PUBLISHED:
            _specimen_taxa_make_public(Specimen.objects.filter(pk=current.pk), user=user, action="specimen_update")
        specimen_agent_links_sync(specimens=[current], fields=changed & set(AGENT_LINK_ROLES), user=user)
    specimen_mids_assess(specimens=[current])
    if current.status == Specimen.Status.PUBLISHED:
        search_specimens_refresh(specimen_ids=[current.pk])  # the public search sees the edit at commit
    return current


def _identification_make_current(specimen: Specimen, taxon: Taxon | None) -> None:
    """A new determination becomes current; earlier ones stay as history, never overwritten."""
    Identification.objects.filter(specimen=specimen, is_current=True).update(is_current=False)
    if specimen.scientific_name or taxon:
        Identification.objects.create(
            specimen=specimen, taxon=taxon, verbatim_identification=specimen.scientific_name, is_current=True,
            **{f: getattr(specimen, f) for f in IDENTIFICATION_FIELDS},
        )


def _transition(specimen: Specimen, *, user, action: str, **values) -> Specimen:
    with pghistory.context(user=getattr(user, "pk", None), action=action):
        for key, value in values.items():
            setattr(specimen, key, value)
        specimen.version += 1
        specimen.save(update_fields=[*values, "version", "updated_at"])
    return specimen


@transaction.atomic
def specimen_submit_for_review(*, specimen: Specimen, user=None) -> Specimen:
    specimen = Specimen.objects.select_for_update().get(pk=specimen.pk)
    if specimen.status != Specimen.Status.DRAFT:
        raise ValidationError({"status": "Only a draft can be sent for review."})
    return _transition(specimen, user=user, action="specimen_submit_for_review", status=Specimen.Status.IN_REVIEW)


@transaction.atomic
def specimen_publish(*, specimen: Specimen, user=None) -> Specimen:
    specimen = Specimen.objects.select_for_update().get(pk=specimen.pk)
    if specimen.status not in (Specimen.Status.DRAFT, Specimen.Status.IN_REVIEW, Specimen.Status.WITHDRAWN):
        raise ValidationError({"status": PUBLISH_WRONG_STATUS.format(status=specimen.get_status_display().lower())})
    if not specimen.scientific_name:
        raise ValidationError({"scientific_name": PUBLISH_NEEDS_NAME})
    # A published record's name is public: a provisional one joins the tree with it.
    _specimen_taxa_make_public(Specimen.objects.filter(pk=specimen.pk), user=user, action="specimen_publish")
    specimen = _transition(
        specimen, user=user, action="specimen_publish",
        status=Specimen.Status.PUBLISHED, published_at=timezone.now(), withdrawn_at=None, withdrawn_reason="",
    )
    search_specimens_refresh(specimen_ids=[specimen.pk])
    return specimen


@transaction.atomic
def specimen_withdraw(*, specimen: Specimen, reason: str, user=None) -> Specimen:
    specimen = Specimen.objects.select_for_update().get(pk=specimen.pk)
    if specimen.status != Specimen.Status.PUBLISHED:
        raise ValidationError({"status": WITHDRAW_NOT_PUBLISHED})
    if not (reason or "").strip():
        raise ValidationError({"withdrawn_reason": WITHDRAW_NEEDS_REASON})
    specimen = _transition(
        specimen, user=user, action="specimen_withdraw",
        status=Specimen.Status.WITHDRAWN, withdrawn_at=timezone.now(), withdrawn_reason=reason.strip(),
    )
    search_specimens_refresh(specimen_ids=[specimen.pk])  # leaves the public search with the commit
    return specimen


@transaction.atomic
def specimen_delete(*, specimen: Specimen, user=None) -> None:
    specimen = Specimen.objects.select_for_update().get(pk=specimen.pk)
    if specimen.status != Specimen.Status.DRAFT or specimen.published_at is not None:
        raise ValidationError({"status": DELETE_ONLY_DRAFTS})
    with pghistory.context(user=getattr(user, "pk", None), action="specimen_delete"):
        specimen.delete()


@transaction.atomic
def preparation_add(*, specimen: Specimen, preparation_type: str, count: int = 1, barcode: str = "",
                    storage_location: str = "", user=None) -> Preparation:
    preparation = Preparation(
        specimen=specimen, institution_id=specimen.institution_id, preparation_type=preparation_type,
        count=count, barcode=barcode.strip(), storage_location=storage_location,
    )
    if preparation.barcode and Preparation.objects.filter(institution_id=specimen.institution_id, barcode=preparation.barcode).exists():
        raise ValidationError({"barcode": f"Barcode {preparation.barcode} is already on another preparation."})
    preparation.full_clean(validate_constraints=False)
    with pghistory.context(user=getattr(user, "pk", None), action="preparation_add"):
        preparation.save()
    specimen_mids_assess(specimens=[specimen])  # a preparation is the record's ObjectType
    if specimen.status == Specimen.Status.PUBLISHED:
        search_specimens_refresh(specimen_ids=[specimen.pk])  # its MIDS level may have moved
    return preparation


def specimen_counts_refresh(*, today: dt.date | None = None) -> int:
    """Record each collection's number of specimens in the portal as a calculated LtC metric.

    One GROUP BY over the specimen table: a nightly job, never a page request.
    """
    today = today or timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute("SELECT collection_id, count(*) FROM specimens_specimen GROUP BY collection_id")
        counts = dict(cursor.fetchall())
    collections = Collection.objects.all()
    for collection in collections:
        collection_metric_record(
            collection=collection,
            measurement_type=CollectionMetric.MeasurementType.DIGITISED,
            derivation=CollectionMetric.Derivation.CALCULATED,
            value=counts.get(collection.pk, 0),
            measured_on=today,
            source="Specimen records in this portal",
        )
    return len(counts)


# --- taxa -------------------------------------------------------------------------------------

@transaction.atomic
def taxon_create(*, name: str, rank: str = "unranked", parent: Taxon | None = None, authorship: str = "",
                 name_id: str = "", vernacular_name: str = "", provisional: bool = False, user=None) -> Taxon:
    """Insert writes exactly one row: the id is drawn first so the path is known up front.

    `provisional`: a name a specimen write brings in stays out of the public tree (taxon_accept).
    Created without it (a curator's tree work), an existing provisional node is accepted.
    """
    name = " ".join(name.split())
    existing = Taxon.objects.filter(parent=parent, name=name, authorship=authorship).first()
    if existing:
        if existing.is_provisional and not provisional:
            existing = taxon_accept(taxon=existing, user=user)
        return existing
    pk = taxon_ids_draw(1)[0]
    taxon = Taxon(
        pk=pk, parent=parent, name=name, rank=rank, authorship=authorship, name_id=name_id,
        vernacular_name=vernacular_name, path=(parent.path if parent else "") + taxon_path_segment(pk),
        depth=(parent.depth + 1) if parent else 0, is_provisional=provisional,
    )
    for field in HIGHER_COLUMNS:
        setattr(taxon, field, getattr(parent, field) if parent else "")
    if rank in HIGHER_RANKS:
        setattr(taxon, HIGHER_RANKS[rank], name)
    taxon.full_clean(validate_unique=False, validate_constraints=False)
    with pghistory.context(user=getattr(user, "pk", None), action="taxon_create"):
        taxon.save(force_insert=True)
    return taxon


@transaction.atomic
def taxon_ensure_path(*, ranks: list[tuple[str, str]], authorship: str = "", provisional: bool = False,
                      user=None) -> Taxon | None:
    """[('kingdom','Plantae'), …, ('species','Bellis perennis')] → the leaf, creating missing nodes
    through the set-based taxa_ensure (provisional ones when a specimen write brings the name in;
    otherwise the path's provisional nodes join the public tree, as taxon_create does)."""
    path = [(rank, " ".join(name.split()), "") for rank, name in ranks if name and name.split()]
    if not path:
        return None
    if ranks[-1][1] and ranks[-1][1].split():  # the authorship belongs to the leaf only
        path[-1] = (path[-1][0], path[-1][1], authorship)
    with pghistory.context(user=getattr(user, "pk", None), action="taxon_create"):
        leaf = Taxon.objects.get(pk=taxa_ensure([path], provisional=provisional, match_leaf_anywhere=False)[tuple(path)])
    if not provisional:
        leaf = taxon_accept(taxon=leaf, user=user)
    return leaf


def taxa_make_public(*, taxa: QuerySet[Taxon], user=None, action: str = "taxon_accept") -> int:
    """The provisional ones among `taxa` and their ancestors join the public tree: one UPDATE over
    the prefixes of the taxa's paths (the path index finds each), however many taxa or records.
    Returns the number of names made public."""
    leaves, params = taxa.order_by().values("path").query.sql_with_params()
    with pghistory.context(user=getattr(user, "pk", None), action=action), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE specimens_taxon t SET is_provisional = false, updated_at = now() "
            f"FROM (SELECT DISTINCT left(l.path, n.k * {TAXON_PATH_STEP}) AS prefix FROM ({leaves}) AS l(path) "
            f"CROSS JOIN generate_series(1, length(l.path) / {TAXON_PATH_STEP}) AS n(k)) p "
            "WHERE t.path = p.prefix AND t.is_provisional",
            params,
        )
        return cursor.rowcount


def _specimen_taxa_make_public(specimens: QuerySet[Specimen], *, user=None, action: str) -> int:
    """The names (and their ancestors) of `specimens`, published by this write, join the public tree."""
    return taxa_make_public(taxa=Taxon.objects.filter(pk__in=specimens.exclude(taxon=None).values("taxon_id")),
                            user=user, action=action)


@transaction.atomic
def taxon_accept(*, taxon: Taxon, user=None) -> Taxon:
    """A curator accepts a provisional name: it and its provisional ancestors join the public tree."""
    taxa_make_public(taxa=Taxon.objects.filter(pk=taxon.pk), user=user, action="taxon_accept")
    taxon.refresh_from_db()
    return taxon


@transaction.atomic
def taxon_move(*, taxon: Taxon, new_parent: Taxon | None, user=None) -> Taxon:
    """Re-hang a subtree: one UPDATE of the moved rows' paths; the rest of the tree is untouched."""
    taxon = Taxon.objects.select_for_update().get(pk=taxon.pk)
    if new_parent is not None and new_parent.path.startswith(taxon.path):
        raise ValidationError({"parent": "A taxon cannot be moved under itself or its descendants."})
    old_prefix = taxon.path
    new_prefix = (new_parent.path if new_parent else "") + old_prefix[-TAXON_PATH_STEP:]
    depth_shift = ((new_parent.depth + 1) if new_parent else 0) - taxon.depth
    with pghistory.context(user=getattr(user, "pk", None), action="taxon_move"):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE specimens_taxon SET path = %s || substr(path, %s), depth = depth + %s "
                "WHERE path LIKE %s",
                [new_prefix, len(old_prefix) + 1, depth_shift, old_prefix.replace("_", r"\_").replace("%", r"\%") + "%"],
            )
        Taxon.objects.filter(pk=taxon.pk).update(parent=new_parent)
        _taxon_subtree_sensitivity_refresh(new_prefix)  # it now inherits from its new ancestors
    search_taxon_subtree_refresh(path=new_prefix)  # higher names and generalisation of its records
    taxon.refresh_from_db()
    return taxon


def _taxon_subtree_sensitivity_refresh(path: str) -> None:
    """Work out effective_sensitivity again for every node under `path`: the strictest level set on
    the node or any ancestor. One UPDATE; the inner scan reads only the few taxa with a level set."""
    order = SENSITIVITY_ORDER_SQL
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE specimens_taxon t SET effective_sensitivity = COALESCE((
                SELECT a.locality_sensitivity FROM specimens_taxon a
                WHERE a.locality_sensitivity <> 'none' AND t.path LIKE a.path || '%%'
                ORDER BY array_position({order}, a.locality_sensitivity::text) DESC LIMIT 1), 'none')
            WHERE t.path LIKE %s
            """,
            [path.replace("_", r"\_").replace("%", r"\%") + "%"],
        )


@transaction.atomic
def taxon_sensitivity_set(*, taxon: Taxon, level: str, user=None) -> Taxon:
    """Set a taxon's own locality sensitivity; its descendants inherit it (the stricter wins)."""
    if level not in SENSITIVITY_ORDER:
        raise ValidationError({"locality_sensitivity": f"Choose one of: {', '.join(SENSITIVITY_ORDER)}."})
    taxon = Taxon.objects.select_for_update().get(pk=taxon.pk)
    with pghistory.context(user=getattr(user, "pk", None), action="taxon_sensitivity_set"):
        taxon.locality_sensitivity = level
        taxon.save(update_fields=["locality_sensitivity", "updated_at"])
        _taxon_subtree_sensitivity_refresh(taxon.path)
    search_taxon_subtree_refresh(path=taxon.path)  # its records' public coordinates change with it
    taxon.refresh_from_db()
    return taxon


# --- agents -----------------------------------------------------------------------------------


def agent_name_key(name: str) -> str:
    return re.sub(r"[^\w]+", " ", (name or "").casefold()).strip()


@transaction.atomic
def agent_get_or_create(*, name: str, orcid: str | None = None, user=None) -> Agent:
    name = " ".join((name or "").split())
    if orcid:
        found = Agent.objects.filter(orcid=orcid).first()
        if found:
            return found
    key = agent_name_key(name)
    found = Agent.objects.filter(name_key=key).order_by("id").first()
    if found:
        return found
    agent = Agent(name=name, name_key=key, orcid=orcid or None)
    agent.full_clean(validate_constraints=False)
    with pghistory.context(user=getattr(user, "pk", None), action="agent_create"):
        agent.save()
    return agent


# Name lists on the record that are also kept as ordered links to Agents (the importer does the same).
AGENT_LINK_ROLES = {"recorded_by": SpecimenAgent.Role.COLLECTOR, "identified_by": SpecimenAgent.Role.DETERMINER}
AGENT_NAME_SPLIT = re.compile(r"\s*[|;]\s*")


def agent_names_split(value: str) -> list[str]:
    """'J. Hooker | C. Darwin' → ['J. Hooker', 'C. Darwin']: the separators Darwin Core recommends."""
    return [name for name in AGENT_NAME_SPLIT.split((value or "").strip()) if name and len(name) <= 255]


def agents_ensure(names: Iterable[str]) -> dict[str, int]:
    """Written name → Agent id, matched on the folded name key (the oldest agent of a key wins, as
    in agent_get_or_create); a missing key becomes a new agent spelt as the first name given for it.

    Two statements for any number of names: one lookup, one INSERT of the new agents (an INSERT,
    not COPY, so the caller's history context reaches their insert events).
    """
    by_key: dict[str, list[str]] = {}
    for name in names:
        key = agent_name_key(name)
        if key:
            by_key.setdefault(key, []).append(name)
    found: dict[str, int] = {}
    if by_key:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT ON (name_key) name_key, id FROM specimens_agent WHERE name_key = ANY(%s) ORDER BY name_key, id",
                [list(by_key)],
            )
            found.update(cursor.fetchall())
            missing = [key for key in by_key if key not in found]
            if missing:
                cursor.execute(
                    "INSERT INTO specimens_agent (uuid, created_at, updated_at, name, name_key, agent_type) "
                    "SELECT gen_random_uuid(), now(), now(), m.name, m.name_key, %s "
                    "FROM unnest(%s::text[], %s::text[]) AS m(name, name_key) RETURNING name_key, id",
                    [Agent.AgentType.PERSON.value, [" ".join(by_key[key][0].split()) for key in missing], missing],
                )
                found.update(cursor.fetchall())
    return {name: found[key] for key, names_ in by_key.items() for name in names_}


def specimen_agent_links_sync(*, specimens, fields, user=None) -> None:
    """The collector/determiner links of `specimens` rebuilt from their name fields in `fields`.

    A few queries whatever the number of records: one per role to delete, one lookup of the
    agents, one insert for the new agents, one for the links.
    """
    fields = [f for f in AGENT_LINK_ROLES if f in fields]
    if not fields or not specimens:
        return
    names_of = {(s.pk, f): agent_names_split(getattr(s, f)) for s in specimens for f in fields}
    with pghistory.context(user=getattr(user, "pk", None), action="agent_create"):
        agents = agents_ensure(name for names in names_of.values() for name in names)
    ids = [s.pk for s in specimens]
    links = []
    for field in fields:
        SpecimenAgent.objects.filter(specimen_id__in=ids, role=AGENT_LINK_ROLES[field]).delete()
        for specimen in specimens:
            seen = set()
            for name in names_of[(specimen.pk, field)]:
                agent_id = agents.get(name)
                if agent_id and agent_id not in seen:
                    seen.add(agent_id)
                    links.append(SpecimenAgent(specimen_id=specimen.pk, agent_id=agent_id, role=AGENT_LINK_ROLES[field],
                                               order=len(seen) - 1))
    SpecimenAgent.objects.bulk_create(links)


REVERT_UNKNOWN_EVENT = "That version is not in this record's history."


@transaction.atomic
def specimen_revert(*, specimen: Specimen, event_id: int, expected_version: int, user=None) -> Specimen:
    """Restore the curated fields as they were after audit event `event_id`: a normal versioned edit."""
    event_model = apps.get_model("specimens", "SpecimenEvent")
    snapshot = event_model.objects.filter(pgh_obj_id=specimen.pk, pgh_id=event_id).values(*SPECIMEN_EDITABLE_FIELDS).first()
    if snapshot is None:
        raise ValidationError({"event": REVERT_UNKNOWN_EVENT})
    with pghistory.context(action="specimen_revert", reverted_to_event=event_id):
        return specimen_update(specimen=specimen, data=snapshot, expected_version=expected_version, user=user, source="revert")


BULK_EDITABLE_FIELDS = ("basis_of_record", "country", "country_code", "state_province", "county", "locality",
                        "recorded_by", "disposition", "preparations", "rights_holder", "license", "locality_sensitivity")


@transaction.atomic
def specimen_bulk_update_field(*, specimens, field: str, value, user=None) -> int:
    """One field to one value on many records, set-based; each row's change is in its history."""
    if field not in BULK_EDITABLE_FIELDS:
        raise ValidationError({"field": f"'{field}' cannot be changed in bulk."})
    probe = Specimen(**{field: value})
    try:
        probe.clean_fields(exclude=[f.name for f in Specimen._meta.fields if f.name != field])
    except ValidationError as exc:
        raise ValidationError({"value": exc.message_dict.get(field, exc.messages)}) from None
    from django.db.models import F

    targets = specimens.exclude(**{field: value})
    changed_ids = list(targets.values_list("pk", flat=True))
    relink = changed_ids if field in AGENT_LINK_ROLES else []
    with pghistory.context(user=getattr(user, "pk", None), action="specimen_bulk_update", source="bulk"):
        count = targets.update(**{field: value, "version": F("version") + 1, "updated_at": timezone.now()})
        if relink:
            specimen_agent_links_sync(specimens=list(Specimen.objects.filter(pk__in=relink).only("pk", field)),
                                      fields=[field], user=user)
        specimen_mids_assess_ids(specimen_ids=changed_ids)
    search_specimens_refresh(specimen_ids=changed_ids)  # drafts among them have no row: nothing written
    return count


@transaction.atomic
def specimen_bulk_publish(*, specimens, user=None) -> tuple[int, list[str]]:
    """Publish every draft or in-review record that has a name; report those refused and why."""
    from django.db.models import F

    eligible = specimens.filter(status__in=[Specimen.Status.DRAFT, Specimen.Status.IN_REVIEW]).exclude(scientific_name="")
    refused = [f"{c}: {PUBLISH_NEEDS_NAME}" for c in specimens.filter(scientific_name="").values_list("catalog_number", flat=True)[:50]]
    # Their provisional names join the public tree (one UPDATE), read before the records change state.
    _specimen_taxa_make_public(eligible, user=user, action="specimen_bulk_publish")
    published_ids = list(eligible.values_list("pk", flat=True))
    with pghistory.context(user=getattr(user, "pk", None), action="specimen_bulk_publish", source="bulk"):
        count = Specimen.objects.filter(pk__in=published_ids).update(
            status=Specimen.Status.PUBLISHED, published_at=timezone.now(), withdrawn_at=None,
            withdrawn_reason="", version=F("version") + 1, updated_at=timezone.now())
    search_specimens_refresh(specimen_ids=published_ids)
    return count, refused


@transaction.atomic
def identification_add(*, specimen: Specimen, scientific_name: str, identified_by: str = "", date_identified: str = "",
                       identification_qualifier: str = "", type_status: str = "", user=None) -> Identification:
    """A new determination becomes current; the record's name fields follow it; earlier ones stay."""
    current = Specimen.objects.select_for_update().get(pk=specimen.pk)
    taxon = taxon_resolve(scientific_name=scientific_name)
    with pghistory.context(user=getattr(user, "pk", None), action="identification_add"):
        _set_current_name(current, taxon)
        current.identified_by, current.date_identified = identified_by, date_identified
        current.identification_qualifier, current.type_status = identification_qualifier, type_status
        current.version += 1
        current.save()
        Identification.objects.filter(specimen=current, is_current=True).update(is_current=False)
        if taxon.is_provisional and current.status == Specimen.Status.PUBLISHED:
            _specimen_taxa_make_public(Specimen.objects.filter(pk=current.pk), user=user, action="identification_add")
        identification = Identification.objects.create(
            specimen=current, taxon=taxon, verbatim_identification=str(taxon), identified_by=identified_by,
            date_identified=date_identified, identification_qualifier=identification_qualifier,
            type_status=type_status, is_current=True,
        )
    specimen_mids_assess(specimens=[current])
    if current.status == Specimen.Status.PUBLISHED:
        search_specimens_refresh(specimen_ids=[current.pk])
    return identification


# --- called by imaging (DESIGN §2.1) ----------------------------------------------------------


@transaction.atomic
def specimen_media_set(*, specimen_id: int, media: list[dict]) -> None:
    """Record the images linked to a specimen, in order; imaging calls this after each link.

    `media`: [{"uuid", "order", "width", "height", "licence", "iiif_service"}]. A derived column,
    so the curator's `version` is not bumped (no false edit conflicts), but `updated_at`
    (dcterms:modified) moves because associatedMedia changed. media_count also counts the media
    links an import brought (external_media), which this never touches.
    """
    linked = Func(F("external_media"), function="jsonb_array_length", output_field=IntegerField())
    with pghistory.context(action="specimen_media_set"):
        Specimen.objects.filter(pk=specimen_id).update(media=media, media_count=linked + len(media), updated_at=timezone.now())
    specimen_mids_assess_ids(specimen_ids=[specimen_id])  # an image is the record's Media and MediaID
    search_specimens_refresh(specimen_ids=[specimen_id])  # has_image and the thumbnail (published only)
