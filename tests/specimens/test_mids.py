"""MIDS stored and kept current: real archives through the importer, edits, images, compute_mids."""

import io
from collections import Counter

import pytest
from django.core.management import call_command

from imports.services import import_batch_create, import_batch_run
from specimens.models import MidsAssessment, Specimen
from specimens.services import preparation_add, specimen_create, specimen_media_set, specimen_update
from tests.factories.institutions import CollectionFactory, InstitutionFactory
from tests.paths import DWCA

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(db):
    return CollectionFactory(institution=InstitutionFactory(code="NHMUK"), code="ZOO", name="Zoology")


@pytest.fixture
def names(db):
    from specimens.services import taxon_ensure_path

    taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("genus", "Bellis"), ("species", "Bellis perennis")], authorship="L.")
    taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("genus", "Poa"), ("species", "Poa annua")], authorship="L.")


def _import(collection, path):
    batch = import_batch_create(collection=collection, path=path)
    return import_batch_run(batch_id=batch.pk)


def _levels(collection) -> Counter:
    return Counter(Specimen.objects.filter(collection=collection).values_list("mids_level", flat=True))


def _elements(specimen) -> dict:
    return {e["element"]: e.get("term") or e.get("reason") for e in specimen.mids_assessment.elements}


# --- real archives, levels checked by hand against mids_dwc-a_biology_1 --------------------------------


def test_nhm_gbif_records_are_mids0_for_want_of_preparations(collection):
    """10 NHM records: catalogNumber, institutionCode, scientificName, license (GBIF's CC-BY), modified all
    there; no preparations or materialEntityType column, so ObjectType fails and none reaches MIDS-1."""
    _import(collection, DWCA / "nhm-data-importer/10_gbif_records.zip")

    assert _levels(collection) == {0: 10}
    specimen = Specimen.objects.filter(collection=collection).order_by("id").first()
    elements = _elements(specimen)
    assert elements["PhysicalSpecimenID"] == "catalogNumber"
    assert elements["Organization"] == "institutionCode"
    assert elements["Name"] == "scientificName"
    assert elements["License"] == "license" and elements["Modified"] == "modified"
    assert elements["ObjectType"] == "no value in preparations, materialEntityType"
    assert specimen.mids_assessment.blocking == ["ObjectType"]
    # gbif:taxonKey has no column: kept from the file, it meets IdentifiedAsID.
    assert set(specimen.mids_terms) == {"institutionCode", "taxonKey"}
    assert elements["IdentifiedAsID"] == "taxonKey"


def test_gbif_results_archive_is_all_mids0(collection):
    """155 KU records (3 duplicates refused): no preparations column either; 32 + 21 carry both verbatim
    coordinates, which the importer keeps for QualitativeLocation."""
    _import(collection, DWCA / "python-dwca-reader/gbif-results.zip")

    assert _levels(collection) == {0: 155}
    failing = Counter(e for s in Specimen.objects.filter(collection=collection).select_related("mids_assessment")
                      for e in s.mids_assessment.failing)
    assert failing["ObjectType"] == 155 and failing["Media"] == 155 and failing["CollectingNumber"] == 155
    assert failing["QualitativeLocation"] == 11  # no locality, country or verbatim pair at all
    kept = Counter(k for s in Specimen.objects.filter(collection=collection) for k in (s.mids_terms or {}))
    assert kept["verbatimLatitude"] == kept["verbatimLongitude"] == 53


def test_validator_archive_is_mids1_blocked_by_collecting_number_and_media(collection):
    """19 records with preparations, ownerInstitutionCode, scientificNameID, verbatimEventDate: every MIDS-1
    element met; none has recordNumber/fieldNumber or media, so all stop at MIDS-1."""
    _import(collection, DWCA / "gbif-pipelines-validator/dwca/Archive.zip")

    assert _levels(collection) == {1: 19}
    blocking = Counter(tuple(s.mids_assessment.blocking)
                       for s in Specimen.objects.filter(collection=collection).select_related("mids_assessment"))
    assert blocking == {("CollectingNumber", "Media"): 18, ("CollectingAgent", "CollectingNumber", "Media"): 1}
    specimen = Specimen.objects.filter(collection=collection).order_by("id").first()
    elements = _elements(specimen)
    assert elements["ObjectType"] == "preparations"
    assert elements["DateCollected"] == "verbatimEventDate"
    assert elements["IdentifiedAsID"] == "scientificNameID"


