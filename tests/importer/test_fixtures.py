"""Each real archive under shared/testdata/dwca imports or is rejected as DESIGN §4.2 says."""

import pytest

from specimens.models import ImportBatch, ImportRowError, Specimen, SpecimenEvent, Taxon

from .conftest import DWCA

pytestmark = pytest.mark.django_db
VALIDATOR = DWCA / "gbif-pipelines-validator" / "dwca"


def _errors(batch):
    return list(ImportRowError.objects.filter(batch=batch, severity="error").values_list("line", "column", "message"))


def test_gbif_results_maps_the_enum_parses_java_dates_and_rejects_in_file_duplicates(run_import, collection):
    batch = run_import(DWCA / "python-dwca-reader/gbif-results.zip")

    assert batch.status == ImportBatch.Status.DONE
    assert batch.rows_total == 158
    # KU published three specimens twice under different GBIF ids: the second copy of each is refused.
    assert (batch.inserted_count, batch.rejected_count) == (155, 3)
    assert {(line, column) for line, column, _ in _errors(batch)} == {
        (156, "catalogNumber"), (157, "catalogNumber"), (158, "catalogNumber")}
    assert any("Java date" in w for w in batch.file_warnings)
    specimen = Specimen.objects.get(collection=collection, catalog_number="37109")
    assert specimen.basis_of_record == "PreservedSpecimen"
    assert (specimen.event_date, specimen.verbatim_event_date) == ("1930-04-01", "Tue Apr 01 00:00:00 CET 1930")
    assert specimen.event_date_start.isoformat() == "1930-04-01"
    assert specimen.occurrence_id.endswith(f"/specimen/{specimen.uuid}")  # "607759330" is no URI: ours minted
    assert specimen.import_batch == batch
    assert specimen.taxon.name == "Chelonodon fluviatilis" and specimen.taxon.authorship == "(Hamilton, 1822)"
    assert specimen.taxon.family == "Tetraodontidae" and specimen.taxon.kingdom == "Animalia"
    assert list(specimen.agent_links.order_by("order").values_list("agent__name", flat=True)) == [
        "Misra, K. S.", "Rao, H. Srinivasa"]
    assert specimen.identifications.get(is_current=True).taxon == specimen.taxon
    # Junk in an optional number (coordinatePrecision "m") drops the value, not the row.
    assert ImportRowError.objects.filter(batch=batch, severity="warning", column="coordinatePrecision").exists()


def test_second_import_of_the_same_file_changes_nothing(run_import, collection):
    run_import(DWCA / "python-dwca-reader/gbif-results.zip")
    events, taxa = SpecimenEvent.objects.count(), Taxon.objects.count()

    again = run_import(DWCA / "python-dwca-reader/gbif-results.zip")

    assert (again.inserted_count, again.updated_count, again.unchanged_count) == (0, 0, 155)
    assert SpecimenEvent.objects.count() == events
    assert Taxon.objects.count() == taxa
    assert Specimen.objects.filter(collection=collection).count() == 155


def test_changed_rows_are_updated_with_history_and_kept_occurrence_id(run_import, collection, tmp_path):
    source = tmp_path / "first.csv"
    source.write_text("catalogNumber,occurrenceID,locality,scientificName\n"
                      "E001,https://data.example.org/occ/1,Kew,Bellis perennis L.\nE002,,Wakehurst,Poa annua L.\n")
    first = run_import(source)
    assert first.inserted_count == 2
    kept = Specimen.objects.get(catalog_number="E001")
    assert kept.occurrence_id == "https://data.example.org/occ/1"  # an external URI is kept
    source.write_text("catalogNumber,occurrenceID,locality,scientificName\n"
                      "E001,https://data.example.org/occ/1,Kew Gardens,Bellis perennis L.\nE002,,Wakehurst,Poa annua L.\n")

    second = run_import(source)

    assert (second.inserted_count, second.updated_count, second.unchanged_count) == (0, 1, 1)
    kept.refresh_from_db()
    assert (kept.locality, kept.version, kept.import_batch_id) == ("Kew Gardens", 2, second.pk)
    # Version 1 from the first import, then this import's change (and the snapshot before it).
    events = list(SpecimenEvent.objects.filter(pgh_obj=kept).order_by("pgh_id").values_list("pgh_label", "locality", "version"))
    assert events == [("insert", "Kew", 1), ("before_import", "Kew", 1), ("update", "Kew Gardens", 2)]


