"""Collection-level reporting as Latimer Core (TDWG LtC) ObjectGroups and as flat CSV (DESIGN §4.8).

Pure shaping of selectors.collection_metrics_report rows; no database access here.
"""

from __future__ import annotations

import datetime as dt

LTC_CONTEXT = {"ltc": "http://rs.tdwg.org/ltc/terms/", "dwc": "http://rs.tdwg.org/dwc/terms/"}
CSV_COLUMNS = ["institution_code", "institution_id", "collection_code", "collection_name", "discipline",
               "estimated_objects", "estimated_objects_reported_on", "digitised_records", "digitised_percent",
               "imaged_records", "below_mids0", "mids0", "mids1", "mids2", "mids3", "calculated_on"]


def _measurement(kind: str, value, unit: str, method: str, on: dt.date | None, remarks: str = "") -> dict:
    fact = {"ltc:measurementType": kind, "ltc:measurementValue": value, "ltc:measurementUnit": unit,
            "ltc:measurementMethod": method}
    if on:
        fact["ltc:measurementDeterminedDate"] = on.isoformat()
    if remarks:
        fact["ltc:measurementRemarks"] = remarks
    return fact


def digitised_percent(row: dict) -> float | None:
    """None when either figure is missing: no figure reported is not 0 %."""
    if row["digitised"] is None or not row["estimated_objects"]:
        return None
    return round(100 * row["digitised"] / row["estimated_objects"], 2)


def latimer_object_group(row: dict) -> dict:
    c = row["collection"]
    on = row["snapshot_date"]
    facts = []
    if row["estimated_objects"] is not None:
        facts.append(_measurement("object count", row["estimated_objects"], "objects", "Reported", row.get("estimated_on")))
    if row["digitised"] is not None:
        facts.append(_measurement("digitised object count", row["digitised"], "objects", "Calculated", on,
                                  "specimen records in the portal"))
    percent = digitised_percent(row)
    if percent is not None:
        facts.append(_measurement("digitisation level percentage", percent, "percent", "Calculated", on))
    if row["imaged"] is not None:
        facts.append(_measurement("imaged object count", row["imaged"], "objects", "Calculated", None))
    for level, n in row["mids"].items():
        if n is not None:
            facts.append(_measurement(f"MIDS level {level} count", n, "objects", "Calculated", on))
    institution = c.institution
    return {
        "ltc:collectionName": c.name,
        "ltc:collectionCode": c.full_code,
        "ltc:discipline": c.discipline or c.get_mids_discipline_display(),
        "ltc:typeOfObjectGroup": "collection",
        "ltc:objectType": "specimen",
        "ltc:OrganisationalUnit": {"ltc:organisationalUnitName": institution.name,
                                   "ltc:organisationalUnitType": "institution",
                                   "ltc:identifier": institution.institution_id_uri or institution.code},
        "ltc:Identifier": ([{"ltc:identifierType": "GRSciColl", "ltc:identifierValue":
                            f"https://www.gbif.org/grscicoll/collection/{c.grscicoll_key}"}] if c.grscicoll_key else []),
        "ltc:MeasurementOrFact": facts,
    }


def latimer_document(rows: list[dict], *, generated_at: dt.datetime) -> dict:
    return {"@context": LTC_CONTEXT, "generatedAt": generated_at.isoformat(timespec="seconds"),
            "ltc:ObjectGroup": [latimer_object_group(r) for r in rows]}


def csv_row(row: dict) -> list:
    c = row["collection"]
    return [c.institution.code, c.institution.institution_id_uri, c.code, c.name, c.discipline,
            row["estimated_objects"], row.get("estimated_on"), row["digitised"], digitised_percent(row), row["imaged"],
            row["below_mids0"], *(row["mids"][lvl] for lvl in (0, 1, 2, 3)), row["snapshot_date"]]