def test_a_re_import_keeps_levels_and_an_image_lifts_one(collection):
    _import(collection, DWCA / "gbif-pipelines-validator/dwca/Archive.zip")
    again = _import(collection, DWCA / "gbif-pipelines-validator/dwca/Archive.zip")
    assert again.unchanged_count == 19 and _levels(collection) == {1: 19}

    specimen = Specimen.objects.filter(collection=collection).order_by("id").first()
    specimen_update(specimen=specimen, data={"record_number": "K-1"}, expected_version=specimen.version)
    specimen_media_set(specimen_id=specimen.pk, media=[{"uuid": "x", "order": 0}])
    specimen.refresh_from_db()
    assert specimen.mids_level == 2  # CollectingNumber and Media now met; the kept terms survived the edit
    assert specimen.mids_assessment.blocking == ["GeographicalLocalityID", "OrganizationID", "CollectingAgentID",
                                                  "IdentifiedByID"]


# --- edits -----------------------------------------------------------------------------------------


def test_a_save_shows_the_new_level_in_the_same_transaction(collection, names):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E1", "scientific_name": "Bellis perennis L."})
    assert specimen.mids_level == 0  # no preparations yet
    assert Specimen.objects.get(pk=specimen.pk).mids_level == 0

    specimen = specimen_update(specimen=specimen, data={"preparations": "sheet"}, expected_version=specimen.version)
    assert specimen.mids_level == 1
    assert Specimen.objects.get(pk=specimen.pk).mids_level == 1

    specimen = specimen_update(specimen=specimen, data={
        "locality": "Kew", "decimal_latitude": "51.48", "decimal_longitude": "-0.29", "recorded_by": "J. Hooker",
        "event_date": "1850", "record_number": "12"}, expected_version=specimen.version)
    stored = Specimen.objects.select_related("mids_assessment").get(pk=specimen.pk)
    assert stored.mids_level == 1 and stored.mids_assessment.blocking == ["Media"]
    assert _elements(stored)["DateCollected"] == "eventDate"


def test_a_preparation_row_is_the_object_type_and_the_collection_licence_the_fallback(collection, names):
    specimen = specimen_create(collection=collection, data={"catalog_number": "E2", "scientific_name": "Poa annua L."})
    Specimen.objects.filter(pk=specimen.pk).update(license="")  # none of its own: the collection's counts
    preparation_add(specimen=specimen, preparation_type="sheet")
    stored = Specimen.objects.select_related("mids_assessment").get(pk=specimen.pk)
    assert stored.mids_level == 1
    assert _elements(stored)["ObjectType"] == "preparations"
    assert _elements(stored)["License"] == "license"


def test_history_is_not_written_for_a_reassessment(collection, names):
    from specimens.models import SpecimenEvent

    specimen = specimen_create(collection=collection, data={"catalog_number": "E3", "scientific_name": "Poa annua L."})
    events = SpecimenEvent.objects.filter(pgh_obj_id=specimen.pk).count()
    Specimen.objects.filter(pk=specimen.pk).update(mids_level=None, mids_assessment=None)
    call_command("compute_mids", stdout=io.StringIO())
    assert SpecimenEvent.objects.filter(pgh_obj_id=specimen.pk).count() == events


# --- compute_mids --------------------------------------------------------------------------------


def test_compute_mids_prints_the_level_mix(collection):
    _import(collection, DWCA / "gbif-pipelines-validator/dwca/Archive.zip")
    other = CollectionFactory(institution=collection.institution, code="BOT")
    _import(other, DWCA / "nhm-data-importer/10_gbif_records.zip")
    Specimen.objects.update(mids_level=None, mids_assessment=None)

    out = io.StringIO()
    call_command("compute_mids", "--collection", "NHMUK:ZOO", stdout=out)
    assert out.getvalue().strip() == "assessed=19 level0=0 level1=19 level2=0 level3=0 below=0"
    assert Specimen.objects.filter(mids_level__isnull=True).count() == 10

    out = io.StringIO()
    call_command("compute_mids", stdout=out)
    assert out.getvalue().strip() == "assessed=29 level0=10 level1=19 level2=0 level3=0 below=0"
    assert MidsAssessment.objects.count() < 29  # records alike share one assessment


