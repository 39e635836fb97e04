"""Hostile uploads are refused with a clear message, and nothing is written."""

import io
import os
import stat
import zipfile

import pytest

from specimens.models import ImportBatch, ImportRowError, Specimen

pytestmark = pytest.mark.django_db
META = (
    '<archive xmlns="http://rs.tdwg.org/dwc/text/"><core encoding="UTF-8" fieldsTerminatedBy="\\t" '
    'linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">'
    "<files><location>occurrence.txt</location></files><id index=\"0\"/>"
    '<field index="0" term="http://rs.tdwg.org/dwc/terms/catalogNumber"/></core></archive>'
)
DATA = "catalogNumber\nA1\nA2\n"


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                archive.writestr(name, data)
            else:
                archive.writestr(name, data)
    return path


def _assert_rejected(batch, message):
    assert batch.status == ImportBatch.Status.REJECTED, batch.file_errors
    assert message in batch.file_errors[0]
    assert not Specimen.objects.exists() and not ImportRowError.objects.exists()


def test_a_valid_hand_made_archive_imports(run_import, tmp_path):
    batch = run_import(_zip(tmp_path / "ok.zip", [("meta.xml", META), ("occurrence.txt", DATA)]))
    assert batch.inserted_count == 2


def test_not_an_archive(run_import, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200))
    _assert_rejected(run_import(path), "neither a zip archive nor a text")


def test_gzip_is_not_a_zip(run_import, tmp_path):
    path = tmp_path / "data.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    _assert_rejected(run_import(path), "gzip")


def test_zip_bomb_is_refused_before_extraction(run_import, tmp_path):
    bomb = b"\x00" * (200 * 1024**2)  # compresses ~1000×
    _assert_rejected(run_import(_zip(tmp_path / "bomb.zip", [("meta.xml", META), ("occurrence.txt", bomb)])), "zip bomb")


def test_too_many_entries(run_import, tmp_path):
    entries = [("meta.xml", META), ("occurrence.txt", DATA)] + [(f"x/{i}.txt", "") for i in range(1001)]
    _assert_rejected(run_import(_zip(tmp_path / "many.zip", entries)), "entries")


@pytest.mark.parametrize("name, message", [
    ("../evil.txt", "outside the archive"), ("/../evil.txt", "outside the archive"), ("./../evil.txt", "outside the archive"),
    ("C:/evil.txt", "absolute path"),
])
def test_zip_slip_names(run_import, tmp_path, name, message):
    path = _zip(tmp_path / "slip.zip", [("meta.xml", META), ("occurrence.txt", DATA), (zipfile.ZipInfo(name), "x")])
    _assert_rejected(run_import(path), message)


def test_symlink_entry(run_import, tmp_path):
    link = zipfile.ZipInfo("occurrence.txt")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    _assert_rejected(run_import(_zip(tmp_path / "link.zip", [("meta.xml", META), (link, "/etc/passwd")])), "symbolic link")


def test_symlink_in_a_folder(run_import, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "meta.xml").write_text(META)
    (folder / "occurrence.txt").symlink_to("/etc/passwd")
    _assert_rejected(run_import(folder), "symbolic link")


def test_nested_archive(run_import, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("occurrence.txt", DATA)
    path = _zip(tmp_path / "nested.zip", [("meta.xml", META), ("inner.zip", inner.getvalue()), ("occurrence.txt", DATA)])
    _assert_rejected(run_import(path), "nested archives")


def test_external_entity_in_meta_xml(run_import, tmp_path):
    xxe = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + META.replace("occurrence.txt", "&x;")
    _assert_rejected(run_import(_zip(tmp_path / "xxe.zip", [("meta.xml", xxe), ("occurrence.txt", DATA)])), "DTD or XML entities")


def test_billion_laughs_in_meta_xml(run_import, tmp_path):
    lol = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + META
    _assert_rejected(run_import(_zip(tmp_path / "lol.zip", [("meta.xml", lol), ("occurrence.txt", DATA)])), "DTD or XML entities")


def test_a_100_mb_single_line(run_import, tmp_path):
    path = tmp_path / "long.csv"
    with open(path, "wb") as out:
        out.write(b"catalogNumber,locality\nA1,")
        out.write(b"x" * (100 * 1024**2))
        out.write(b"\n")
    _assert_rejected(run_import(path), "longer than 1 MB")


def test_latin1_file_without_a_declared_encoding(run_import, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("catalogNumber,locality\nA1,Orléans\n".encode("latin-1"))
    _assert_rejected(run_import(path), "not valid UTF-8")


def test_latin1_declared_in_meta_xml_is_decoded(run_import, tmp_path):
    meta = META.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace(
        "</core>", '<field index="1" term="http://rs.tdwg.org/dwc/terms/locality"/></core>')
    data = "catalogNumber\tlocality\nA1\tOrléans\n".encode("latin-1")
    batch = run_import(_zip(tmp_path / "latin.zip", [("meta.xml", meta), ("occurrence.txt", data)]))
    assert batch.inserted_count == 1
    assert Specimen.objects.get().locality == "Orléans"


def test_utf16_file(run_import, tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("catalogNumber\nA1\n".encode("utf-16"))
    _assert_rejected(run_import(path), "UTF-16")
