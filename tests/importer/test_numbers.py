"""Numbers in the forms real files write them are read; anything else is a row error, never a crash."""

import pytest

from specimens.models import ImportRowError, Specimen

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("latitude, longitude, expected", [
    ("51.5", "-0.1", ("51.500000", "-0.100000")),
    (" +51.5 ", "-.5", ("51.500000", "-0.500000")),
    ("5.", "1e1", ("5.000000", "10.000000")),
    ("5.1E+1", "-1.2e-1", ("51.000000", "-0.120000")),
    ("51.1234567", "0", ("51.123457", "0.000000")),  # rounded to the column's six places
])
def test_coordinates_in_the_forms_files_use_are_read(run_import, tmp_path, latitude, longitude, expected):
    source = tmp_path / "coordinates.csv"
    source.write_text(f"catalogNumber,decimalLatitude,decimalLongitude\nC1,{latitude},{longitude}\n")

    batch = run_import(source)

    assert (batch.inserted_count, batch.rejected_count) == (1, 0)
    specimen = Specimen.objects.get(catalog_number="C1")
    assert (str(specimen.decimal_latitude), str(specimen.decimal_longitude)) == expected


@pytest.mark.parametrize("latitude", ["51,5", "NaN", "Infinity", "1e999", "51.5.1", "N 51", "--5", "1" * 70, "."])
def test_text_that_is_not_a_plain_number_rejects_the_row_with_its_value(run_import, tmp_path, latitude):
    source = tmp_path / "coordinates.csv"
    source.write_text(f'catalogNumber,decimalLatitude,decimalLongitude\nC1,"{latitude}",-0.1\nC2,51.5,-0.1\n')

    batch = run_import(source)

    assert (batch.inserted_count, batch.rejected_count) == (1, 1)
    error = ImportRowError.objects.get(batch=batch, line=2, column="decimalLatitude")
    assert error.value == latitude and "must be a number" in error.message


@pytest.mark.parametrize("count, stored", [("3", 3), ("+12", 12), ("1.5", None), ("12345678901", None), ("-2", None)])
def test_a_bad_individual_count_is_left_out_with_a_warning_and_the_row_kept(run_import, tmp_path, count, stored):
    source = tmp_path / "counts.csv"
    source.write_text(f"catalogNumber,individualCount\nC1,{count}\n")

    batch = run_import(source)

    assert (batch.inserted_count, batch.rejected_count) == (1, 0)
    assert Specimen.objects.get(catalog_number="C1").individual_count == stored
    warned = ImportRowError.objects.filter(batch=batch, column="individualCount", severity="warning").exists()
    assert warned == (stored is None)
