"""Collectors (recordedBy) and determiners (identifiedBy) become de-duplicated Agents, linked in order."""

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
