import csv

import pytest
from django.core.management import call_command

from imports.batches import spreadsheet_safe
from specimens.models import ImportBatch, Specimen

from .conftest import DWCA

pytestmark = pytest.mark.django_db


def _run(capsys, *args):
    try:
        call_command("import_specimens", *map(str, args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err


def test_command_exit_0_when_every_row_imports(collection, capsys):
    code, lines, _ = _run(capsys, DWCA / "nhm-data-importer/10_gbif_records.zip", "--collection", "NHMUK:ZOO")
    assert code == 0
    assert lines[-1] == "imported=10 updated=0 rejected=0"


def test_command_exit_1_writes_a_spreadsheet_safe_report(collection, capsys, tmp_path):
    source = tmp_path / "rows.tsv"
    source.write_text("catalogNumber\tdecimalLatitude\tdecimalLongitude\tlocality\n"
                      "A1\t51.5\t-0.1\tLondon\nA2\t95\t0\t=HYPERLINK(\"http://x\")\nA3\t\t\tKew\n")
    report = tmp_path / "report.csv"
    code, lines, _ = _run(capsys, source, "--collection", "NHMUK:ZOO", "--report", report)
    assert code == 1
    assert lines[-1] == "imported=2 updated=0 rejected=1"
    assert f"report: {report}" in lines
    rows = list(csv.DictReader(report.open()))
    assert rows[0]["line"] == "3" and rows[0]["field"] == "decimalLatitude" and rows[0]["value"] == "95"
    assert "between -90 and 90" in rows[0]["problem"]
    assert spreadsheet_safe("=1+1") == "'=1+1" and spreadsheet_safe("-3") == "'-3" and spreadsheet_safe("Kew") == "Kew"


def test_command_exit_2_when_the_file_is_rejected(collection, capsys):
    code, lines, err = _run(capsys, DWCA / "gbif-dwca-io/checklist_980.zip", "--collection", "NHMUK:ZOO")
    assert code == 2
    assert "Taxon" in err
    assert lines[-1] == "imported=0 updated=0 rejected=0"


def test_command_dry_run_writes_nothing(collection, capsys):
    code, lines, _ = _run(capsys, DWCA / "gbif-pipelines-validator/dwca/Archive.zip", "--collection", "NHMUK:ZOO", "--dry-run")
    assert code == 0 and lines[-1] == "imported=19 updated=0 rejected=0"
    assert not Specimen.objects.exists()


def test_command_unknown_collection_is_exit_2(db, capsys):
    code, lines, err = _run(capsys, DWCA / "gbif-pipelines-validator/dwca/Archive.zip", "--collection", "NOPE:X")
    assert code == 2 and "NOPE:X" in err and lines[-1] == "imported=0 updated=0 rejected=0"


def test_command_unknown_user_is_exit_2_and_imports_nothing(collection, capsys):
    code, lines, err = _run(capsys, DWCA / "nhm-data-importer/10_gbif_records.zip", "--collection", "NHMUK:ZOO",
                            "--user", "nobody")
    assert code == 2 and "error: no user 'nobody'." in err and lines[-1] == "imported=0 updated=0 rejected=0"
    assert not Specimen.objects.exists() and not ImportBatch.objects.exists()


def test_command_records_the_named_user_as_the_importer(collection, capsys, django_user_model):
    user = django_user_model.objects.create_user(username="registrar", password="not-used")
    code, lines, _ = _run(capsys, DWCA / "nhm-data-importer/10_gbif_records.zip", "--collection", "NHMUK:ZOO",
                          "--user", "registrar")
    assert (code, lines[-1]) == (0, "imported=10 updated=0 rejected=0")
    assert ImportBatch.objects.get().created_by == user
