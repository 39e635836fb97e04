"""The one public read model: what each viewer may see of a specimen record.

Sensitive localities are generalised here and nowhere else, in two forms that agree (a test holds
them to the same answers):

- `record_generalise(values, level=…)`, a pure function for one record's values, used by the API,
  the pages, the history page and the IIIF manifest;
- `public_columns_sql()` / `public_annotations()`, the same rules as SQL expressions, so a
  `SELECT`, a `COPY … TO STDOUT` export, search facets and map grids generalise in the database.

Who sees exact values: the owning institution's staff and administrators (`viewer_sees_exact`).
Everyone else — anonymous visitors, other institutions' staff, programme managers, who read every
institution but own none — reads the generalised record. A record takes the stricter of its own
level and its taxon's effective level (a taxon inherits its ancestors' levels). What each level
hides follows GBIF's guide to generalising sensitive species data (Chapman 2020); the table is
in docs/SECURITY.md.
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from django.db.models.expressions import RawSQL

from institutions.selectors import ALL, institution_scope

from .models import SENSITIVITY_ORDER, LocalitySensitivity, Specimen

NONE, KM10, KM100, WITHHOLD = (LocalitySensitivity.NONE.value, LocalitySensitivity.KM10.value,
                               LocalitySensitivity.KM100.value, LocalitySensitivity.WITHHOLD.value)

# Coordinates: decimal places kept, the precision that implies, and the widened uncertainty.
COORDINATE_DIGITS = {KM10: 1, KM100: 0}
COORDINATE_PRECISION = {KM10: Decimal("0.1"), KM100: Decimal("1")}
UNCERTAINTY_AT_LEAST = {KM10: 10_000.0, KM100: 100_000.0}
COORDINATE_FIELDS = ("decimal_latitude", "decimal_longitude", "coordinate_uncertainty_in_meters", "coordinate_precision")

# Fields emptied at each level (each level hides what the one before it hides, and more). The model
# has no municipality, verbatim-coordinate or georeference-remarks columns; add them here if it
# gains them.
HIDDEN_10KM = ("locality", "verbatim_locality", "habitat", "field_number", "record_number", "location_id")
HIDDEN_100KM = (*HIDDEN_10KM, "county")
HIDDEN_WITHHOLD = (*HIDDEN_100KM, "state_province")
HIDDEN_TEXT = {NONE: (), KM10: HIDDEN_10KM, KM100: HIDDEN_100KM, WITHHOLD: HIDDEN_WITHHOLD}
HIDDEN_NUMBERS = {
    NONE: (), KM10: (), KM100: (),
    WITHHOLD: ("minimum_elevation_in_meters", "maximum_elevation_in_meters", "minimum_depth_in_meters",
               "maximum_depth_in_meters"),
}
# Every field whose public value may differ from the stored one.
GENERALISED_FIELDS = (*COORDINATE_FIELDS, *HIDDEN_WITHHOLD, *HIDDEN_NUMBERS[WITHHOLD],
                      "data_generalizations", "information_withheld", "locality_sensitivity")

# What dataGeneralizations and informationWithheld say was done (Darwin Core terms).
GENERALIZATION_NOTE = {
    KM10: "Coordinates rounded to 0.1 degree (about 10 km) to protect a sensitive site; uncertainty at least 10 km.",
    KM100: "Coordinates rounded to 1 degree (about 100 km) to protect a sensitive site; uncertainty at least 100 km.",
    WITHHOLD: "Coordinates withheld to protect a sensitive site.",
}
WITHHELD_NOTE = {
    KM10: "locality, verbatimLocality, habitat, fieldNumber, recordNumber and locationID withheld: sensitive site.",
    KM100: "locality, verbatimLocality, habitat, fieldNumber, recordNumber, locationID and county withheld: sensitive site.",
    WITHHOLD: ("locality, verbatimLocality, habitat, fieldNumber, recordNumber, locationID, county, stateProvince, "
               "elevation and depth withheld: sensitive site."),
}
NOTE_SEPARATOR = "; "


# --- levels -------------------------------------------------------------------------------------


def sensitivity_stricter(*levels: str | None) -> str:
    """The strictest of the given levels ("" or None counts as none)."""
    return max((level or NONE for level in levels), key=SENSITIVITY_ORDER.index, default=NONE)


def specimen_sensitivity(specimen: Specimen) -> str:
    """A record's level: the stricter of its own and its taxon's effective level."""
    taxon_level = specimen.taxon.effective_sensitivity if specimen.taxon_id and specimen.taxon else NONE
    return sensitivity_stricter(specimen.locality_sensitivity, taxon_level)


# --- who sees exact values ----------------------------------------------------------------------


def exact_scope(*, user) -> str | set[int]:
    """ALL, or the institutions whose exact values `user` may read (their own; never via the
    programme manager's read-everything scope)."""
    return institution_scope(user=user, action="view_exact")


def viewer_sees_exact(*, user, institution_id: int) -> bool:
    scope = exact_scope(user=user)
    return scope == ALL or institution_id in scope


# --- one record ---------------------------------------------------------------------------------


def _round(value, digits: int) -> Decimal:
    # Half away from zero, as PostgreSQL's round(numeric, n) does.
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded == 0 else rounded  # PostgreSQL's numeric has no -0


def _note(existing: str | None, note: str) -> str:
    return NOTE_SEPARATOR.join(part for part in ((existing or "").strip(), note) if part)


def record_generalise(values: Mapping[str, Any], *, level: str) -> dict:
    """`values` (any subset of a record's fields) as the public may see them at `level`.

    Fields not in `values` are not added, except the two notes, which say what was done.
    """
    result = dict(values)
    level = level or NONE
    if level == NONE:
        return result
    if level not in SENSITIVITY_ORDER:
        raise ValueError(f"unknown locality sensitivity {level!r}")
    has_point = values.get("decimal_latitude") is not None and values.get("decimal_longitude") is not None
    if level == WITHHOLD:
        for name in COORDINATE_FIELDS:
            if name in result:
                result[name] = None
    elif has_point:
        digits = COORDINATE_DIGITS[level]
        for name in ("decimal_latitude", "decimal_longitude"):
            if name in result:
                result[name] = _round(values[name], digits)
        if "coordinate_uncertainty_in_meters" in result:
            result["coordinate_uncertainty_in_meters"] = max(
                float(values["coordinate_uncertainty_in_meters"] or 0), UNCERTAINTY_AT_LEAST[level])
        if "coordinate_precision" in result:
            result["coordinate_precision"] = COORDINATE_PRECISION[level]
    for name in HIDDEN_TEXT[level]:
        if name in result:
            result[name] = ""
    for name in HIDDEN_NUMBERS[level]:
        if name in result:
            result[name] = None
    result["data_generalizations"] = _note(values.get("data_generalizations"), GENERALIZATION_NOTE[level])
    result["information_withheld"] = _note(values.get("information_withheld"), WITHHELD_NOTE[level])
    if "locality_sensitivity" in result:
        result["locality_sensitivity"] = level
    return result


def media_public(specimen: Specimen, media: list[dict] | None = None) -> list[dict]:
    """The record's linked images the public may see: label images of a sensitive record stay with
    the owning institution's staff where its collection asks (Collection.sensitive_label_images_private)."""
    media = specimen.media if media is None else media
    if specimen_sensitivity(specimen) == NONE or not specimen.collection.sensitive_label_images_private:
        return media
    return [m for m in media if m.get("kind") != "label"]


def specimen_public_values(specimen: Specimen, *, fields=GENERALISED_FIELDS) -> dict:
    """The generalised values of one specimen's location fields, whoever asks."""
    values = {name: getattr(specimen, name) for name in fields}
    return record_generalise(values, level=specimen_sensitivity(specimen))


def _refuse_save(*args, **kwargs):
    raise RuntimeError("A generalised copy of a specimen is for display only and cannot be saved.")


def specimen_for_viewer(*, user, specimen: Specimen) -> Specimen:
    """The record as `user` may see it: itself for its own institution's staff, otherwise a copy
    with the public values, which refuses to be saved. Templates read it like any specimen."""
    if viewer_sees_exact(user=user, institution_id=specimen.institution_id):
        return specimen
    return specimen_public_copy(specimen)


def specimen_public_copy(specimen: Specimen) -> Specimen:
    level = specimen_sensitivity(specimen)
    if level == NONE:
        return specimen
    public = copy.copy(specimen)
    public.__dict__["_state"] = copy.copy(specimen._state)
    for name, value in specimen_public_values(specimen).items():
        setattr(public, name, value)
    public.media = media_public(specimen)
    public.media_count = len(public.media) + len(specimen.external_media)  # links an import brought stay
    public.is_generalised = True
    public.save = _refuse_save
    return public


def payload_for_viewer(data: dict, *, user, specimen: Specimen) -> dict:
    """A serialised detail payload (API, JSON download) as `user` may see it."""
    if viewer_sees_exact(user=user, institution_id=specimen.institution_id):
        return data
    public = record_generalise({name: data[name] for name in GENERALISED_FIELDS if name in data},
                               level=specimen_sensitivity(specimen))
    for name, value in public.items():
        if name in ("decimal_latitude", "decimal_longitude", "coordinate_precision") and value is not None:
            value = str(value)  # DRF's DecimalField shape
        data[name] = value
    if "media" in data:
        data["media"] = media_public(specimen, data["media"])
        data["media_count"] = len(data["media"]) + len(specimen.external_media)
    return data


def history_for_viewer(history: list[dict], *, user, specimen: Specimen) -> list[dict]:
    """The history page's events (newest first) as `user` may see them: every snapshot generalised
    at the stricter of the record's level now and its level then, and the diffs read from those."""
    if viewer_sees_exact(user=user, institution_id=specimen.institution_id):
        return history
    now = specimen_sensitivity(specimen)
    levels = [sensitivity_stricter(now, event["snapshot"].get("locality_sensitivity")) for event in history]
    snapshots = [record_generalise(event["snapshot"], level=level) for event, level in zip(history, levels)]
    public = []
    for index, event in enumerate(history):
        older = snapshots[index + 1] if index + 1 < len(history) else None
        changes = []
        for name, old, new in event["changes"]:
            if name in GENERALISED_FIELDS:
                new = _field_generalise(name, new, levels[index], snapshots[index])
                old = _field_generalise(name, old, levels[index], older)
                if old == new:
                    continue
            changes.append((name, old, new))
        public.append({**event, "changes": changes, "snapshot": snapshots[index]})
    return public


def _field_generalise(name: str, value, level: str, snapshot: dict | None):
    if snapshot is not None and name in snapshot:
        return snapshot[name]
    # No snapshot to read it from (the oldest event shown): generalise the value on its own, as if
    # the record had a point, so a coordinate is rounded rather than shown.
    point = {"decimal_latitude": 0, "decimal_longitude": 0}
    return record_generalise({**point, name: value}, level=level).get(name) if value is not None else None


# --- the SQL form -------------------------------------------------------------------------------


def _array(levels) -> str:
    return "ARRAY[" + ", ".join(f"'{level}'" for level in levels) + "]::text[]"


def taxon_level_sql(alias: str = "s") -> str:
    """The effective level of the record's taxon: one primary-key probe per row."""
    return f"(SELECT t.effective_sensitivity FROM specimens_taxon t WHERE t.id = {alias}.taxon_id)"


def level_sql(alias: str = "s", taxon_level: str | None = None) -> str:
    """SQL for a record's level: the stricter of its own and its taxon's."""
    taxon_level = taxon_level or taxon_level_sql(alias)
    order = _array(SENSITIVITY_ORDER)
    return (f"(CASE WHEN array_position({order}, COALESCE({taxon_level}, '{NONE}')::text) "
            f"> array_position({order}, {alias}.locality_sensitivity::text) "
            f"THEN {taxon_level} ELSE {alias}.locality_sensitivity END)")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def public_columns_sql(alias: str = "s", taxon_level: str | None = None, level: str | None = None) -> dict[str, str]:
    """Field → SQL expression of its public value, for a specimens_specimen row aliased `alias`.

    `level` is an SQL expression of the record's level already worked out (public_select_sql's
    LATERAL column); without it the level expression is written into every column, which suits
    a few annotated columns but repeats the taxon probe per column on a wide SELECT.
    """
    level = level or level_sql(alias, taxon_level)
    col = lambda name: f"{alias}.{name}"  # noqa: E731
    has_point = f"({col('decimal_latitude')} IS NOT NULL AND {col('decimal_longitude')} IS NOT NULL)"
    columns: dict[str, str] = {}
    for name in ("decimal_latitude", "decimal_longitude"):
        columns[name] = (f"(CASE {level} WHEN '{NONE}' THEN {col(name)} "
                         f"WHEN '{KM10}' THEN round({col(name)}, 1) WHEN '{KM100}' THEN round({col(name)}, 0) END)")
    uncertainty = col("coordinate_uncertainty_in_meters")
    columns["coordinate_uncertainty_in_meters"] = (
        f"(CASE WHEN {level} = '{NONE}' THEN {uncertainty} WHEN {level} = '{WITHHOLD}' THEN NULL "
        f"WHEN NOT {has_point} THEN {uncertainty} "
        f"WHEN {level} = '{KM10}' THEN GREATEST(COALESCE({uncertainty}, 0), {UNCERTAINTY_AT_LEAST[KM10]}) "
        f"ELSE GREATEST(COALESCE({uncertainty}, 0), {UNCERTAINTY_AT_LEAST[KM100]}) END)::double precision")
    precision = col("coordinate_precision")
    columns["coordinate_precision"] = (
        f"(CASE WHEN {level} = '{NONE}' THEN {precision} WHEN {level} = '{WITHHOLD}' THEN NULL "
        f"WHEN NOT {has_point} THEN {precision} "
        f"WHEN {level} = '{KM10}' THEN {COORDINATE_PRECISION[KM10]} ELSE {COORDINATE_PRECISION[KM100]} END)::numeric")
    for name in HIDDEN_WITHHOLD:
        hiding = [lv for lv in SENSITIVITY_ORDER if name in HIDDEN_TEXT[lv]]
        columns[name] = f"(CASE WHEN {level} = ANY({_array(hiding)}) THEN '' ELSE {col(name)} END)"
    for name in HIDDEN_NUMBERS[WITHHOLD]:
        columns[name] = f"(CASE WHEN {level} = '{WITHHOLD}' THEN NULL ELSE {col(name)} END)"
    for name, notes in (("data_generalizations", GENERALIZATION_NOTE), ("information_withheld", WITHHELD_NOTE)):
        whens = " ".join(
            f"WHEN '{lv}' THEN concat_ws({_sql_str(NOTE_SEPARATOR)}, NULLIF(btrim({col(name)}), ''), {_sql_str(note)})"
            for lv, note in notes.items())
        columns[name] = f"(CASE {level} {whens} ELSE {col(name)} END)"
    columns["locality_sensitivity"] = level
    return columns


PUBLIC_LEVEL_COLUMN = "public_level"


def public_level_join_sql(alias: str = "s", taxon_level: str | None = None) -> str:
    """A FROM-clause item that works out each record's level once: pair it with public_select_sql."""
    return f"CROSS JOIN LATERAL (SELECT {level_sql(alias, taxon_level)} AS {PUBLIC_LEVEL_COLUMN}) AS {alias}_public"


def public_select_sql(alias: str = "s", fields=GENERALISED_FIELDS) -> str:
    """`expr AS field, …` for a SELECT list (exports, search rows), reading the level from
    public_level_join_sql(alias) in the same query's FROM."""
    columns = public_columns_sql(alias, level=f"{alias}_public.{PUBLIC_LEVEL_COLUMN}")
    return ", ".join(f"{columns[name]} AS {name}" for name in fields)


def public_annotations(fields=GENERALISED_FIELDS, prefix: str = "public_") -> dict[str, RawSQL]:
    """The SQL form for a Specimen QuerySet: `.annotate(**public_annotations())` adds
    `public_<field>` values computed in the database."""
    columns = public_columns_sql(alias=Specimen._meta.db_table)
    return {f"{prefix}{name}": RawSQL(columns[name], []) for name in fields}