def test_a_geology_collection_is_assessed_against_its_own_mapping(collection, names):
    rocks = CollectionFactory(institution=collection.institution, code="MIN", mids_discipline="geology")
    specimen = specimen_create(collection=rocks, data={"catalog_number": "M1", "scientific_name": "Poa annua L.",
                                                       "preparations": "rock"})
    stored = Specimen.objects.select_related("mids_assessment").get(pk=specimen.pk)
    assert stored.mids_assessment.mapping_set == "mids_dwc-a_geology_1"
    assert "StratigraphicContext" in stored.mids_assessment.failing


# --- shown: API, staff page, work list, public page ------------------------------------------------


@pytest.fixture
def own_collection(institution):
    return CollectionFactory(institution=institution, code="BOT", name="Botany")


def _kew_record(collection, **overrides):
    """A MIDS-1 record whose only MIDS-2 gaps are the collector and an image (sensitive site, withheld)."""
    from specimens.services import specimen_publish

    data = {"catalog_number": "K1", "scientific_name": "Poa annua L.", "preparations": "sheet", "locality": "Kew bog",
            "decimal_latitude": "51.4812", "decimal_longitude": "-0.2956", "event_date": "1850", "record_number": "12",
            "locality_sensitivity": "withhold", **overrides}
    specimen = specimen_create(collection=collection, data=data)
    return specimen_publish(specimen=specimen)


def test_detail_api_carries_the_element_results(own_collection, names, curator_client):
    from django.urls import reverse

    specimen = _kew_record(own_collection)
    data = curator_client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).json()

    mids = data["mids"]
    assert data["mids_level"] == mids["level"] == 1
    elements = {e["element"]: e for e in mids["elements"]}
    assert elements["Name"] == {"element": "Name", "level": 1, "pass": True, "term": "scientificName"}
    assert elements["CollectingAgent"] == {"element": "CollectingAgent", "level": 2, "pass": False,
                                           "reason": "no value in recordedBy, recordedByID"}
    assert mids["blocking"] == ["CollectingAgent", "Media"]
    assert mids["mapping_set"] == "mids_dwc-a_biology_1" and mids["mapping_version"].startswith("1")
    assert mids["assessed_at"]

    listed = curator_client.get(reverse("specimens_api:specimen_list")).json()["results"]
    assert [row["mids_level"] for row in listed] == [1]


def test_a_generalised_public_record_keeps_the_level_of_its_full_record(own_collection, names, public_client):
    """Withheld coordinates and locality would fail both location elements if re-assessed; they are not."""
    from django.urls import reverse

    specimen = _kew_record(own_collection, recorded_by="J. Hooker")
    specimen_media_set(specimen_id=specimen.pk, media=[{"uuid": "x", "order": 0, "width": 10, "height": 10, "licence": "",
                                                        "iiif_service": "/iiif/x", "kind": "specimen"}])
    data = public_client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).json()

    assert data["decimal_latitude"] is None and data["locality"] == ""  # generalised...
    assert data["mids_level"] == data["mids"]["level"] == 2  # ...at the level the full record earned
    located = {e["element"]: e["pass"] for e in data["mids"]["elements"]}
    assert located["QualitativeLocation"] and located["QuantitativeLocation"]

    page = public_client.get(reverse("specimen_page", args=[specimen.uuid])).content.decode()
    assert "MIDS level 2 — how completely" in page and "digitised this specimen" in page
    assert "Kew bog" not in page


def test_a_never_assessed_record_has_no_mids_in_the_api_or_the_pages(own_collection, curator_client, public_client):
    from django.urls import reverse

    from tests.factories.specimens import SpecimenFactory

    specimen = SpecimenFactory(collection=own_collection, status=Specimen.Status.PUBLISHED)
    data = curator_client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).json()
    assert data["mids_level"] is None and data["mids"] is None
    assert "MIDS: not assessed yet" in curator_client.get(reverse("specimens:curate_detail", args=[specimen.uuid])).content.decode()
    assert "MIDS level" not in public_client.get(reverse("specimen_page", args=[specimen.uuid])).content.decode()


