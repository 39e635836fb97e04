import csv
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from imports.checklist import (
    ACCEPTED_MISSING, CYCLE, NO_NAME, NOT_A_CHECKLIST, PARENT_MISSING, PARENT_REJECTED, TOO_LONG, taxa_import,
    taxa_import_report_write,
)
from specimens.models import Specimen, Taxon
from specimens.services import taxon_create

from .conftest import DWCA

pytestmark = pytest.mark.django_db

CHECKLIST = DWCA / "gbif-dwca-io/checklist_980.zip"
OCCURRENCES = DWCA / "gbif-pipelines-validator/dwca/Archive.zip"
CHECKLIST_EMPTY_LINES = [2, 10, 15, 18, 46]  # the first of its 33 rows with nothing but a taxonID
CHECKLIST_OPEN_NAMES = {189: "Troglohyphantes sp.", 210: "Pardosa cf. hyperborea", 211: "Pardosa cf. lugubris"}


def _write(tmp_path, name, rows, delimiter="\t"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path


def _taxon(name, **extra):
    return Taxon.objects.select_related("parent", "accepted").get(name=name, **extra)


def _event_count():
    return Taxon.pgh_event_model.objects.count()


# Reverse order on purpose: every child comes before its parent.
ARANEAE = [
    ["taxonID", "parentNameUsageID", "scientificName", "taxonRank", "scientificNameID", "vernacularName"],
    ["t6", "t5", "Agelena labyrinthica (Clerck, 1757)", "species", "urn:lsid:nmbe.ch:spidersp:016178", "labyrinth spider"],
    ["t7", "t5", "Agelena orientalis C. L. Koch, 1837", "species", "", ""],
    ["t5", "t4", "Agelena Walckenaer, 1805", "genus", "", ""],
    ["t4", "t3", "Agelenidae C. L. Koch, 1837", "family", "", "funnel weavers"],
    ["t3", "t2", "Araneae", "order", "", "spiders"],
    ["t2", "t1", "Arachnida", "class", "", ""],
    ["t1", "t0", "Arthropoda", "phylum", "", ""],
    ["t0", "", "Animalia", "kingdom", "", ""],
]


# --- the real checklist -------------------------------------------------------------------------


def test_checklist_980_imports_its_species_under_their_genera():
    result = taxa_import(path=CHECKLIST)

    assert not result.file_errors
    genera = {"Agelena", "Tegenaria", "Amaurobius"}
    assert genera <= set(Taxon.objects.filter(rank="genus").values_list("name", flat=True))
    species = _taxon("Agelena labyrinthica")
    assert (species.rank, species.depth, species.parent.name, species.parent.rank) == ("species", 1, "Agelena", "genus")
    assert species.parent.parent is None and species.path.startswith(species.parent.path)
    assert (species.genus, species.family, species.kingdom) == ("Agelena", "", "")
    assert species.parent.genus == "Agelena"
    assert _taxon("Zygiella x-notata").rank == "species" and _taxon("Micaria aenea").parent.name == "Micaria"
    species_count = Taxon.objects.filter(rank="species").count()
    assert species_count == 320  # every row with genus and specificEpithet, but three
    assert (result.rows, result.rejected, result.matched, result.synonyms) == (356, 36, 0, 0)
    assert result.created == Taxon.objects.count() == species_count + Taxon.objects.filter(rank="genus").count()
    errors = [p for p in result.problems if p.severity == "error"]
    assert [p.line for p in errors][:5] == CHECKLIST_EMPTY_LINES
    assert {p.line: p.value for p in errors if p.message != NO_NAME} == CHECKLIST_OPEN_NAMES
    assert all(p.field == "scientificName" for p in errors if p.message == NO_NAME)


def test_a_second_import_of_the_checklist_changes_nothing():
    first = taxa_import(path=CHECKLIST)
    nodes, events = list(Taxon.objects.order_by("id").values_list("id", "parent_id", "path", "name", "authorship")), _event_count()

    second = taxa_import(path=CHECKLIST)

    assert (second.created, second.updated, second.synonyms, second.rejected) == (0, 0, 0, 36)
    assert second.matched == 320 == first.created - Taxon.objects.filter(rank="genus").count()
    assert list(Taxon.objects.order_by("id").values_list("id", "parent_id", "path", "name", "authorship")) == nodes
    assert _event_count() == events  # not a single history row: nothing was rewritten


def test_dry_run_counts_like_an_import_and_writes_nothing():
    dry = taxa_import(path=CHECKLIST, dry_run=True)

    assert dry.dry_run and dry.created > 320 and dry.rejected == 36
    assert not Taxon.objects.exists() and _event_count() == 0
    assert taxa_import(path=CHECKLIST).created == dry.created


def test_an_archive_folder_with_a_taxon_core_and_default_values(tmp_path):
    folder = tmp_path / "checklist"
    folder.mkdir()
    (folder / "meta.xml").write_text(
        '<archive xmlns="http://rs.tdwg.org/dwc/text/"><core encoding="UTF-8" fieldsTerminatedBy="\\t" '
        'linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Taxon">'
        "<files><location>taxon.txt</location></files><id index=\"0\"/>"
        '<field index="0" term="http://rs.tdwg.org/dwc/terms/taxonID"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/scientificName"/>'
        '<field index="2" term="http://rs.tdwg.org/dwc/terms/family"/>'
        '<field term="http://rs.tdwg.org/dwc/terms/kingdom" default="Animalia"/>'
        "</core></archive>"
    )
    (folder / "taxon.txt").write_text("id\tname\tfamily\nurn:lsid:x:1\tAgelena labyrinthica (Clerck, 1757)\tAgelenidae\n")

    result = taxa_import(path=folder)

    assert (result.created, result.rejected) == (3, 0)
    species = _taxon("Agelena labyrinthica")
    assert (species.parent.name, species.parent.parent.name, species.kingdom, species.family) == (
        "Agelenidae", "Animalia", "Animalia", "Agelenidae")
    assert species.name_id == "urn:lsid:x:1"  # a taxonID that is a URI


# --- parentNameUsageID ------------------------------------------------------------------------


def test_parent_links_in_reverse_order_build_the_tree(tmp_path):
    result = taxa_import(path=_write(tmp_path, "araneae.tsv", ARANEAE))

    assert (result.created, result.matched, result.rejected, result.problems) == (8, 0, 0, [])
    species = _taxon("Agelena labyrinthica")
    chain = []
    node = species
    while node:
        chain.append((node.rank, node.name, node.authorship))
        node = node.parent
    assert chain == [
        ("species", "Agelena labyrinthica", "(Clerck, 1757)"), ("genus", "Agelena", "Walckenaer, 1805"),
        ("family", "Agelenidae", "C. L. Koch, 1837"), ("order", "Araneae", ""), ("class", "Arachnida", ""),
        ("phylum", "Arthropoda", ""), ("kingdom", "Animalia", ""),
    ]
    assert species.depth == 6 and species.path.startswith(_taxon("Animalia").path)
    assert (species.kingdom, species.phylum, species.class_name, species.order, species.family, species.genus) == (
        "Animalia", "Arthropoda", "Arachnida", "Araneae", "Agelenidae", "Agelena")
    assert species.name_id == "urn:lsid:nmbe.ch:spidersp:016178" and species.vernacular_name == "labyrinth spider"
    assert _taxon("Agelenidae").vernacular_name == "funnel weavers"
    assert _taxon("Agelena orientalis").parent == species.parent
    contexts = {e.pgh_context.metadata["action"] for e in Taxon.pgh_event_model.objects.select_related("pgh_context")}
    assert contexts == {"taxa_import"} and Taxon.pgh_event_model.objects.count() == 8


def test_cycle_missing_parent_and_empty_name_are_row_errors_with_their_lines(tmp_path):
    path = _write(tmp_path, "broken.tsv", [
        ["taxonID", "parentNameUsageID", "scientificName", "taxonRank"],
        ["a", "b", "Alpha", "genus"],            # line 2: a → b → a
        ["b", "a", "Beta", "genus"],             # line 3
        ["c", "nope", "Gamma", "genus"],         # line 4: missing parent
        ["d", "", "", ""],                       # line 5: no name
        ["e", "d", "Epsilon", "genus"],          # line 6: under a rejected row
        ["f", "f", "Phi", "genus"],              # line 7: its own parent
        ["g", "", "Gaia", "kingdom"],            # line 8: fine
        ["h", "g", "Helix pomatia Linnaeus, 1758", "species"],  # line 9: fine
        ["i", "g", "Helix " + "x" * 300, "species"],  # line 10: too long
        ["j", "g", "Jota", "genus", "a stray value"],  # line 11: a column too many
        ["k", "j", "Jota kappa", "species"],          # line 12: under an unreadable row
    ])

    result = taxa_import(path=path)

    errors = {p.line: p for p in result.problems if p.severity == "error"}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 10, 11, 12]
    assert errors[2].message == errors[3].message == CYCLE.format(lines="2 → 3 → 2")
    assert errors[4].message == PARENT_MISSING.format(value="nope") and errors[4].field == "parentNameUsageID"
    assert errors[5].message == NO_NAME
    assert errors[6].message == PARENT_REJECTED.format(line=5)
    assert errors[7].message == CYCLE.format(lines="7 → 7")
    assert errors[10].message == TOO_LONG.format(term="The name", limit=255)
    assert "5 values but the file declares 4 columns" in errors[11].message
    assert errors[12].message == PARENT_REJECTED.format(line=11)
    assert (result.rows, result.created, result.rejected) == (11, 2, 9)
    assert list(Taxon.objects.order_by("depth").values_list("name", flat=True)) == ["Gaia", "Helix pomatia"]
    report = io.StringIO()
    assert taxa_import_report_write(result=result, out=report) == 9
    lines = list(csv.DictReader(io.StringIO(report.getvalue())))
    assert (lines[0]["line"], lines[0]["field"], lines[0]["value"], lines[0]["outcome"]) == ("2", "parentNameUsageID", "b", "row not imported")


