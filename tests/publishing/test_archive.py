"""Every archive we write, read back by an independent reader (python-dwca-reader), its meta.xml
held to the TDWG text schema, its EML to GBIF's required elements."""

import re
import zipfile
from decimal import Decimal

import pytest
from django.core.management import call_command
from lxml import etree

from publishing.archives import archive_write
from publishing.services import dataset_eml, dataset_scope
from specimens.models import Specimen, Taxon
from standards.eml import eml_problems
from tests.factories.specimens import SpecimenFactory
from tests.paths import DWCA

from .conftest import archive_read, identification_add, published

pytestmark = pytest.mark.django_db
DWC = "http://rs.tdwg.org/dwc/terms/"


def tdwg_text_schema() -> etree.XMLSchema:
    """The TDWG text schema with its two remote xs:imports stripped (meta.xml uses neither)."""
    text = (DWCA / "schema" / "tdwg_dwc_text.xsd").read_text()
    text = re.sub(r"<xs:import\b[^>]*/>", "", text)
    text = re.sub(r"<xs:import\b.*?</xs:import>", "", text, flags=re.S)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.fromstring(text.encode(), parser))


def write(dataset, path):
    return archive_write(scope=dataset_scope(dataset), path=path, eml=dataset_eml(dataset, number="1.0"),
                         image_licence=dataset.image_licence)


def test_archive_reads_back_with_every_row_term_and_extension(dataset, collection, tmp_path):
    first, second = published(collection, 2, recorded_by="A. Smith | B. Jones", decimal_latitude=Decimal("51.5"),
                              decimal_longitude=Decimal("-0.12"), locality="Kew Green", mids_level=2)
    identification_add(first, name="Bellis perennis", identified_by="J. Hooker", is_current=False)
    identification_add(first, name="Bellis annua", identified_by="G. Bentham", type_status="holotype")
    Specimen.objects.filter(pk=first.pk).update(
        media=[{"uuid": "0b6f1a0e-0000-4000-8000-000000000001", "order": 0, "licence": "http://creativecommons.org/licenses/by/4.0/legalcode",
                "kind": "specimen", "iiif_service": "/iiif/3/0b6f1a0e-0000-4000-8000-000000000001"}],
        external_media=[{"url": "https://images.example.org/a.jpg", "format": "image/jpeg", "license": "CC0"}])
    SpecimenFactory(collection=collection)  # a draft: never exported
    counts = write(dataset, tmp_path / "a.zip")

    read = archive_read(tmp_path / "a.zip")
    assert counts == {"occurrence.txt": 2, "identification.txt": 2, "multimedia.txt": 2, "measurementorfact.txt": 2}
    assert sorted(row[DWC + "catalogNumber"] for row in read["core"]) == sorted([first.catalog_number, second.catalog_number])
    row = next(r for r in read["core"] if r[DWC + "catalogNumber"] == first.catalog_number)
    assert row[DWC + "occurrenceID"] == first.occurrence_id
    assert row[DWC + "recordedBy"] == "A. Smith | B. Jones"
    assert row[DWC + "decimalLatitude"] == "51.5" and row[DWC + "decimalLongitude"] == "-0.12"
    assert row[DWC + "locality"] == "Kew Green"
    assert row[DWC + "associatedMedia"] == (
        "http://127.0.0.1:8000/iiif/3/0b6f1a0e-0000-4000-8000-000000000001/full/max/0/default.jpg | https://images.example.org/a.jpg")
    assert row["http://purl.org/dc/terms/license"].startswith("http://creativecommons.org/publicdomain/zero")
    identifications = read["extensions"][DWC + "Identification"]
    assert [(i[DWC + "identifiedBy"], i[DWC + "identificationVerificationStatus"]) for _, i in identifications] == [
        ("G. Bentham", "current"), ("J. Hooker", "superseded")]
    media = read["extensions"]["http://rs.gbif.org/terms/1.0/Multimedia"]
    assert {m["http://purl.org/dc/terms/identifier"] for _, m in media} == {
        "http://127.0.0.1:8000/iiif/3/0b6f1a0e-0000-4000-8000-000000000001/full/max/0/default.jpg",
        "https://images.example.org/a.jpg"}
    facts = read["extensions"][DWC + "MeasurementOrFact"]
    assert {(f[DWC + "measurementType"], f[DWC + "measurementValue"]) for _, f in facts} == {("MIDS level", "2")}
    assert all(not rows for rows in read["orphans"].values())


