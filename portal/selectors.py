"""The museum's reads: the public pages' specimens, counts, institutions, collections and exhibitions.

Every specimen shown goes through specimens.public (specimen_public_copy); every query here is
bounded (LIMIT, one GROUP BY cached between refreshes), never a COUNT(*) per request.
"""

from __future__ import annotations



from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from institutions.models import Collection, Institution
from institutions.selectors import collection_progress_list, institution_scope, ALL
from specimens.models import Identification, Specimen, SpecimenAgent
from specimens.services import agent_name_key
from specimens.public import specimen_public_copy
from specimens.selectors import specimen_list_public

from .models import Exhibition, ExhibitionItem

PUBLISHED_COUNTS_KEY = "portal:published-counts:v1"
PUBLISHED_COUNTS_SECONDS = 600
RELATED_LIMIT = 6
# How far "nearby" reaches for the same taxon, in degrees around the public point.
NEARBY_DEGREES = 2
_PUBLIC_OR_WITHDRAWN = [Specimen.Status.PUBLISHED, Specimen.Status.WITHDRAWN]


# --- one specimen -------------------------------------------------------------------------------


def specimen_public_get(*, uuid) -> Specimen:
    """The published or withdrawn record (the caller shows a tombstone for the second); 404 otherwise."""
    specimen = (Specimen.objects.select_related("collection__institution", "taxon")
                .filter(uuid=uuid, status__in=_PUBLIC_OR_WITHDRAWN).first())
    if specimen is None:
        raise Http404("No published specimen has this identifier.")
    return specimen


def specimen_identifications_public(*, specimen: Specimen) -> list[Identification]:
    return list(Identification.objects.filter(specimen=specimen).select_related("taxon").order_by("-is_current", "-created_at"))


def _public_cards(queryset: QuerySet[Specimen]) -> list[Specimen]:
    return media_thumbnails_attach(
        [specimen_public_copy(s) for s in queryset.select_related("collection__institution", "taxon")[:RELATED_LIMIT]])


def specimen_agent_ids_public(*, specimen: Specimen) -> dict[str, dict[str, str]]:
    """{folded name: {"orcid": URL, "wikidata": URL}} of the collectors and determiners linked to the
    record who have an ORCID iD or a Wikidata item: the page puts the links beside their names."""
    found: dict[str, dict[str, str]] = {}
    links = (SpecimenAgent.objects.filter(specimen=specimen).select_related("agent")
             .filter(Q(agent__orcid__isnull=False) | Q(agent__wikidata_qid__isnull=False)).order_by("role", "order"))
    for link in links:
        agent = link.agent
        ids = found.setdefault(agent_name_key(agent.name), {})
        if agent.orcid:
            ids.setdefault("orcid", agent.orcid)
        if agent.wikidata_qid:
            ids.setdefault("wikidata", f"https://www.wikidata.org/wiki/{agent.wikidata_qid}")
    return found


def specimen_related_public(*, specimen: Specimen) -> dict[str, list[Specimen]]:
    """Duplicates (the same collector and number in other collections, under the same name) and the
    same taxon near the record's public point. Both read the taxon index and stop at a few rows; a
    duplicate re-determined under another name is not found (no collector index at 10 M rows)."""
    public = specimen_public_copy(specimen)
    duplicates: list[Specimen] = []
    nearby: list[Specimen] = []
    if specimen.taxon_id is None:
        return {"duplicates": duplicates, "nearby": nearby}
    same_taxon = specimen_list_public().filter(taxon_id=specimen.taxon_id).exclude(pk=specimen.pk)
    if public.record_number and public.recorded_by:
        duplicates = _public_cards(same_taxon.filter(record_number=public.record_number, recorded_by=public.recorded_by)
                                   .order_by("id"))
    if public.decimal_latitude is not None:
        lat, lon = float(public.decimal_latitude), float(public.decimal_longitude)
        # Compared with the stored coordinates but only as a filter: nothing of them is shown.
        box = Q(decimal_latitude__range=(lat - NEARBY_DEGREES, lat + NEARBY_DEGREES),
                decimal_longitude__range=(lon - NEARBY_DEGREES, lon + NEARBY_DEGREES))
        nearby = _public_cards(same_taxon.filter(box).exclude(pk__in=[d.pk for d in duplicates]).order_by("id"))
    elif public.country_code:
        nearby = _public_cards(same_taxon.filter(country_code=public.country_code)
                               .exclude(pk__in=[d.pk for d in duplicates]).order_by("id"))
    return {"duplicates": duplicates, "nearby": nearby}


