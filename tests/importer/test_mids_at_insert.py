"""An import writes each new record with its MIDS level (worked out from the values the INSERT will
write, before it); matched records are re-assessed after the write. Either way every record must
hold exactly the assessment the per-record Python path gives it."""

import csv

import pytest

from specimens.mids import specimen_mids_assess
from specimens.models import Agent, Specimen
from tests.factories.institutions import CollectionFactory
from tests.specimens.test_mids_signature import ODD_VALUES

pytestmark = pytest.mark.django_db

# Text columns the importer takes as they are, plus MIDS terms kept in mids_terms (island, verbatimCoordinates).
ODD_TERMS = ["otherCatalogNumbers", "locality", "county", "stateProvince", "waterBody", "recordNumber",
             "fieldNumber", "preparations", "verbatimEventDate", "island", "verbatimCoordinates"]
HEADER = ["catalogNumber", "scientificName", "recordedBy", "identifiedBy", *ODD_TERMS]


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def _rows(first: int, count: int, shift: int = 0) -> list[list[str]]:
    rows = []
    for n in range(first, first + count):
        odd = [ODD_VALUES[(n * 5 + k * 3 + shift) % len(ODD_VALUES)] for k in range(len(ODD_TERMS))]
        collectors = ["J. Hooker", "A. Gray | J. Hooker", "", "C. Darwin"][n % 4]
        determiner = ["", "E. Britton", "C. Darwin"][n % 3]
        rows.append([f"M{n}", ["Bellis perennis L.", "Poa annua L.", ""][n % 3], collectors, determiner, *odd])
    return rows


def _stored(collection) -> dict:
    return {s.pk: (s.mids_level, s.mids_assessment_id, s.mids_terms)
            for s in Specimen.objects.filter(collection=collection)}


def _per_record(collection) -> dict:
    result = {}
    for specimen in Specimen.objects.filter(collection=collection):
        specimen_mids_assess(specimens=[specimen])  # the per-record Python path, written back
        stored = Specimen.objects.get(pk=specimen.pk)
        result[specimen.pk] = (stored.mids_level, stored.mids_assessment_id, stored.mids_terms)
    return result


def test_new_and_matched_records_get_the_assessment_the_per_record_path_gives(run_import, collection, tmp_path):
    # Agents are shared: another collection's import creates them, then two get persistent identifiers.
    seed = tmp_path / "seed.csv"
    _write(seed, _rows(0, 4))
    run_import(seed, into=CollectionFactory(institution=collection.institution, code="BOT"))
    Agent.objects.filter(name="J. Hooker").update(orcid="https://orcid.org/0000-0002-1825-0097")
    Agent.objects.filter(name="C. Darwin").update(wikidata_qid="Q1035")
    first = tmp_path / "first.csv"
    _write(first, _rows(0, 60))
    batch = run_import(first)
    assert batch.inserted_count == 60, batch.file_errors

    second = tmp_path / "second.csv"
    _write(second, _rows(30, 60, shift=1))  # 30 matched (changed values), 30 new
    batch = run_import(second)
    assert (batch.inserted_count, batch.updated_count) == (30, 30), batch.file_errors

    stored = _stored(collection)
    assert None not in {level for level, _, _ in stored.values()}
    assert stored == _per_record(collection)
    assert len({aid for _, aid, _ in stored.values()}) > 5  # the odd values really made different assessments
    kept = [terms for _, _, terms in stored.values() if terms]
    assert kept and all(set(terms) <= {"island", "verbatimCoordinates"} for terms in kept)


def test_a_collector_orcid_reaches_the_new_records_level(run_import, collection, tmp_path):
    source = tmp_path / "agents.csv"
    _write(source, _rows(0, 8))
    run_import(source)
    Agent.objects.filter(name="J. Hooker").update(orcid="https://orcid.org/0000-0002-1825-0097")
    _write(source, _rows(100, 8))
    run_import(source)

    new = Specimen.objects.filter(collection=collection, catalog_number__in=[f"M{n}" for n in range(100, 108)])
    with_orcid = {s.pk for s in new if "J. Hooker" in s.recorded_by}
    assert with_orcid
    for specimen in new.select_related("mids_assessment"):
        terms = {e["element"]: e.get("term") for e in specimen.mids_assessment.elements}
        assert (terms.get("CollectingAgentID") == "recordedByID") == (specimen.pk in with_orcid), specimen.recorded_by