def test_synonyms_get_their_accepted_name_and_a_second_import_adds_nothing(tmp_path):
    path = _write(tmp_path, "synonyms.csv", [
        ["taxonID", "parentNameUsageID", "acceptedNameUsageID", "acceptedNameUsage", "taxonomicStatus", "scientificName",
         "taxonRank"],
        ["s1", "", "a2", "", "synonym", "Tegenaria silvestris L. Koch, 1872", "species"],
        ["a1", "", "a1", "", "accepted", "Malthonica", "genus"],
        ["a2", "a1", "a2", "", "accepted", "Malthonica silvestris (L. Koch, 1872)", "species"],
        ["s2", "", "", "Malthonica silvestris (L. Koch, 1872)", "HETEROTYPIC_SYNONYM", "Tegenaria montana Wiehle", "species"],
        ["s3", "", "s1", "", "synonym", "Tegenaria sylvestris", "species"],  # a synonym of a synonym
        ["s4", "", "zz", "", "synonym", "Orphana nomen", "species"],
    ], delimiter=",")

    first = taxa_import(path=path)

    accepted = _taxon("Malthonica silvestris")
    assert accepted.accepted is None and accepted.parent == _taxon("Malthonica")
    for name in ("Tegenaria silvestris", "Tegenaria montana", "Tegenaria sylvestris"):
        synonym = _taxon(name)
        assert synonym.accepted == accepted
        assert synonym.parent == accepted.parent and synonym.genus == "Malthonica"  # beside its accepted name
    assert (first.created, first.synonyms, first.rejected) == (5, 3, 1)
    assert [(p.line, p.message) for p in first.problems] == [(7, ACCEPTED_MISSING.format(value="zz"))]
    # An accepted name that is not the only node of its name in the tree must still be matched in place.
    taxon_create(name="Tegenaria silvestris", rank="species", authorship="L. Koch, 1872")
    count = Taxon.objects.count()

    second = taxa_import(path=path)

    assert (second.created, second.matched, second.synonyms, second.updated) == (0, 5, 0, 0)
    assert Taxon.objects.count() == count


