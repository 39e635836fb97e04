"""Python readings of the few value kinds SQL cannot parse well; applied once per DISTINCT value."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from specimens.dates import EventDateError, parse_event_date
from specimens.models import BasisOfRecord, TaxonRank

# "Tue Apr 01 00:00:00 CET 1930": java.util.Date.toString(), found in old GBIF downloads.
JAVA_DATE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{1,2}) "
    r"\d{2}:\d{2}:\d{2} [A-Z]{2,5} (\d{4})$"
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}


@dataclass(frozen=True)
class DateReading:
    text: str = ""  # the ISO 8601 value stored in eventDate
    start: dt.date | None = None
    end: dt.date | None = None
    year: int | None = None
    month: int | None = None
    day: int | None = None
    error: str | None = None
    java: bool = False


def event_date_read(raw: str, *, today: dt.date) -> DateReading:
    text = " ".join(raw.split())
    java = JAVA_DATE.match(text)
    if java:
        month, day, year = MONTHS[java.group(1)], int(java.group(2)), int(java.group(3))
        try:
            iso = dt.date(year, month, day).isoformat()
        except ValueError:
            return DateReading(error=f"eventDate '{text}' is not a real calendar date.")
        parsed = parse_event_date(iso)
        return DateReading(iso, parsed.start, parsed.end, parsed.year, parsed.month, parsed.day, java=True)
    try:
        parsed = parse_event_date(text)
    except EventDateError as exc:
        return DateReading(
            error=f"eventDate: {exc} Dates such as 6/16/2009 are ambiguous: write 2009-06-16, "
            "or put the text in verbatimEventDate."
        )
    if parsed.start > today:
        return DateReading(error=f"eventDate {text} is in the future.")
    return DateReading(text, parsed.start, parsed.end, parsed.year, parsed.month, parsed.day)


_BASIS = {re.sub(r"[^a-z]", "", value.lower()): value for value in BasisOfRecord.values}
_BASIS.update({
    "specimen": BasisOfRecord.PRESERVED_SPECIMEN,
    "s": BasisOfRecord.PRESERVED_SPECIMEN,
    "fossil": BasisOfRecord.FOSSIL_SPECIMEN,
    "living": BasisOfRecord.LIVING_SPECIMEN,
    "observation": BasisOfRecord.HUMAN_OBSERVATION,
    "o": BasisOfRecord.HUMAN_OBSERVATION,
    "literature": BasisOfRecord.MATERIAL_CITATION,
    "unknown": BasisOfRecord.OCCURRENCE,  # GBIF's enum for "not stated"
})


def basis_of_record_read(raw: str) -> tuple[str | None, str | None]:
    """'PRESERVED_SPECIMEN' (GBIF enum), 'preservedspecimen', 'Preserved specimen' → PreservedSpecimen."""
    value = _BASIS.get(re.sub(r"[^a-z]", "", raw.lower()))
    if value:
        return str(value), None
    return None, f"basisOfRecord '{raw}' is not one of: {', '.join(BasisOfRecord.values)}."


LICENCES = {
    "cc0": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "cc010": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "ccby40": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "ccby": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "ccbync40": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
    "ccbync": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
    "publicdomain": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
}


def license_read(raw: str) -> tuple[str | None, str | None]:
    text = raw.strip()
    if re.match(r"^https?://\S+$", text) and len(text) <= 200:
        return text, None
    value = LICENCES.get(re.sub(r"[^a-z0-9]", "", text.lower()))
    if value:
        return value, None
    return None, f"license '{text}' is neither a URL nor a known licence (CC0, CC BY 4.0, CC BY-NC 4.0)."


# --- names ------------------------------------------------------------------------------------

_MARKERS = {"var.", "subsp.", "ssp.", "f.", "forma", "var", "subsp", "cv.", "nothosubsp."}
_EPITHET = re.compile(r"^[a-zà-ÿ][a-zà-ÿ-]*$")
HIGHER_TERMS = ("kingdom", "phylum", "class", "order", "family", "genus")
RANK_OF_MARKER = {"var.": "variety", "var": "variety", "f.": "form", "forma": "form"}
TAXON_RANKS = frozenset(TaxonRank.values)  # TaxonRank.values builds a new list at every call


def name_split(scientific_name: str, authorship: str = "") -> tuple[str, str]:
    """'Chelonodon fluviatilis (Hamilton, 1822)' → ('Chelonodon fluviatilis', '(Hamilton, 1822)')."""
    text = " ".join(scientific_name.strip().strip('"').split())
    authorship = " ".join(authorship.strip().strip('"').split())
    if authorship and text.endswith(authorship):
        return text[: -len(authorship)].rstrip(" ,"), authorship
    words = text.split(" ")
    kept = words[:1]
    for word in words[1:]:
        if _EPITHET.match(word) or word in _MARKERS:
            kept.append(word)
        else:
            break
    return " ".join(kept), authorship or " ".join(words[len(kept):])


def taxon_path_for(values: dict[str, str]) -> list[tuple[str, str, str]]:
    """[(rank, name, authorship), …] from kingdom down to the leaf; authorship only on the leaf."""
    path = [(rank, " ".join(values.get(rank, "").split())) for rank in HIGHER_TERMS]
    path = [(rank if rank != "class" else "class", name) for rank, name in path if name]
    scientific = values.get("scientificName", "")
    authorship = values.get("scientificNameAuthorship", "")
    if scientific.strip().strip('"'):
        leaf, authorship = name_split(scientific, authorship)
    elif values.get("genus") and values.get("specificEpithet"):
        leaf = " ".join(filter(None, [values["genus"], values["specificEpithet"], values.get("infraspecificEpithet", "")]))
        leaf, authorship = " ".join(leaf.split()), authorship.strip()
    else:
        leaf = ""
    result = [(rank, name, "") for rank, name in path]
    if not leaf:
        return result
    rank = (values.get("taxonRank") or "").strip().lower()
    words = leaf.split(" ")
    if rank not in TAXON_RANKS:
        if len(words) == 1:
            rank = "genus" if values.get("genus", "").strip() == leaf else TaxonRank.UNRANKED
        elif len(words) == 2:
            rank = "species"
        else:
            rank = next((RANK_OF_MARKER[w] for w in words if w in RANK_OF_MARKER), "subspecies")
    if len(leaf) > 255 or len(authorship) > 255:
        return result
    if result and result[-1][1] == leaf:
        result[-1] = (result[-1][0], leaf, authorship)
    else:
        result.append((rank, leaf, authorship))
    return result
