"""Zip entry names as real archives write them (issue 10): a real IPT archive of 47,000 fungi has
every entry under a leading '/' ('/eml.xml', '/meta.xml', '/occurrence.txt'). Nothing is extracted,
so such names are relative; names that climb out ('..') or are links stay refused (test_hostile)."""

import zipfile

import pytest

from specimens.models import ImportBatch, Specimen

from .archives import dwca_write, occurrences

pytestmark = pytest.mark.django_db
ROWS = [{"catalogNumber": "F1", "scientificName": "Amanita muscaria"}, {"catalogNumber": "F2", "eventDate": "1999"}]


@pytest.mark.parametrize("prefix", ["/", "./", "//"])
def test_entries_with_a_leading_slash_or_dot_slash_are_read_as_relative_names(run_import, tmp_path, prefix):
    archive = dwca_write(tmp_path / "ipt.zip", core=occurrences(ROWS), prefix=prefix)
    assert zipfile.ZipFile(archive).namelist()[0] == prefix + "meta.xml"

    batch = run_import(archive)

    assert (batch.status, batch.inserted_count, batch.rejected_count) == (ImportBatch.Status.DONE, 2, 0)
    assert not any("metadata" in w.lower() for w in batch.file_warnings)  # /eml.xml found as eml.xml
    assert Specimen.objects.filter(catalog_number="F1", scientific_name="Amanita muscaria").exists()


def test_two_entries_that_name_the_same_file_are_refused(run_import, tmp_path):
    archive = dwca_write(tmp_path / "ipt.zip", core=occurrences(ROWS), prefix="/")
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("occurrence.txt", "id\tcatalogNumber\n1\tEVIL\n")

    batch = run_import(archive)

    assert batch.status == ImportBatch.Status.REJECTED
    assert "two entries named 'occurrence.txt'" in batch.file_errors[0]
    assert not Specimen.objects.exists()