# --- classification columns -------------------------------------------------------------------


def test_classification_columns_build_the_tree_and_share_a_higher_taxon_authorship(tmp_path):
    head = ["taxonID", "kingdom", "phylum", "class", "order", "family", "genus", "specificEpithet",
            "infraspecificEpithet", "taxonRank", "scientificName", "scientificNameAuthorship", "parentNameUsageID"]
    path = _write(tmp_path, "classification.tsv", [
        head,
        ["1", "Plantae", "Tracheophyta", "Magnoliopsida", "Asterales", "Asteraceae", "Bellis", "perennis", "", "species",
         "Bellis perennis L.", "L.", ""],
        ["2", "Plantae", "Tracheophyta", "Magnoliopsida", "Asterales", "Asteraceae", "Bellis", "annua", "", "", "", "L.", ""],
        ["3", "Plantae", "Tracheophyta", "Magnoliopsida", "Asterales", "Asteraceae", "Bellis", "", "", "genus",
         "Bellis L.", "", ""],
        ["4", "Plantae", "Tracheophyta", "Magnoliopsida", "Asterales", "Asteraceae", "", "", "", "family", "", "Bercht. & J.Presl", ""],
    ])

    result = taxa_import(path=path)

    assert (result.rejected, result.problems) == (0, [])
    assert Taxon.objects.filter(name="Bellis").count() == 1  # the genus column and the genus row: one node
    bellis = _taxon("Bellis")
    assert (bellis.authorship, bellis.parent.name, bellis.parent.authorship) == ("L.", "Asteraceae", "Bercht. & J.Presl")
    annua = _taxon("Bellis annua")
    assert (annua.rank, annua.authorship, annua.parent, annua.family, annua.kingdom) == (
        "species", "L.", bellis, "Asteraceae", "Plantae")
    assert result.created == Taxon.objects.count() == 8


