"""Imported records: collectors and determiners become de-duplicated, ordered Agent links; uuids are version 7."""

import pytest

from specimens.models import Agent, Specimen, SpecimenAgent

pytestmark = pytest.mark.django_db


def _links(catalog_number, role):
    return list(
        SpecimenAgent.objects.filter(specimen__catalog_number=catalog_number, role=role)
        .order_by("order").values_list("agent__name", flat=True)
    )


def test_determiners_are_linked_as_agents_shared_with_collectors(run_import, tmp_path):
    source = tmp_path / "determined.csv"
    source.write_text(
        "catalogNumber,scientificName,recordedBy,identifiedBy\n"
        "D1,Bellis perennis L.,J. Hooker | C. Darwin,c. darwin\n"
        "D2,Poa annua L.,A. Gray,E. Britton; J. Hooker\n"
        "D3,Poa annua L.,A. Gray,\n"
    )

    batch = run_import(source)

    assert batch.inserted_count == 3
    assert _links("D1", "collector") == ["J. Hooker", "C. Darwin"]
    assert _links("D1", "determiner") == ["C. Darwin"]  # "c. darwin" folds onto the collector's agent
    assert _links("D2", "determiner") == ["E. Britton", "J. Hooker"]
    assert _links("D3", "determiner") == []
    assert Agent.objects.filter(name_key="j hooker").count() == 1
    assert Agent.objects.count() == 4


def test_a_changed_determiner_replaces_the_links_and_an_unchanged_file_keeps_them(run_import, tmp_path):
    source = tmp_path / "determined.csv"
    header = "catalogNumber,scientificName,identifiedBy\n"
    source.write_text(header + "D1,Bellis perennis L.,J. Hooker\nD2,Poa annua L.,A. Gray\n")
    run_import(source)
    before = set(SpecimenAgent.objects.values_list("pk", flat=True))

    unchanged = run_import(source)
    assert (unchanged.updated_count, set(SpecimenAgent.objects.values_list("pk", flat=True))) == (0, before)

    source.write_text(header + "D1,Bellis perennis L.,E. Britton | J. Hooker\nD2,Poa annua L.,A. Gray\n")
    changed = run_import(source)

    assert changed.updated_count == 1
    assert _links("D1", "determiner") == ["E. Britton", "J. Hooker"]
    assert _links("D2", "determiner") == ["A. Gray"]
    assert Specimen.objects.get(catalog_number="D1").identified_by == "E. Britton | J. Hooker"


def test_imported_records_get_unique_time_ordered_version_7_uuids(run_import, tmp_path):
    import time

    source = tmp_path / "many.csv"
    source.write_text("catalogNumber,scientificName\n" + "".join(f"U{i:03d},Poa annua L.\n" for i in range(50)))
    before = int(time.time() * 1000)

    run_import(source)

    rows = list(Specimen.objects.order_by("id").values_list("uuid", "identifications__uuid"))
    uuids = [u for u, _ in rows]
    assert len(set(uuids)) == 50 and uuids == sorted(uuids)  # increasing with the row: index edges fill in order
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in uuids)
    assert abs(int.from_bytes(uuids[0].bytes[:6], "big") - before) < 60_000  # 48-bit Unix milliseconds first
    assert len({i for _, i in rows} | set(uuids)) == 100  # identifications draw their own


def test_taxa_and_agents_an_import_creates_carry_its_history_context(run_import, tmp_path):
    from django.apps import apps

    source = tmp_path / "new-names.csv"
    source.write_text("catalogNumber,scientificName,family,recordedBy\nN1,Bellis perennis L.,Asteraceae,J. Hooker\n")

    batch = run_import(source)

    for model in ("TaxonEvent", "AgentEvent"):
        events = apps.get_model("specimens", model).objects.select_related("pgh_context")
        assert events.exists()
        assert {e.pgh_context.metadata.get("import_batch") if e.pgh_context else None for e in events} == {str(batch.uuid)}