def specimen_recent_public(*, limit: int = 8) -> list[Specimen]:
    """The published records that most recently got an image, newest first.

    Walks the image table backwards by primary key (small next to the specimens, and every row
    there has an image) and stops at `limit` records; never a scan of the specimen table.
    """
    from imaging.models import ImageAsset

    specimen_ids = list(dict.fromkeys(
        ImageAsset.objects.filter(status=ImageAsset.Status.DONE, specimen__status=Specimen.Status.PUBLISHED)
        .order_by("-id").values_list("specimen_id", flat=True)[:limit * 4]))[:limit]
    rows = {s.pk: s for s in specimen_list_public().filter(pk__in=specimen_ids)
            .select_related("collection__institution", "taxon")}
    return media_thumbnails_attach([specimen_public_copy(rows[pk]) for pk in specimen_ids if pk in rows and rows[pk].media])


# --- counts -------------------------------------------------------------------------------------


def published_counts_compute() -> dict[int, int]:
    """collection id → published records: one GROUP BY, for the refresh, never per request."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT collection_id, count(*) FROM specimens_specimen WHERE status = %s GROUP BY collection_id",
                       [Specimen.Status.PUBLISHED])
        return dict(cursor.fetchall())


def published_counts() -> dict[int, int]:
    """Published records per collection, as of the last refresh (at most PUBLISHED_COUNTS_SECONDS old)."""
    counts = cache.get(PUBLISHED_COUNTS_KEY)
    if counts is None:
        counts = published_counts_compute()
        cache.set(PUBLISHED_COUNTS_KEY, counts, PUBLISHED_COUNTS_SECONDS)
    return counts


def _progress(*, estimated: int | None, reported: int | None, published: int) -> dict:
    """What a visitor reads for one collection or institution: a percentage only from real figures."""
    digitised = max(reported or 0, published)
    if not estimated:
        return {"digitised": digitised, "percent": None, "figure": "no estimate"}
    if reported is None and not published:
        return {"digitised": None, "percent": None, "figure": "no figure reported"}
    percent = 100 * digitised / estimated
    label = f"{percent:.1f} %" if percent >= 0.1 or percent == 0 else "under 0.1 %"
    return {"digitised": digitised, "percent": round(percent, 1), "label": label, "figure": ""}


def collection_progress_public(*, institution: Institution | None = None) -> list[Collection]:
    """Collections with estimated size, reported digitised, published here and progress."""
    collections = collection_progress_list()
    if institution is not None:
        collections = collections.filter(institution=institution)
    counts = published_counts()
    rows = list(collections)
    for c in rows:
        c.published = counts.get(c.pk, 0)
        c.progress = _progress(estimated=c.estimated_objects, reported=c.digitised_reported, published=c.published)
    return rows


def institution_progress_public() -> tuple[list[dict], dict]:
    """One row per institution and the programme's totals, published records only."""
    rows: dict[int, dict] = {}
    for c in collection_progress_public():
        row = rows.setdefault(c.institution_id, {"institution": c.institution, "collections": 0, "estimated_objects": 0,
                                                 "reported": None, "published": 0})
        row["collections"] += 1
        row["estimated_objects"] += c.estimated_objects or 0
        if c.digitised_reported is not None:
            row["reported"] = (row["reported"] or 0) + c.digitised_reported
        row["published"] += c.published
    result = sorted(rows.values(), key=lambda r: (-r["estimated_objects"], r["institution"].name))
    for row in result:
        row.update(_progress(estimated=row["estimated_objects"], reported=row["reported"], published=row["published"]))
    reported = [r["reported"] for r in result if r["reported"] is not None]
    totals = {
        "institutions": len(result),
        "collections": sum(r["collections"] for r in result),
        "estimated_objects": sum(r["estimated_objects"] for r in result),
        "published": sum(r["published"] for r in result),
        "reporting": len(reported),
        **_progress(estimated=sum(r["estimated_objects"] for r in result), reported=sum(reported) if reported else None,
                    published=sum(r["published"] for r in result)),
    }
    return result, totals


