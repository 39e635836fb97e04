"""standards.mids: the TDWG MIDS mappings read as data, every element's edge cases."""

import shutil

import pytest

from standards.mids import BELOW, MAPPING_SETS, MappingError, mapping_set_load, mids_evaluate, value_state

BIOLOGY = MAPPING_SETS["biology"]

# A record that reaches MIDS-3 in biology, each element met by exactly one term or group.
FULL = {
    "catalogNumber": "E00012345",
    "institutionCode": "E",
    "institutionID": "https://ror.org/0349vqz63",
    "scientificName": "Bellis perennis L.",
    "scientificNameID": "urn:lsid:ipni.org:names:30000-1",
    "preparations": "sheet",
    "license": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "modified": "2024-05-01T10:00:00Z",
    "locality": "Arthur's Seat",
    "decimalLatitude": "55.944",
    "decimalLongitude": "-3.162",
    "geodeticDatum": "WGS84",
    "coordinateUncertaintyInMeters": "30",
    "coordinatePrecision": "0.001",
    "recordedBy": "G. Forrest",
    "recordedByID": "https://orcid.org/0000-0002-1825-0097",
    "eventDate": "1904-06-12",
    "recordNumber": "1234",
    "Multimedia.identifier": "https://iiif.example.org/E00012345",
    "identifiedByID": "https://orcid.org/0000-0002-1825-0097",
}


def _without(*terms, **values):
    record = {k: v for k, v in FULL.items() if k not in terms}
    record.update(values)
    return record


def _element(result, name):
    return next(e for e in result.elements if e.element == name)


def test_full_record_is_mids3_with_nothing_blocking():
    result = mids_evaluate(FULL)

    assert result.level == 3
    assert result.blocking == ()
    assert result.failing == ()
    assert result.mapping_set == "mids_dwc-a_biology_1"
    assert result.mapping_version.startswith("1:") and len(result.mapping_version) == 18
    assert _element(result, "QuantitativeLocation").term == "decimalLatitude + decimalLongitude"


@pytest.mark.parametrize("element", [e for e in BIOLOGY.elements], ids=lambda e: e.name)
def test_each_element_without_any_of_its_terms_fails_and_caps_the_level(element):
    # Organization is also met by institutionID (OrganizationID's term): drop every term of the element.
    result = mids_evaluate(_without(*element.terms))

    assert element.name in result.failing
    assert result.level == min(element.level - 1, *(e.level - 1 for e in BIOLOGY.elements if e.name in result.failing))
    assert _element(result, element.name).reason.startswith("no value in ")
    if result.level == element.level - 1:
        assert element.name in result.blocking


@pytest.mark.parametrize("term", [t for t in BIOLOGY.terms], ids=str)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n", "\x00\x1f", " \x7f ", None])
def test_empty_whitespace_and_control_characters_are_no_value(term, blank):
    assert BIOLOGY.states({term: blank}) == ()


@pytest.mark.parametrize("term", [t for t in BIOLOGY.terms], ids=str)
@pytest.mark.parametrize("placeholder", ["unknown:undigitized", " Unknown:Undigitized ", "UNKNOWN:UNDIGITIZED"])
def test_unknown_undigitized_never_counts_for_any_term(term, placeholder):
    assert BIOLOGY.states({term: placeholder}) == ((term, "unknown:undigitized"),)


def test_incertae_sedis_is_no_name_but_zero_is_only_excluded_where_listed():
    result = mids_evaluate(_without("scientificNameID", scientificName="Incertae sedis"))
    assert result.level == 0
    assert _element(result, "Name").reason == "scientificName holds a placeholder value ('incertae sedis'), which does not count"

    # scientificNameID "0" is a placeholder for Name and IdentifiedAsID; a scientificName "0" is not.
    zero_id = mids_evaluate(_without("scientificName", scientificNameID="0"))
    assert zero_id.level == 0 and "IdentifiedAsID" in zero_id.failing
    assert mids_evaluate(_without("scientificNameID", scientificName="0")).level == 2  # only IdentifiedAsID missing
    assert mids_evaluate(_without("scientificName", scientificNameID="0", taxonKey="0")).level == 0
    assert mids_evaluate(_without(scientificNameID="10")).level == 3  # "0" is matched whole, not as a substring


def test_a_placeholder_fails_while_another_term_still_meets_the_element():
    result = mids_evaluate(_without(catalogNumber="unknown:undigitized", occurrenceID="https://data.rbge.org.uk/E1"))
    assert _element(result, "PhysicalSpecimenID").term == "occurrenceID"
    assert result.level == 3


def test_without_a_physical_specimen_id_the_record_is_below_mids0():
    result = mids_evaluate(_without("catalogNumber"))
    assert result.level == BELOW
    assert result.blocking == ("PhysicalSpecimenID",)


@pytest.mark.parametrize("missing", ["decimalLatitude", "decimalLongitude"])
def test_one_of_two_coordinates_meets_neither_location_element(missing):
    result = mids_evaluate(_without(missing))
    other = "decimalLongitude" if missing == "decimalLatitude" else "decimalLatitude"

    assert result.level == 1
    assert _element(result, "QuantitativeLocation").reason == f"{other} without {missing}"
    assert "GeographicalLocalityID" in result.failing
    assert _element(result, "QualitativeLocation").passed  # locality is there


def test_verbatim_coordinates_need_both_halves_for_qualitative_location():
    base = _without("locality")
    assert "QualitativeLocation" in mids_evaluate({**base, "verbatimLatitude": "55°56'N"}).failing
    both = mids_evaluate({**base, "verbatimLatitude": "55°56'N", "verbatimLongitude": "3°10'W"})
    assert _element(both, "QualitativeLocation").term == "verbatimLongitude + verbatimLatitude"


