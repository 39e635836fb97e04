"""Darwin Core term names, their namespaces, and the aliases real files use for them.

`term_canonical()` turns any column name or term URI seen in the wild ("http://rs.tdwg.org/dwc/
terms/catalogNumber", "dwc:catalogNumber", "CatalogNumber", "catalog_number", the DwC 1.4
"Collector") into the simple Darwin Core name ("catalogNumber"), or None when unknown.
"""

from __future__ import annotations

import re

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"
GBIF = "http://rs.gbif.org/terms/1.0/"

ROW_TYPE_OCCURRENCE = DWC + "Occurrence"
ROW_TYPE_TAXON = DWC + "Taxon"
# Core types that describe one occurrence row under older names.
OCCURRENCE_ROW_TYPES = {
    ROW_TYPE_OCCURRENCE,
    DWC + "DarwinCore",
    DWC + "SimpleDarwinRecord",
    "http://rs.tdwg.org/dwc/xsd/simpledarwincore/SimpleDarwinRecord",
    "http://rs.tdwg.org/dwc/terms/MaterialSample",
}

# Darwin Core terms (record-level, occurrence, event, location, identification, taxon).
DWC_TERMS = """
type modified language license rightsHolder accessRights bibliographicCitation references
institutionID collectionID datasetID institutionCode collectionCode datasetName ownerInstitutionCode
basisOfRecord informationWithheld dataGeneralizations dynamicProperties
occurrenceID catalogNumber recordNumber recordedBy recordedByID individualCount organismQuantity
organismQuantityType sex lifeStage reproductiveCondition caste behavior vitality establishmentMeans
degreeOfEstablishment
pathway georeferenceVerificationStatus occurrenceStatus preparations disposition associatedMedia
associatedOccurrences associatedReferences associatedSequences associatedTaxa otherCatalogNumbers
occurrenceRemarks organismID organismName organismScope associatedOrganisms previousIdentifications
organismRemarks materialEntityID materialEntityType materialSampleID verbatimLabel
eventID parentEventID fieldNumber eventDate eventTime startDayOfYear endDayOfYear year month day
verbatimEventDate habitat samplingProtocol sampleSizeValue sampleSizeUnit samplingEffort fieldNotes
eventRemarks eventType
locationID higherGeographyID higherGeography continent waterBody islandGroup island country countryCode
stateProvince county municipality locality verbatimLocality minimumElevationInMeters
maximumElevationInMeters verbatimElevation verticalDatum minimumDepthInMeters maximumDepthInMeters
verbatimDepth minimumDistanceAboveSurfaceInMeters maximumDistanceAboveSurfaceInMeters
locationAccordingTo locationRemarks decimalLatitude decimalLongitude geodeticDatum
coordinateUncertaintyInMeters coordinatePrecision pointRadiusSpatialFit verbatimCoordinates
verbatimLatitude verbatimLongitude verbatimCoordinateSystem verbatimSRS footprintWKT footprintSRS
footprintSpatialFit georeferencedBy georeferencedDate georeferenceProtocol georeferenceSources
georeferenceRemarks
geologicalContextID earliestEonOrLowestEonothem latestEonOrHighestEonothem earliestEraOrLowestErathem
latestEraOrHighestErathem earliestPeriodOrLowestSystem latestPeriodOrHighestSystem
earliestEpochOrLowestSeries latestEpochOrHighestSeries earliestAgeOrLowestStage latestAgeOrHighestStage
lowestBiostratigraphicZone highestBiostratigraphicZone lithostratigraphicTerms group formation member bed
identificationID verbatimIdentification identificationQualifier typeStatus identifiedBy identifiedByID
dateIdentified identificationReferences identificationVerificationStatus identificationRemarks
taxonID scientificNameID acceptedNameUsageID parentNameUsageID originalNameUsageID nameAccordingToID
namePublishedInID taxonConceptID scientificName acceptedNameUsage parentNameUsage originalNameUsage
nameAccordingTo namePublishedIn namePublishedInYear higherClassification kingdom phylum class order
superfamily family subfamily tribe subtribe genus genericName subgenus infragenericEpithet
specificEpithet infraspecificEpithet cultivarEpithet taxonRank verbatimTaxonRank
scientificNameAuthorship vernacularName nomenclaturalCode taxonomicStatus nomenclaturalStatus
taxonRemarks
""".split()