def institution_public_get(*, code: str) -> Institution:
    institution = Institution.objects.filter(code=code.upper()).first()
    if institution is None:
        raise Http404("No such institution.")
    return institution


def collection_public_get(*, institution_code: str, code: str) -> Collection:
    collection = (collection_progress_list().filter(institution__code=institution_code.upper(), code=code.upper()).first())
    if collection is None:
        raise Http404("No such collection.")
    collection.published = published_counts().get(collection.pk, 0)
    collection.progress = _progress(estimated=collection.estimated_objects, reported=collection.digitised_reported,
                                    published=collection.published)
    return collection


def collection_specimens_public(*, collection: Collection, limit: int = 12) -> list[Specimen]:
    """A first look at a collection's newest published records (search browses the rest)."""
    rows = (specimen_list_public().filter(collection=collection).select_related("collection__institution", "taxon")
            .order_by("-id")[:limit])
    return media_thumbnails_attach([specimen_public_copy(s) for s in rows])


# --- exhibitions --------------------------------------------------------------------------------


def _items_prefetch() -> Prefetch:
    return Prefetch("items", queryset=ExhibitionItem.objects.select_related(
        "specimen__collection__institution", "specimen__taxon").order_by("position", "id"))


def exhibition_list_public() -> QuerySet[Exhibition]:
    return (Exhibition.objects.filter(status=Exhibition.Status.PUBLISHED).select_related("institution")
            .order_by("-published_at", "-id"))


def exhibition_list_for(*, user) -> QuerySet[Exhibition]:
    """What `user` sees in the list: published exhibitions, plus drafts of their own institutions."""
    scope = institution_scope(user=user, action="publish")
    visible = Q(status=Exhibition.Status.PUBLISHED)
    if scope == ALL:
        visible = Q()
    elif scope:
        visible |= Q(institution_id__in=sorted(scope))
    return Exhibition.objects.filter(visible).select_related("institution").order_by("-published_at", "-id")


def exhibition_get_for(*, user, slug: str) -> Exhibition:
    exhibition = exhibition_list_for(user=user).filter(slug=slug).prefetch_related(_items_prefetch()).first()
    if exhibition is None:
        raise Http404("No such exhibition.")
    return exhibition


def exhibition_items_public(*, exhibition: Exhibition) -> list[ExhibitionItem]:
    """The exhibition's items whose specimens the public may see, each with its public copy."""
    items = []
    for item in exhibition.items.all():
        if item.specimen.status != Specimen.Status.PUBLISHED:
            continue  # withdrawn since the curator chose it: the story skips it
        item.public = specimen_public_copy(item.specimen)
        items.append(item)
    return items


def exhibition_editable_by(*, user, exhibition: Exhibition) -> bool:
    scope = institution_scope(user=user, action="publish")
    return scope == ALL or exhibition.institution_id in scope




def media_thumbnails_attach(specimens: list[Specimen]) -> list[Specimen]:
    """Give each public copy with an image `thumb` = {url, width, height} of its first image's
    256 px thumbnail (one query for the whole list); the IIIF level-0 server lists that size."""
    from imaging.models import Derivative

    first = {s.pk: s.media[0]["uuid"] for s in specimens if s.media}
    rows = Derivative.objects.filter(asset__uuid__in=list(first.values()), spec=Derivative.Spec.THUMB_256).values_list(
        "asset__uuid", "width", "height")
    sizes = {str(uuid): (width, height) for uuid, width, height in rows}
    for s in specimens:
        size = sizes.get(first.get(s.pk, ""))
        s.thumb = ({"url": f"/iiif/3/{first[s.pk]}/full/{size[0]},{size[1]}/0/default.jpg", "width": size[0], "height": size[1]}
                   if size else None)
    return specimens