def test_an_unauthored_node_already_in_the_tree_is_matched_and_given_the_authorship(tmp_path):
    kingdom = taxon_create(name="Animalia", rank="kingdom")
    path = _write(tmp_path, "kingdom.tsv", [
        ["taxonID", "parentNameUsageID", "scientificName", "taxonRank", "scientificNameID"],
        ["k", "", "Animalia Linnaeus, 1758", "kingdom", "https://www.catalogueoflife.org/data/taxon/N"],
        ["p", "k", "Chordata", "phylum", ""],
    ])

    result = taxa_import(path=path)

    kingdom.refresh_from_db()
    assert (result.created, result.matched, result.updated) == (1, 1, 1)
    assert (kingdom.authorship, kingdom.name_id) == ("Linnaeus, 1758", "https://www.catalogueoflife.org/data/taxon/N")
    assert Taxon.objects.filter(name="Animalia").count() == 1 and _taxon("Chordata").parent == kingdom


def test_queries_do_not_grow_with_the_number_of_taxa(tmp_path):
    def checklist(name, genera):
        rows = [["taxonID", "parentNameUsageID", "scientificName", "taxonRank", "acceptedNameUsageID"],
                ["k", "", f"Regnum{name}", "kingdom", ""]]
        for g in range(genera):
            rows.append([f"g{g}", "k", f"Genus{name}{g}", "genus", ""])
            rows += [[f"s{g}.{e}", f"g{g}", f"Genus{name}{g} epithet{e}", "species", ""] for e in range(5)]
            rows.append([f"y{g}", "", f"Genus{name}{g} synonymus", "species", f"s{g}.0"])
        return _write(tmp_path, f"{name}.tsv", rows)

    counts = []
    for name, genera in (("small", 3), ("large", 60)):
        with CaptureQueriesContext(connection) as queries:
            result = taxa_import(path=checklist(name, genera))
        assert result.created == 1 + genera * 7 and result.synonyms == genera
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- refusals and the command -----------------------------------------------------------------


def test_an_occurrence_archive_is_refused_naming_its_core():
    result = taxa_import(path=OCCURRENCES)

    assert result.file_rejected and not Taxon.objects.exists()
    assert "Occurrence" in result.file_errors[0] and "import_specimens" in result.file_errors[0]


def test_an_occurrence_csv_is_refused(tmp_path):
    path = _write(tmp_path, "specimens.csv", [["catalogNumber", "scientificName"], ["K1", "Bellis perennis"]], delimiter=",")

    result = taxa_import(path=path)

    assert result.file_errors == [NOT_A_CHECKLIST.format(columns="catalogNumber")]


def _command(capsys, *args):
    try:
        call_command("import_taxa", *map(str, args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err


def test_command_exit_0_when_every_row_imports(tmp_path, capsys):
    code, lines, _ = _command(capsys, _write(tmp_path, "araneae.tsv", ARANEAE))
    assert (code, lines[-1]) == (0, "created=8 matched=0 synonyms=0 rejected=0")
    code, lines, _ = _command(capsys, _write(tmp_path, "araneae.tsv", ARANEAE))
    assert (code, lines[-1]) == (0, "created=0 matched=8 synonyms=0 rejected=0")


def test_command_exit_1_writes_the_report(tmp_path, capsys):
    report = tmp_path / "report.csv"
    code, lines, _ = _command(capsys, CHECKLIST, "--report", report, "--dry-run")
    assert code == 1
    assert f"report: {report}" in lines and lines[-1].endswith("synonyms=0 rejected=36")
    rows = [r for r in csv.DictReader(report.open()) if r["outcome"] == "row not imported"]
    assert len(rows) == 36 and rows[0]["line"] == "2"
    assert not Taxon.objects.exists()


def test_command_exit_2_when_the_file_is_not_a_checklist(capsys):
    code, lines, err = _command(capsys, OCCURRENCES)
    assert code == 2 and "Taxon core" in err
    assert lines[-1] == "created=0 matched=0 synonyms=0 rejected=0"


def test_command_unknown_user_is_exit_2_and_imports_nothing(tmp_path, capsys):
    code, lines, err = _command(capsys, _write(tmp_path, "araneae.tsv", ARANEAE), "--user", "nobody")
    assert code == 2 and "error: no user 'nobody'." in err
    assert lines[-1] == "created=0 matched=0 synonyms=0 rejected=0"
    assert not Taxon.objects.exists()


# --- the tree then serves specimen imports ------------------------------------------------------


def test_a_specimen_named_as_an_imported_species_attaches_to_that_node(tmp_path, run_import):
    taxa_import(path=CHECKLIST)
    count = Taxon.objects.count()
    node = _taxon("Agelena labyrinthica")
    path = _write(tmp_path, "specimens.tsv", [["catalogNumber", "scientificName"], ["SPI-1", "Agelena labyrinthica"]])

    batch = run_import(path)

    assert batch.inserted_count == 1
    assert Specimen.objects.get(catalog_number="SPI-1").taxon == node
    assert Taxon.objects.count() == count