def test_georeference_needs_datum_uncertainty_and_precision_for_mids3():
    result = mids_evaluate(_without("coordinatePrecision"))
    assert result.level == 2
    assert result.blocking == ("GeographicalLocalityID",)
    assert "coordinatePrecision" in _element(result, "GeographicalLocalityID").reason
    assert mids_evaluate(_without("coordinatePrecision", locationID="https://www.geonames.org/2650225")).level == 3
    assert mids_evaluate(_without("coordinatePrecision", footprintWKT="POINT(1 2)", footprintSRS="EPSG:4326")).level == 3


@pytest.mark.parametrize("date", [{"year": "1904"}, {"eventDate": "1904"}, {"verbatimEventDate": "June 1904"}])
def test_a_date_given_only_as_a_year_meets_date_collected(date):
    result = mids_evaluate({**_without("eventDate"), **date})
    assert _element(result, "DateCollected").passed
    assert _element(result, "DateCollected").term == next(iter(date))


@pytest.mark.parametrize("value", ["x" * 10_000, "雪松 Cedrus deodara", "Ελλάδα", "Москва", "a\x00b", "\u200b‍"])
def test_long_non_latin_and_odd_values_are_values(value):
    assert value_state(value) == ""
    assert mids_evaluate(_without(locality=value)).level == 3


def test_media_from_an_image_of_ours_or_an_external_link():
    no_media = mids_evaluate(_without("Multimedia.identifier"))
    assert no_media.level == 1 and no_media.blocking == ("Media",) and "MediaID" in no_media.failing
    linked = mids_evaluate(_without("Multimedia.identifier", associatedMedia="https://example.org/a.jpg"))
    assert linked.level == 2 and linked.blocking == ("MediaID",)  # an associatedMedia link is no media identifier


def test_geology_needs_stratigraphy_and_palaeontology_chronostratigraphy():
    geology = mids_evaluate(FULL, discipline="geology")
    assert geology.level == 1 and geology.blocking == ("StratigraphicContext",)
    assert mids_evaluate({**FULL, "formation": "Old Red Sandstone"}, discipline="geology").level == 3

    palaeo = mids_evaluate(FULL, discipline="palaeontology")
    assert palaeo.level == 0 and palaeo.blocking == ("Chronostratigraphy",)
    assert mids_evaluate({**FULL, "formation": "Lias", "earliestPeriodOrLowestSystem": "Jurassic"},
                         discipline="palaeontology").level == 3


def test_records_with_the_same_terms_share_one_result_object():
    assert mids_evaluate(FULL) is mids_evaluate({**FULL, "locality": "elsewhere"})


# --- a mapping we cannot read stops us, naming the file and line --------------------------------


@pytest.fixture
def mapping_copy(tmp_path):
    from standards.mids import MAPPINGS_DIR

    for path in MAPPINGS_DIR.glob("mids_dwc-a_biology_1.sssom.*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / "mids_dwc-a_biology_1.sssom.tsv"


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_vendored_copy_loads_like_the_published_one(mapping_copy):
    loaded = mapping_set_load("mids_dwc-a_biology_1", mapping_copy.parent)
    assert [e.name for e in loaded.elements] == [e.name for e in BIOLOGY.elements]
    assert loaded.sha256 == BIOLOGY.sha256


@pytest.mark.parametrize("old, new, message", [
    ("dwc:catalogNumber\tCatalog Number", "dwc:catalogNumbr\tCatalog Number", ":3: unknown term 'dwc:catalogNumbr'"),
    ("skos:narrowMatch\tdwc:catalogNumber", "skos:closeMatch\tdwc:catalogNumber", ":3: unknown predicate 'skos:closeMatch'"),
    ("mids:MIDS0\tskos:narrowMatch\tdwc:catalogNumber", "mids:MIDS9\tskos:narrowMatch\tdwc:catalogNumber", ":3: unknown MIDS level"),
    ("dwc:catalogNumber\tCatalog Number", "foo:catalogNumber\tCatalog Number", ":3: term 'foo:catalogNumber' is not a CURIE"),
    ("\t|unknown:undigitized\nmids:PhysicalSpecimenID", "\n\nmids:PhysicalSpecimenID", ":2: 19 fields, the header has 20"),
    ("dwc:verbatimLongitude|dwc:verbatimLatitude", "", ":25: verbatimLongitude is an intersectionOf member of QualitativeLocation but in no"),
])
def test_a_broken_mapping_fails_loudly_with_file_and_line(mapping_copy, old, new, message):
    _edit(mapping_copy, old, new)
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace("|", r"\|")) as caught:
        mapping_set_load("mids_dwc-a_biology_1", mapping_copy.parent)
    assert str(caught.value).startswith(str(mapping_copy))


def test_a_header_that_is_not_yaml_fails_with_its_line(mapping_copy):
    (mapping_copy.parent / "mids_dwc-a_biology_1.sssom.yml").write_text("curie_map:\n  dwc: [unclosed\n")
    with pytest.raises(MappingError, match=r"sssom\.yml:\d+: not a YAML"):
        mapping_set_load("mids_dwc-a_biology_1", mapping_copy.parent)


def test_a_missing_file_fails_with_its_name(tmp_path):
    with pytest.raises(MappingError, match="cannot read the MIDS mapping file"):
        mapping_set_load("mids_dwc-a_biology_1", tmp_path)
