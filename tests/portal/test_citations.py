"""BibTeX and RIS citations of a specimen, read back by independent parsers (bibtexparser, rispy)."""

import datetime as dt

import bibtexparser
import pytest
import rispy
from specimens.models import Specimen

from ..factories.institutions import CollectionFactory, InstitutionFactory
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db
BASE = "https://museum.example.org"


@pytest.fixture(autouse=True)
def public_base(settings):
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def kew():
    return InstitutionFactory(code="K", name="Royal Botanic Gardens, Kew")


def published(institution, **values):
    values = {"catalog_number": "K000697", "scientific_name": "Quercus robur L.", "status": Specimen.Status.PUBLISHED,
              **values}
    collection = institution.collections.filter(code="HERB").first() or CollectionFactory(institution=institution, code="HERB")
    specimen = SpecimenFactory(collection=collection, **values)
    Specimen.objects.filter(pk=specimen.pk).update(version=3, updated_at=dt.datetime(2026, 3, 9, 10, 0, tzinfo=dt.UTC))
    specimen.refresh_from_db()
    return specimen


def bibtex_entry(response):
    library = bibtexparser.parse_string(response.content.decode())
    assert not library.failed_blocks, library.failed_blocks
    [entry] = library.entries
    return entry


def test_bibtex_reads_back_as_the_page_cites_it(public_client, kew):
    specimen = published(kew)

    response = public_client.get(f"/specimen/{specimen.uuid}.bib")
    entry = bibtex_entry(response)

    assert response.status_code == 200 and response["Content-Type"] == "application/x-bibtex; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="K-K000697.bib"'
    assert entry.entry_type == "misc" and entry.key == "K-K000697"
    assert entry["author"] == "{Royal Botanic Gardens, Kew}"  # one corporate name, not "Kew, Royal Botanic Gardens"
    assert entry["title"] == "{Quercus robur L., K000697}"
    assert entry["year"] == "2026" and entry["url"] == f"{BASE}/specimen/{specimen.uuid}"
    assert entry["howpublished"] == "The Impossible Museum"
    assert entry["note"] == "Specimen record, version 3 of 9 March 2026"


def test_ris_reads_back_as_the_page_cites_it(public_client, kew):
    specimen = published(kew)

    response = public_client.get(f"/specimen/{specimen.uuid}.ris")
    [record] = rispy.loads(response.content.decode())

    assert response.status_code == 200 and response["Content-Type"] == "application/x-research-info-systems; charset=utf-8"
    assert record["type_of_reference"] == "DATA" and record["title"] == "Quercus robur L., K000697"
    assert record["authors"] == ["Royal Botanic Gardens, Kew"] and record["publisher"] == "Royal Botanic Gardens, Kew"
    assert record["accession_number"] == "K000697" and record["year"] == "2026" and record["date"] == "2026/03/09"
    assert record["urls"] == [f"{BASE}/specimen/{specimen.uuid}"] and record["edition"] == "Record version 3"


def test_text_that_would_break_either_format_is_escaped_or_kept_to_one_line(public_client):
    museum = InstitutionFactory(code="MS", name="Smith & Jones {Herbarium} 100% \\ #1_^~$")
    specimen = published(museum, catalog_number="A_1}\n@misc{evil,", scientific_name="Carex × {hybrid}\r\nTY  - JOUR")

    entry = bibtex_entry(public_client.get(f"/specimen/{specimen.uuid}.bib"))
    [record] = rispy.loads(public_client.get(f"/specimen/{specimen.uuid}.ris").content.decode())

    # One entry, whose fields hold the text as written (LaTeX-escaped), nothing injected.
    assert entry.key == "MS-A_1-misc-evil"
    assert entry["author"] == r"{Smith \& Jones \{Herbarium\} 100\% \textbackslash{} \#1\_\^{}\~{}\$}"
    assert entry["title"] == r"{Carex × \{hybrid\} TY - JOUR, A\_1\} @misc\{evil,}"
    # One record: the line break became a space, so "TY  - JOUR" stayed inside the title.
    assert record["type_of_reference"] == "DATA" and record["title"] == "Carex × {hybrid} TY - JOUR, A_1} @misc{evil,"


def test_a_sensitive_record_cites_only_what_the_public_sees_and_drafts_and_withdrawn_records_do_not_cite(public_client, kew):
    sensitive = published(kew, locality_sensitivity="withhold", locality="Exact orchid site")
    draft = published(kew, catalog_number="K2", status=Specimen.Status.DRAFT)
    withdrawn = published(kew, catalog_number="K3", status=Specimen.Status.WITHDRAWN)

    for suffix in ("bib", "ris"):
        assert "Exact orchid site" not in public_client.get(f"/specimen/{sensitive.uuid}.{suffix}").content.decode()
        assert public_client.get(f"/specimen/{draft.uuid}.{suffix}").status_code == 404
        assert public_client.get(f"/specimen/{withdrawn.uuid}.{suffix}").status_code == 410


def test_the_specimen_page_links_both(public_client, kew):
    specimen = published(kew)
    page = public_client.get(f"/specimen/{specimen.uuid}.html").content.decode()
    assert f'href="/specimen/{specimen.uuid}.bib"' in page and f'href="/specimen/{specimen.uuid}.ris"' in page
