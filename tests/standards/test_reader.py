import pytest

from standards.archive import ArchiveError
from standards.reader import dwc_open
from standards.terms import row_type_is_occurrence, term_canonical

from tests.paths import DWCA  # noqa: E402


@pytest.mark.parametrize("term, expected", [
    ("http://rs.tdwg.org/dwc/terms/catalogNumber", "catalogNumber"),
    ("dwc:catalogNumber", "catalogNumber"),
    ("CatalogNumber", "catalogNumber"),
    ("catalog_number", "catalogNumber"),
    ("\ufeffoccurrenceID", "occurrenceID"),
    ("Collector", "recordedBy"),
    ("http://purl.org/dc/terms/license", "license"),
    ("http://rs.tdwg.org/dwc/terms/materialEntityType", "materialEntityType"),  # Darwin Core since 2025-06-12
    ("dwc:materialEntityType", "materialEntityType"),
    ("http://rs.tdwg.org/dwc/terms/caste", "caste"),  # Darwin Core since 2023-06-16
    ("dwc:vitality", "vitality"),  # Darwin Core since 2023-09-13
    ("http://rs.gbif.org/terms/1.0/kingdomID", None),
])
def test_term_canonical_maps_uris_prefixes_legacy_names_and_case(term, expected):
    assert term_canonical(term) == expected


def test_legacy_darwin_core_row_type_counts_as_occurrence():
    assert row_type_is_occurrence("http://rs.tdwg.org/dwc/terms/DarwinCore")
    assert not row_type_is_occurrence("http://rs.tdwg.org/dwc/terms/Taxon")


def test_gbif_results_reads_158_rows_without_header_and_finds_metadata_xml():
    with dwc_open(DWCA / "python-dwca-reader/gbif-results.zip") as archive:
        rows = list(archive.core_records())
        assert archive.core.header_lines == 0
        assert archive.metadata_name == "metadata.xml"
    assert len(rows) == 158
    assert {len(values) for _, values in rows} == {64}
    assert rows[0][1][5] == "PRESERVED_SPECIMEN"


def test_nel_inside_a_value_stays_in_the_value():
    with dwc_open(DWCA / "python-dwca-reader/dwca-utf8-eol-test.zip") as archive:
        rows = list(archive.core_records())
    assert len(rows) == 1
    assert "\u0085" in rows[0][1][60]  # the double-encoded "Å" of "Åhlander"


def test_checklist_reads_bom_semicolons_and_quotes():
    with dwc_open(DWCA / "gbif-dwca-io/checklist_980.zip") as archive:
        assert archive.core.row_type.endswith("/Taxon")
        assert archive.core_format.bom == b"\xef\xbb\xbf"
        header = next(archive.core_records())[1]
    assert header[0] == "taxonID" and len(header) == 19


def test_archive_zip_keeps_literal_quotes_when_no_enclosure_is_declared():
    with dwc_open(DWCA / "gbif-pipelines-validator/dwca/Archive.zip") as archive:
        rows = list(archive.core_records())
    assert len(rows) == 20  # header + 19
    assert rows[1][1][14] == '"J. Neff, A. Hook"'


def test_simple_archive_without_meta_xml_is_read_from_its_header():
    with dwc_open(DWCA / "nhm-data-importer/10_gbif_records.zip") as archive:
        assert archive.core.delimiter == "\t"
        assert not archive.core.declared
        assert len(list(archive.core_records())) == 11


@pytest.mark.parametrize("folder, message", [
    ("dwca-occurrence-broken", "not well-formed XML at line 7"),
    ("dwca-occurrence-schema", "has no <files><location>"),
    ("dwca-meta-broken", "names the data file 'occurrence.txt', which is not in the folder"),
])
def test_broken_descriptors_are_file_errors_naming_the_problem(folder, message):
    with pytest.raises(ArchiveError, match=message):
        dwc_open(DWCA / "gbif-pipelines-validator/dwca" / folder)


def test_missing_eml_and_poor_eml_are_warnings():
    with dwc_open(DWCA / "gbif-pipelines-validator/dwca/dwca-ref-integrity-issue") as archive:
        assert any("eml.xml" in w and "missing" in w for w in archive.warnings)
    with dwc_open(DWCA / "gbif-pipelines-validator/dwca/dwca-eml-content-issue") as archive:
        assert any("'Di'" in w for w in archive.warnings)
        assert any("no creator" in w for w in archive.warnings)


def test_crlf_capitalised_terms_legacy_row_type_and_wrong_metadata_name(tmp_path):
    (tmp_path / "meta.xml").write_text(
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">'
        '<core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" '
        'rowType="http://rs.tdwg.org/dwc/terms/DarwinCore"><files><location>data.txt</location></files><id index="0"/>'
        '<field index="0" term="http://rs.tdwg.org/dwc/terms/CatalogNumber"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/ScientificName"/></core></archive>'
    )
    (tmp_path / "dataset.xml").write_text('<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"><dataset>'
                                         "<title>A long enough title</title><creator/></dataset></eml:eml>")
    (tmp_path / "data.txt").write_bytes(b"CatalogNumber\tScientificName\r\nA1\tBellis perennis\r\nA2\tPoa annua\n")
    with dwc_open(tmp_path) as archive:
        rows = list(archive.core_records())
        assert [f.canonical for f in archive.core.fields] == ["catalogNumber", "scientificName"]
        assert archive.metadata_name == "dataset.xml"
    assert rows[1:] == [(2, ["A1", "Bellis perennis"]), (3, ["A2", "Poa annua"])]


def test_material_entity_type_is_read_as_darwin_core_without_a_warning(tmp_path):
    (tmp_path / "meta.xml").write_text(
        '<archive xmlns="http://rs.tdwg.org/dwc/text/">'
        '<core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" '
        'rowType="http://rs.tdwg.org/dwc/terms/Occurrence"><files><location>occurrence.txt</location></files><id index="0"/>'
        '<field index="0" term="http://rs.tdwg.org/dwc/terms/catalogNumber"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/materialEntityType"/></core></archive>'
    )
    (tmp_path / "occurrence.txt").write_text("catalogNumber\tmaterialEntityType\nK000001\tHerbarium sheet\n")
    with dwc_open(tmp_path) as archive:
        assert [f.canonical for f in archive.core.fields] == ["catalogNumber", "materialEntityType"]
        assert not [w for w in archive.warnings if "not Darwin Core" in w], archive.warnings
