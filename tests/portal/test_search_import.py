"""Imports keep the public search current set-based, in their write transaction; undo puts it back."""

import pytest

from imports.services import import_batch_create, import_batch_run
from imports.undo import import_batch_undo
from institutions.models import Role
from specimens.models import FacetCount, SpecimenSearch
from specimens.search import search_page, search_params_parse
from tests.factories.institutions import CollectionFactory, InstitutionFactory
from tests.importer.archives import csv_write

pytestmark = pytest.mark.django_db


def found(q: str) -> list[str]:
    return [r["catalog_number"] for r in search_page(search_params_parse({"q": q})).rows]


def test_an_import_that_publishes_indexes_its_records_and_undo_restores_the_search(tmp_path, user_with_role):
    collection = CollectionFactory(institution=InstitutionFactory(code="NHMUK"), code="ZOO")
    curator = user_with_role(Role.CURATOR, collection.institution)

    def run(rows, name):
        batch = import_batch_create(collection=collection, path=csv_write(tmp_path / name, rows), user=curator, publish=True)
        return import_batch_run(batch_id=batch.pk)

    run([{"catalogNumber": "P1", "scientificName": "Quercus robur L.", "locality": "Kew Green"},
         {"catalogNumber": "P2", "scientificName": "", "locality": "Kew Green"}], "first.txt")
    assert list(SpecimenSearch.objects.values_list("catalog_number", flat=True)) == ["P1"]  # P2 stays a draft
    assert found("quercus kew") == ["P1"]
    assert FacetCount.objects.get(facet="_total").n == 1

    second = run([{"catalogNumber": "P1", "scientificName": "Quercus robur L.", "locality": "Wicken Fen"}], "second.txt")
    assert found("wicken") == ["P1"] and found("kew") == []

    import_batch_undo(batch=second, user=curator)
    assert found("kew") == ["P1"] and found("wicken") == []
    assert FacetCount.objects.get(facet="_total").n == 1
