"""MIDS stored and kept current: real archives through the importer, edits, images, compute_mids."""

import io
from collections import Counter

import pytest
from django.core.management import call_command

from specimens.imports.services import import_batch_create, import_batch_run
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
