"""The model's Darwin Core words, each listed once: which term fills which Specimen column, and the
higher taxonomic ranks with the Taxon columns that copy them. The terms themselves (URIs, aliases)
live in standards.terms; SQL column lists are generated from these lists, never written out.
"""

from __future__ import annotations

from psycopg import sql

# term → Specimen field. Terms not listed here are read only through the taxon or agent steps.
TERM_FIELDS = {
    "occurrenceID": "occurrence_id",
    "catalogNumber": "catalog_number",
    "otherCatalogNumbers": "other_catalog_numbers",
    "recordNumber": "record_number",
    "recordedBy": "recorded_by",
    "recordedByID": "recorded_by_id",
    "individualCount": "individual_count",
    "sex": "sex",
    "lifeStage": "life_stage",
    "preparations": "preparations",
    "disposition": "disposition",
    "eventDate": "event_date",
    "eventTime": "event_time",
    "year": "year",
    "month": "month",
    "day": "day",
    "verbatimEventDate": "verbatim_event_date",
    "fieldNumber": "field_number",
    "habitat": "habitat",
    "country": "country",
    "countryCode": "country_code",
    "stateProvince": "state_province",
    "county": "county",
    "locality": "locality",
    "verbatimLocality": "verbatim_locality",
    "waterBody": "water_body",
    "minimumElevationInMeters": "minimum_elevation_in_meters",
    "maximumElevationInMeters": "maximum_elevation_in_meters",
    "minimumDepthInMeters": "minimum_depth_in_meters",
    "maximumDepthInMeters": "maximum_depth_in_meters",
    "decimalLatitude": "decimal_latitude",
    "decimalLongitude": "decimal_longitude",
    "geodeticDatum": "geodetic_datum",
    "coordinateUncertaintyInMeters": "coordinate_uncertainty_in_meters",
    "coordinatePrecision": "coordinate_precision",
    "locationID": "location_id",
    "scientificName": "scientific_name",
    "identifiedBy": "identified_by",
    "dateIdentified": "date_identified",
    "identificationQualifier": "identification_qualifier",
    "typeStatus": "type_status",
    "verbatimIdentification": "verbatim_identification",
    "license": "license",
    "rightsHolder": "rights_holder",
    "basisOfRecord": "basis_of_record",
    "informationWithheld": "information_withheld",
    "dataGeneralizations": "data_generalizations",
}


# The higher ranks, kingdom to genus, as Darwin Core names them → the Taxon column that copies each
# from a node's ancestors (`class` is a Python keyword, so its column is class_name).
HIGHER_RANKS = {
    "kingdom": "kingdom", "phylum": "phylum", "class": "class_name", "order": "order", "family": "family",
    "genus": "genus",
}
HIGHER_COLUMNS = tuple(HIGHER_RANKS.values())
# The terms a specimen row names its taxon with: the ranks, the epithets and the name itself.
TAXON_TERMS = (
    *HIGHER_RANKS, "specificEpithet", "infraspecificEpithet", "taxonRank", "scientificName", "scientificNameAuthorship",
)


def columns_sql(columns, *, alias: str | None = None) -> sql.Composed:
    """A column list for a statement, each name quoted by psycopg (`order` is an SQL keyword)."""
    return sql.SQL(", ").join(sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns)