def test_utf8_eol_archive_keeps_the_nel_verbatim(run_import):
    batch = run_import(DWCA / "python-dwca-reader/dwca-utf8-eol-test.zip")
    assert (batch.inserted_count, batch.rejected_count) == (1, 0)
    assert "\u0085" in Specimen.objects.get().identified_by


def test_malformed_descriptor_reads_missing_columns_as_empty_with_a_warning(run_import):
    batch = run_import(DWCA / "python-dwca-reader/dwca-malformed-descriptor")
    assert batch.status == ImportBatch.Status.DONE
    assert batch.inserted_count == 4
    assert any("fewer columns" in w for w in batch.file_warnings)


def test_checklist_is_refused_for_a_specimen_import_naming_the_row_type(run_import):
    batch = run_import(DWCA / "gbif-dwca-io/checklist_980.zip")
    assert batch.status == ImportBatch.Status.REJECTED
    assert "http://rs.tdwg.org/dwc/terms/Taxon" in batch.file_errors[0]
    assert not Specimen.objects.exists()


def test_archive_zip_keeps_the_us_date_verbatim_and_guesses_nothing(run_import):
    batch = run_import(VALIDATOR / "Archive.zip")
    assert (batch.inserted_count, batch.rejected_count) == (19, 0)
    specimen = Specimen.objects.get(catalog_number="RSKM_ENT_E-0100327")
    assert (specimen.verbatim_event_date, specimen.event_date, specimen.event_date_start) == ("6/16/2009", "", None)
    assert specimen.recorded_by == '"J. Neff, A. Hook"'
    assert specimen.type_status == "holotype"


@pytest.mark.parametrize("folder, message", [
    ("dwca-occurrence-broken", "line 7"),
    ("dwca-occurrence-schema", "<files><location>"),
    ("dwca-meta-broken", "occurrence.txt"),
])
def test_broken_archives_are_rejected_with_the_missing_piece(run_import, folder, message):
    batch = run_import(VALIDATOR / folder)
    assert batch.status == ImportBatch.Status.REJECTED
    assert message in batch.file_errors[0]
    assert not Specimen.objects.exists() and not ImportRowError.objects.exists()


def test_missing_eml_warns_and_orphan_extension_rows_are_two_row_errors(run_import):
    batch = run_import(VALIDATOR / "dwca-ref-integrity-issue")
    assert batch.inserted_count == 19
    assert any("eml.xml" in w for w in batch.file_warnings)
    orphans = ImportRowError.objects.filter(batch=batch, column__startswith="identification.txt")
    assert orphans.count() == 2 and batch.rejected_count == 2


def test_poor_eml_imports_with_metadata_warnings(run_import):
    batch = run_import(VALIDATOR / "dwca-eml-content-issue")
    assert batch.inserted_count == 19
    assert any("'Di'" in w for w in batch.file_warnings)


def test_nhm_simple_download_without_meta_xml_imports_ten_rows(run_import):
    batch = run_import(DWCA / "nhm-data-importer/10_gbif_records.zip")
    assert (batch.inserted_count, batch.rejected_count) == (10, 0)
    assert Specimen.objects.filter(catalog_number="2018.2741-2742").exists()


def test_dry_run_counts_and_reports_but_writes_no_specimen(run_import):
    batch = run_import(DWCA / "python-dwca-reader/gbif-results.zip", dry_run=True)
    assert (batch.inserted_count, batch.rejected_count) == (155, 3)
    assert not Specimen.objects.exists() and not Taxon.objects.exists()
    assert ImportRowError.objects.filter(batch=batch, severity="error").count() == 3