# DwC 1.2/1.4 and other names still found in spreadsheets and old archives.
LEGACY_ALIASES = {
    "collector": "recordedBy",
    "collectors": "recordedBy",
    "collectornumber": "recordNumber",
    "fieldnumber": "fieldNumber",
    "latitude": "decimalLatitude",
    "longitude": "decimalLongitude",
    "lat": "decimalLatitude",
    "lon": "decimalLongitude",
    "long": "decimalLongitude",
    "yearcollected": "year",
    "monthcollected": "month",
    "daycollected": "day",
    "datecollected": "eventDate",
    "earliestdatecollected": "eventDate",
    "catalognumbertext": "catalogNumber",
    "catalognumbernumeric": "catalogNumber",
    "coordinateuncertaintyinmeter": "coordinateUncertaintyInMeters",
    "maximumelevation": "maximumElevationInMeters",
    "minimumelevation": "minimumElevationInMeters",
    "maximumdepth": "maximumDepthInMeters",
    "minimumdepth": "minimumDepthInMeters",
    "identificationmodifier": "identificationQualifier",
    "authoryearofscientificname": "scientificNameAuthorship",
    "author": "scientificNameAuthorship",
    "species": "specificEpithet",
    "subspecies": "infraspecificEpithet",
    "remarks": "occurrenceRemarks",
    "notes": "occurrenceRemarks",
    "gbifissue": "issue",
}

# Terms outside Darwin Core that GBIF downloads carry; known, so not reported as unknown.
GBIF_TERMS = """
gbifID datasetKey publishingOrgKey issue hasCoordinate hasGeospatialIssues taxonKey acceptedTaxonKey
kingdomKey phylumKey classKey orderKey familyKey genusKey subgenusKey speciesKey species
acceptedScientificName verbatimScientificName typifiedName protocol lastParsed lastCrawled lastInterpreted
repatriated relativeOrganismQuantity level0Gid level0Name level1Gid level1Name level2Gid level2Name
level3Gid level3Name iucnRedListCategory elevation elevationAccuracy depth depthAccuracy
distanceFromCentroidInMeters mediaType publishedByGbifRegion publishingCountry
""".split()

_CANONICAL = {name.lower(): name for name in DWC_TERMS}
_CANONICAL.update({name.lower(): name for name in GBIF_TERMS if name.lower() not in _CANONICAL})
for _alias, _name in LEGACY_ALIASES.items():
    _CANONICAL.setdefault(_alias, _name)

_PREFIX = re.compile(r"^(?:dwc|dc|dcterms|gbif|ac|xmp|dwciri):", re.IGNORECASE)


def term_local_name(term: str) -> str:
    """The last part of a term URI or prefixed name: '…/dwc/terms/catalogNumber' → 'catalogNumber'."""
    text = (term or "").strip().lstrip("\ufeff").strip('"').strip()
    text = _PREFIX.sub("", text)
    return re.split(r"[/#]", text.rstrip("/"))[-1]


def term_canonical(term: str) -> str | None:
    """The Darwin Core simple name for a column name or term URI, else None."""
    local = term_local_name(term)
    key = re.sub(r"[^0-9a-z]", "", local.lower())
    return _CANONICAL.get(key)


def row_type_is_occurrence(row_type: str) -> bool:
    text = (row_type or "").strip()
    return text in OCCURRENCE_ROW_TYPES or term_local_name(text).lower() in {
        "occurrence", "darwincore", "simpledarwinrecord",
    }


# --- Multimedia extensions ----------------------------------------------------------------------
# GBIF Simple Multimedia (http://rs.gbif.org/extension/gbif/1.0/multimedia.xml) and Audubon Core
# (http://rs.gbif.org/extension/ac/audubon.xml); "Image" is the GBIF extension's older name.
MULTIMEDIA_ROW_TYPES = {
    GBIF + "Multimedia",
    GBIF + "Image",
    "http://rs.tdwg.org/ac/terms/Multimedia",
}
# term local name (lower case) → the key an external media item stores it under, best first:
# GBIF's dc:identifier and Audubon Core's ac:accessURI are the media file, dc:references and
# ac:furtherInformationURL a page about it (used when the file's own address is missing).
MEDIA_TERMS = {
    "identifier": "url",
    "accessuri": "url",
    "references": "page",
    "furtherinformationurl": "page",
    "format": "format",
    "type": "type",
    "title": "title",
    "caption": "title",
    "description": "description",
    "license": "license",
    "usageterms": "license",
    "rights": "license",
    "webstatement": "license",
    "rightsholder": "rights_holder",
    "owner": "rights_holder",
    "creator": "creator",
}


def row_type_is_multimedia(row_type: str) -> bool:
    text = (row_type or "").strip()
    return text in MULTIMEDIA_ROW_TYPES or text.rstrip("/").rsplit("/", 1)[-1].lower() == "multimedia"


def media_term(term: str) -> str | None:
    """The external-media key for a multimedia extension's term, else None."""
    return MEDIA_TERMS.get(term_local_name(term).lower())


ROW_TYPE_EVENT = DWC + "Event"


def row_type_is_event(row_type: str) -> bool:
    text = (row_type or "").strip()
    return text == ROW_TYPE_EVENT or term_local_name(text).lower() == "event"