def test_meta_xml_validates_against_the_tdwg_text_schema(dataset, collection, tmp_path):
    published(collection, 1)
    write(dataset, tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        meta = archive.read("meta.xml")
        header = archive.read("occurrence.txt").split(b"\n", 1)[0]
    schema = tdwg_text_schema()
    assert schema.validate(etree.fromstring(meta)), schema.error_log
    core = etree.fromstring(meta).find("{http://rs.tdwg.org/dwc/text/}core")
    assert core.get("fieldsTerminatedBy") == "\\t" and core.get("fieldsEnclosedBy") == "" and core.get("ignoreHeaderLines") == "1"
    assert len(core.findall("{http://rs.tdwg.org/dwc/text/}field")) == len(header.split(b"\t"))


def test_schema_check_can_fail():
    broken = (DWCA / "gbif-pipelines-validator" / "dwca" / "dwca-occurrence-schema" / "meta.xml").read_bytes()
    assert not tdwg_text_schema().validate(etree.fromstring(broken))


def test_eml_carries_gbif_required_elements_and_coverage(dataset, collection, tmp_path):
    taxon = Taxon.objects.create(name="Bellis", rank="genus", path="zz00001", kingdom="Plantae", family="Asteraceae")
    published(collection, 1, taxon=taxon, decimal_latitude=Decimal("50"), decimal_longitude=Decimal("-3"),
              event_date="1990-01-02", event_date_start="1990-01-02", event_date_end="1990-01-02")
    from publishing.services import _coverage
    from django.db import connection

    with connection.cursor() as cursor:
        coverage = _coverage(cursor, dataset_scope(dataset))
    eml = dataset_eml(dataset, number="1.0", coverage=coverage)
    assert eml_problems(eml) == []
    root = etree.fromstring(eml)
    assert root.get("packageId") == f"{dataset.uuid}/v1.0"
    for path in ("dataset/title", "dataset/creator/individualName/surName", "dataset/contact/electronicMailAddress",
                 "dataset/metadataProvider", "dataset/pubDate", "dataset/language", "dataset/abstract/para",
                 "dataset/intellectualRights/para/ulink/citetitle", "dataset/maintenance/maintenanceUpdateFrequency",
                 "dataset/coverage/geographicCoverage/boundingCoordinates/northBoundingCoordinate",
                 "dataset/coverage/temporalCoverage/rangeOfDates/beginDate/calendarDate",
                 "additionalMetadata/metadata/gbif/citation"):
        assert root.find(path) is not None, path
    assert root.findtext("dataset/coverage/taxonomicCoverage/taxonomicClassification/taxonRankValue") == "Plantae"
    assert root.findtext("dataset/creator/userId") == "0000-0002-1825-0097"


def test_eml_checker_finds_what_gbif_refuses():
    eml = (DWCA / "gbif-pipelines-validator" / "dwca" / "dwca-eml-content-issue" / "eml.xml").read_bytes()
    problems = eml_problems(eml)
    assert "The title must be at least 10 characters long." in problems
    assert "EML has no creator." in problems
    swapped = (DWCA / "idigbio-eml" / "formatted.56e711e6-c847-4f99-915a-6894bb5c5dea_NHM_London.xml").read_bytes()
    assert "The bounding box has its north below its south." in eml_problems(swapped)
    assert "The licence must be CC0 1.0, CC BY 4.0 or CC BY-NC 4.0." in eml_problems(
        (DWCA / "idigbio-eml" / "MNHN_Paris_el.xml").read_bytes())


def test_sensitive_localities_are_generalised_as_on_public_pages(dataset, collection, tmp_path):
    from specimens.public import record_generalise

    (record,) = published(collection, 1, decimal_latitude=Decimal("51.476852"), decimal_longitude=Decimal("-0.295132"),
                          coordinate_uncertainty_in_meters=5.0, locality="Behind the Palm House", record_number="K-17",
                          locality_sensitivity="10km")
    write(dataset, tmp_path / "a.zip")
    (row,) = archive_read(tmp_path / "a.zip")["core"]
    public = record_generalise({name: getattr(record, name) for name in (
        "decimal_latitude", "decimal_longitude", "coordinate_uncertainty_in_meters", "locality", "record_number")},
        level="10km")
    assert row[DWC + "decimalLatitude"] == str(public["decimal_latitude"]) == "51.5"
    assert row[DWC + "decimalLongitude"] == str(public["decimal_longitude"]) == "-0.3"
    assert float(row[DWC + "coordinateUncertaintyInMeters"]) == public["coordinate_uncertainty_in_meters"] == 10_000
    assert row[DWC + "locality"] == "" and row[DWC + "recordNumber"] == ""
    assert row[DWC + "dataGeneralizations"] == public["data_generalizations"]


HOSTILE = {
    "locality": 'Tab\there, new\nline, CR\r, NEL\x85, LS\u2028, bell\x07, "quoted", \'single\', back\\slash',
    "habitat": "Ω " * 6000 + "end",  # 12,000 characters
    "recorded_by": "宮部 金吾 | Михаил Голенкин | محمد | ΑΒΓ",
    "occurrence_remarks": None,
}


def test_hostile_values_keep_rows_and_columns_and_text_intact(dataset, collection, tmp_path):
    values = {k: v for k, v in HOSTILE.items() if v is not None}
    published(collection, 1, **values)
    published(collection, 1)  # a neighbour row that must stay its own row
    write(dataset, tmp_path / "a.zip")
    rows = archive_read(tmp_path / "a.zip")["core"]
    assert len(rows) == 2
    row = next(r for r in rows if r[DWC + "recordedBy"])
    assert row[DWC + "locality"] == 'Tab here, new line, CR , NEL , LS , bell , "quoted", \'single\', back\\slash'
    assert row[DWC + "habitat"] == HOSTILE["habitat"]
    assert row[DWC + "recordedBy"] == HOSTILE["recorded_by"]
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        data = archive.read("occurrence.txt")
    assert data.count(b"\n") == 3 and b"\\N" not in data and b"\x01" not in data
    assert len({line.count(b"\t") for line in data.splitlines()}) == 1


def test_export_dwca_command_exit_codes(collection, tmp_path, capsys):
    published(collection, 1)
    with pytest.raises(SystemExit) as missing_collection:
        call_command("export_dwca", collection="NOPE:X", out=str(tmp_path / "x.zip"))
    assert missing_collection.value.code == 2 and not (tmp_path / "x.zip").exists()

    call_command("export_dwca", collection="OWN:BOT", out=str(tmp_path / "clean.zip"))  # exit 0: no SystemExit
    assert len(archive_read(tmp_path / "clean.zip")["core"]) == 1

    published(collection, 1, event_date="", scientific_name="")
    with pytest.raises(SystemExit) as warned:
        call_command("export_dwca", collection="OWN:BOT", out=str(tmp_path / "warned.zip"))
    assert warned.value.code == 1
    out = capsys.readouterr().out
    assert "lacks scientificName, eventDate" in out
    assert len(archive_read(tmp_path / "warned.zip")["core"]) == 2


def test_export_dwca_writes_a_dataset(dataset, collection, tmp_path):
    published(collection, 3)
    call_command("export_dwca", dataset="own-botany", out=str(tmp_path / "d.zip"))
    read = archive_read(tmp_path / "d.zip")
    assert len(read["core"]) == 3
    assert eml_problems(zipfile.ZipFile(tmp_path / "d.zip").read("eml.xml")) == []


def test_label_images_of_sensitive_records_stay_out_where_the_collection_asks(dataset, collection, tmp_path):
    label = {"uuid": "0b6f1a0e-0000-4000-8000-00000000000a", "order": 1, "kind": "label",
             "iiif_service": "/iiif/3/0b6f1a0e-0000-4000-8000-00000000000a"}
    sheet = {"uuid": "0b6f1a0e-0000-4000-8000-00000000000b", "order": 0, "kind": "specimen",
             "iiif_service": "/iiif/3/0b6f1a0e-0000-4000-8000-00000000000b"}
    (secret,) = published(collection, 1, locality_sensitivity="withhold", media=[sheet, label])
    (plain,) = published(collection, 1, media=[{**sheet, "uuid": "x1", "iiif_service": "/iiif/3/x1"},
                                               {**label, "uuid": "x2", "iiif_service": "/iiif/3/x2"}])
    write(dataset, tmp_path / "a.zip")
    read = archive_read(tmp_path / "a.zip")
    media = {(core, m["http://purl.org/dc/terms/identifier"].split("/iiif/3/")[1].split("/")[0])
             for core, m in read["extensions"]["http://rs.gbif.org/terms/1.0/Multimedia"]}
    assert media == {(secret.occurrence_id, sheet["uuid"]), (plain.occurrence_id, "x1"), (plain.occurrence_id, "x2")}
    row = next(r for r in read["core"] if r[DWC + "occurrenceID"] == secret.occurrence_id)
    assert label["uuid"] not in row[DWC + "associatedMedia"] and sheet["uuid"] in row[DWC + "associatedMedia"]


def test_a_saved_filter_narrows_the_dataset(dataset, collection, tmp_path):
    plants = Taxon.objects.create(name="Bellis", rank="genus", path="zz00002", kingdom="Plantae", family="Asteraceae")
    fungi = Taxon.objects.create(name="Amanita", rank="genus", path="zz00003", kingdom="Fungi", family="Amanitaceae")
    published(collection, 2, taxon=plants)
    published(collection, 1, taxon=fungi)
    published(collection, 1, taxon=plants, type_status="holotype")
    dataset.record_filter = {"kingdom": "Plantae", "type_specimens_only": True}
    dataset.save()
    write(dataset, tmp_path / "a.zip")
    (row,) = archive_read(tmp_path / "a.zip")["core"]
    assert (row[DWC + "kingdom"], row[DWC + "typeStatus"]) == ("Plantae", "holotype")
