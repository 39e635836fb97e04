"""Many records are assessed by signature in SQL (specimens.mids._assess_by_signature); each must
get exactly the assessment the per-record Python path gives it, whatever its values look like."""

import json

import pytest
from django.db import connection

from specimens.mids import mids_compute, specimen_mids_assess
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory, InstitutionFactory
from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

# Values as real files hold them: placeholders in any case and with any padding, blanks made of
# control or non-ASCII space characters, letters whose casefold is ASCII (the Kelvin sign, long s),
# short and long non-ASCII text, and ordinary values.
ODD_VALUES = [
    "  unknown:undigitized ",
    "UNKNOWN:UNDIGITIZED",
    "\xa0unknown:undigitized\u3000",
    "unknown:undigitized\x85",
    "\x01unknown:undigitized",
    "un\u212anown:undigitized",  # Kelvin sign: casefolds to "k", so a placeholder
    "Unknown:Undigitized.",
    "incertae sedis",
    "Incertae \u017fedis",  # long s: casefolds to "s"
    "INCERTAE SEDIS ",
    "   ",
    "\t\x01\x7f",
    "\u2003",
    "Müller",
    "Île-de-France",
    "Straße",
    "Near the river, beyond the old Mühle at the second bridge",
    "0",
    " 0 ",
    "x",
    "",
]
COLUMNS = ["other_catalog_numbers", "scientific_name", "locality", "county", "country", "state_province",
           "water_body", "recorded_by", "event_date", "verbatim_event_date", "record_number", "field_number",
           "preparations", "license"]
KEPT = [
    None,
    {"materialEntityType": " unknown:undigitized", "verbatimCoordinates": "12 N 3 E"},
    {"island": "\xa0", "materialEntityType": "Herbarium sheet", "continent": "Europe"},
    {"materialEntityType": "UNKNOWN:undigitized", "footprintWKT": "ß"},
]


def _odd_records(collection, count):
    specimens = SpecimenFactory.create_batch(count, collection=collection)
    with connection.cursor() as cursor:
        for n, specimen in enumerate(specimens):
            values = [ODD_VALUES[(n * 7 + k * 3) % len(ODD_VALUES)] for k in range(len(COLUMNS))]
            sets = ", ".join(f"{column} = %s" for column in COLUMNS)
            kept = KEPT[n % len(KEPT)]
            cursor.execute(f"UPDATE specimens_specimen SET {sets}, mids_terms = %s WHERE id = %s",
                           [*values, None if kept is None else json.dumps(kept), specimen.pk])
    return specimens


@pytest.mark.parametrize("discipline", ["biology", "geology", "palaeontology"])
def test_assessment_by_signature_agrees_with_the_per_record_evaluation(discipline):
    collection = CollectionFactory(institution=InstitutionFactory(code="SIG"), code=discipline[:3].upper(),
                                   mids_discipline=discipline)
    specimens = _odd_records(collection, 84)

    levels = mids_compute(collection=collection)  # set-based: signatures grouped in SQL

    by_signature = dict(Specimen.objects.filter(collection=collection).values_list("id", "mids_assessment_id"))
    assert sum(levels.values()) == len(specimens) and None not in by_signature.values()
    per_record = {}
    for specimen in Specimen.objects.filter(collection=collection):
        specimen_mids_assess(specimens=[specimen])  # the per-record Python path
        per_record[specimen.pk] = specimen.mids_assessment_id
    assert per_record == by_signature
    assert len(set(by_signature.values())) > 5  # the odd values really made different assessments


def test_placeholders_hidden_by_casefold_or_padding_count_as_placeholders():
    collection = CollectionFactory(institution=InstitutionFactory(code="SIG"), code="BOT", mids_discipline="biology")
    kelvin, padded, plain = SpecimenFactory.create_batch(3, collection=collection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE specimens_specimen SET scientific_name = %s WHERE id = %s", ["Incertae \u017fedis", kelvin.pk])
        cursor.execute("UPDATE specimens_specimen SET scientific_name = %s WHERE id = %s", ["\xa0INCERTAE SEDIS\t", padded.pk])

    mids_compute(collection=collection)

    reasons = {}
    for specimen in Specimen.objects.filter(collection=collection).select_related("mids_assessment"):
        reasons[specimen.pk] = {e["element"]: e.get("reason", "") for e in specimen.mids_assessment.elements}
    assert "placeholder value ('incertae sedis')" in reasons[kelvin.pk]["Name"]
    assert "placeholder value ('incertae sedis')" in reasons[padded.pk]["Name"]
    assert reasons[plain.pk]["Name"] == ""
