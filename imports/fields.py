"""Which Darwin Core term fills which Specimen column, and how its text is checked in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from specimens.dwc import TAXON_TERMS, TERM_FIELDS  # noqa: F401 — the import reads these names here
from specimens.models import Specimen

# Read through value maps filled in Python from DISTINCT values (few of them, even at 1 M rows).
MAPPED_TERMS = ("eventDate", "basisOfRecord", "license")

# Unbounded repeats plus a length limit: PostgreSQL's regex engine expands bounded repeats such as
# {1,30} into long automata (2.5 s a column at a million rows instead of 0.5 s).
NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9][0-9]?)?$"
NUMBER_MAX_LENGTH = 64  # numeric and float8 both take any such text this short without overflow
INTEGER = r"^[+-]?[0-9]+$"
INTEGER_MAX_LENGTH = 10  # ± and nine digits: fits an int


@dataclass(frozen=True)
class ImportField:
    term: str
    name: str  # Specimen field
    kind: str  # text | float | decimal | int | mapped
    max_length: int | None = None
    low: float | None = None
    high: float | None = None

    @property
    def soft(self) -> bool:
        """An invalid value is dropped with a warning instead of rejecting the row."""
        return self.name in SOFT_FIELDS


SOFT_FIELDS = {
    "coordinate_precision", "coordinate_uncertainty_in_meters", "individual_count",
    "minimum_elevation_in_meters", "maximum_elevation_in_meters", "minimum_depth_in_meters", "maximum_depth_in_meters",
    "year", "month", "day",  # GBIF writes 0 for "unknown"; eventDate carries the date when present
}
RANGES = {
    "decimal_latitude": (-90, 90),
    "decimal_longitude": (-180, 180),
    "coordinate_precision": (0, 999),
    "coordinate_uncertainty_in_meters": (0, 1e8),
    "individual_count": (0, 2_000_000_000),
    "year": (1, 9999),
    "month": (1, 12),
    "day": (1, 31),
}


def import_fields() -> list[ImportField]:
    fields = []
    for term, name in TERM_FIELDS.items():
        model_field = Specimen._meta.get_field(name)
        low, high = RANGES.get(name, (None, None))
        if term in MAPPED_TERMS:
            kind = "mapped"
        elif isinstance(model_field, models.DecimalField):
            kind = "decimal"
        elif isinstance(model_field, models.FloatField):
            kind = "float"
        elif isinstance(model_field, (models.IntegerField, models.SmallIntegerField)):
            kind = "int"
        else:
            kind = "text"
        max_length = getattr(model_field, "max_length", None) if kind == "text" else None
        fields.append(ImportField(term, name, kind, max_length, low, high))
    return fields


IMPORT_FIELDS = import_fields()