def test_staff_page_says_what_to_fill_in_for_the_next_level(own_collection, names, curator_client):
    from django.urls import reverse

    specimen = _kew_record(own_collection)
    html = curator_client.get(reverse("specimens:curate_detail", args=[specimen.uuid])).content.decode()

    assert "MIDS-1" in html
    todo = html[html.index('class="mids-todo"'):]
    # the elements blocking MIDS-2 first, then those of MIDS-3
    assert todo.index("Add a collector (recordedBy) to reach MIDS-2") < todo.index("Add an image of the specimen to reach MIDS-2")
    assert todo.index("to reach MIDS-2") < todo.index("to reach MIDS-3")
    assert '<li class="blocking">Add a collector (recordedBy) to reach MIDS-2' in html


def test_staff_of_another_institution_see_the_full_records_level(own_collection, names, client_for, other_institution):
    from django.urls import reverse

    specimen = _kew_record(own_collection, recorded_by="J. Hooker")
    html = client_for("curator", other_institution).get(reverse("specimens:curate_detail", args=[specimen.uuid])).content.decode()
    assert "Kew bog" not in html
    assert "Add an image of the specimen to reach MIDS-2" in html
    assert "Add a locality" not in html and "Add coordinates" not in html


def test_work_list_filters_by_level_and_by_failing_element(own_collection, names, curator_client, django_assert_num_queries):
    from django.urls import reverse

    from tests.specimens.test_views import listed

    bare = specimen_create(collection=own_collection, data={"catalog_number": "B0", "scientific_name": "Poa annua L."})
    prepared = specimen_create(collection=own_collection, data={"catalog_number": "B1", "scientific_name": "Poa annua L.",
                                                                 "preparations": "sheet"})
    collected = specimen_create(collection=own_collection, data={"catalog_number": "B2", "scientific_name": "Poa annua L.",
                                                                  "preparations": "sheet", "recorded_by": "J. Hooker"})
    url = reverse("specimens:curate_list")
    assert (bare.mids_level, prepared.mids_level, collected.mids_level) == (0, 1, 1)

    def shown(params):
        # session, the user with their memberships, the page: the element filter is a subquery inside the page's query
        with django_assert_num_queries(3):
            response = curator_client.get(url, params)
        assert response.status_code == 200
        return sorted(listed(response.content.decode()))

    assert shown({"mids_level": "1"}) == ["B1", "B2"]
    assert shown({"mids_level": "0"}) == ["B0"]
    assert shown({"mids_failing": "CollectingAgent"}) == ["B0", "B1"]
    assert shown({"mids_failing": "CollectingAgent", "mids_level": "1"}) == ["B1"]
    assert shown({"mids_failing": "ObjectType"}) == ["B0"]
    html = curator_client.get(url, {"mids_failing": "CollectingAgent"}).content.decode()
    assert '<option value="CollectingAgent" selected>CollectingAgent (MIDS-2)</option>' in html


def test_work_list_element_filter_is_an_in_subquery_on_the_assessment(own_collection, curator_client):
    from specimens.filters import SpecimenFilter

    sql = str(SpecimenFilter({"mids_failing": "Media", "mids_level": "1"}, queryset=Specimen.objects.all()).qs.query)
    assert '"specimens_specimen"."mids_assessment_id" IN (SELECT' in sql
    assert '"specimens_specimen"."mids_level" = 1' in sql


def test_api_list_filters_by_level(own_collection, names, public_client):
    from django.urls import reverse

    _kew_record(own_collection)
    assert len(public_client.get(reverse("specimens_api:specimen_list"), {"mids_level": "1"}).json()["results"]) == 1
    assert public_client.get(reverse("specimens_api:specimen_list"), {"mids_level": "2"}).json()["results"] == []
    assert public_client.get(reverse("specimens_api:specimen_list"), {"mids_level": "9"}).status_code == 400
