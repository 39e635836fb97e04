"""MIDS (Minimum Information about a Digital Specimen, TDWG): the level a record reaches, and why.

Pure: a record's Darwin Core values in, the level and per-element results out; no database. The
rules are data, the TDWG SSSOM mapping sets vendored in `standards/mids_mappings/` (SOURCES.md),
read once at import. A file that does not parse, or names a predicate, level or term we do not
know, raises MappingError naming the file and line, so the site does not start with wrong levels.

How a mapping row is read (tdwg/mids `source/md/mappings-header.md`):
- `skos:narrowMatch` / `skos:exactMatch`: the element is met when that one term has a value.
- `owl:intersectionOf`: the group listed in `sssom:object_match_field` (on one row of the group)
  is met only when every term of it has a value.
- `semapv:RegexRemoval`: `|`-separated values that do not count as a value. The leading empty
  entry is "empty"; the others (`unknown:undigitized`, `incertae sedis`, `0`) are compared with
  the whole value, ignoring case and surrounding whitespace (as MIDSCalculator's `na_if`; see
  docs/MIDS.md for why not a substring regex).
- A level is reached when every element of it and of every lower level is met. A record that
  misses a MIDS-0 element is level -1 (BELOW).

Terms are keyed by their simple name ("catalogNumber", "license", "taxonKey"). Terms of a
multimedia extension row are keyed "Multimedia.<term>" ("Multimedia.identifier"): a record with
an image of its own passes those.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from .terms import DWC_TERMS, GBIF_TERMS

MAPPINGS_DIR = Path(__file__).resolve().parent / "mids_mappings"
# Collection.mids_discipline → mapping set file stem (TDWG spells palaeontology the US way).
DISCIPLINE_MAPPING_SETS = {
    "biology": "mids_dwc-a_biology_1",
    "geology": "mids_dwc-a_geology_1",
    "palaeontology": "mids_dwc-a_paleontology_1",
}
BELOW = -1  # assessed, but a MIDS-0 element is missing
LEVELS = (0, 1, 2, 3)
PREDICATES = {"skos:narrowMatch", "skos:exactMatch", "owl:intersectionOf"}
MULTIMEDIA_CATEGORIES = {"gbif:Multimedia", "ac:Multimedia"}
RECORD_CATEGORIES = {"dwc:Occurrence", "dwc:Identification"}  # one flat row per specimen here
REQUIRED_COLUMNS = (
    "sssom:subject_id", "sssom:subject_category", "sssom:predicate_id", "sssom:object_id",
    "sssom:object_category", "sssom:object_match_field", "semapv:RegexRemoval",
)
# Terms the mappings use beyond standards.terms' lists, by namespace prefix.
OTHER_KNOWN_TERMS = {
    "dcterms": {"license", "modified", "identifier", "references"},
    "ac": {"accessURI"},
    "gbif": {"taxonKey", "mediaType"},
    "chrono": {"chronometricAgeID", "earliestChronometricAge", "latestChronometricAge", "verbatimChronometricAge"},
}

PLACEHOLDER = "holds a placeholder value ('{value}'), which does not count"
MISSING = "no value in {terms}"
PARTIAL = "{have} without {missing}"


class MappingError(ValueError):
    """A mapping file we cannot use; the message starts with file:line."""


def value_state(value, exclusions: frozenset[str] = frozenset()) -> str | None:
    """None when the value counts as absent; "" when present; else the placeholder it matched.

    Surrounding whitespace and control characters are not a value; any other text of any length
    or script is. Comparison with the placeholders ignores case.
    """
    if value is None or value is False:
        return None
    if value is True:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _strip(text)
    if not text:
        return None
    folded = text.casefold()
    if folded in exclusions:
        return folded
    return ""


_NONE: frozenset[str] = frozenset()


def _control(char: str) -> bool:
    return char < " " or "\x7f" <= char <= "\x9f"


def _strip(text: str) -> str:
    text = text.strip()
    if text and (_control(text[0]) or _control(text[-1])):
        start, end = 0, len(text)
        while start < end and (text[start].isspace() or _control(text[start])):
            start += 1
        while end > start and (text[end - 1].isspace() or _control(text[end - 1])):
            end -= 1
        text = text[start:end]
    return text


@dataclass(frozen=True)
class Rule:
    """One way to meet an element: every term listed has a value."""

    terms: tuple[str, ...]

    @property
    def label(self) -> str:
        return " + ".join(self.terms)


@dataclass(frozen=True)
class Element:
    name: str  # as MIDS writes it: "PhysicalSpecimenID"
    level: int
    rules: tuple[Rule, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for rule in self.rules:
            for term in rule.terms:
                seen.setdefault(term)
        return tuple(seen)


@dataclass(frozen=True)
class ElementResult:
    element: str
    level: int
    passed: bool
    term: str = ""  # the rule that met it ("catalogNumber", "decimalLatitude + decimalLongitude")
    reason: str = ""  # why not, when it failed

    def as_dict(self) -> dict:
        result = {"element": self.element, "level": self.level, "pass": self.passed}
        result["term" if self.passed else "reason"] = self.term if self.passed else self.reason
        return result


@dataclass(frozen=True)
class MidsResult:
    level: int  # -1 (BELOW) to 3
    elements: tuple[ElementResult, ...]
    blocking: tuple[str, ...]  # failing elements of the next level up (empty at MIDS-3)
    mapping_set: str
    mapping_version: str

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(e.element for e in self.elements if not e.passed)

    def as_dict(self) -> dict:
        return {
            "level": self.level,
            "elements": [e.as_dict() for e in self.elements],
            "blocking": list(self.blocking),
            "mapping_set": self.mapping_set,
            "mapping_version": self.mapping_version,
        }


@dataclass(frozen=True, eq=False)  # hashed by identity: results are cached per (set, states)
class MappingSet:
    id: str  # mapping_set_id, e.g. "mids_dwc-a_biology_1"
    version: str  # mapping_set_version from the .yml
    sha256: str  # of the .tsv and .yml bytes: the version we store with each level
    license: str
    elements: tuple[Element, ...]  # in level order, then file order
    exclusions: Mapping[str, frozenset[str]] = field(default_factory=dict)  # term → placeholders

    @property
    def mapping_version(self) -> str:
        return f"{self.version}:{self.sha256[:16]}"

    @cached_property
    def terms(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for element in self.elements:
            for term in element.terms:
                seen.setdefault(term)
        return tuple(seen)

    def states(self, record: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
        """(term, "" or the placeholder matched) for every mapped term with something in it.

        Everything evaluate() needs, and small and hashable: records alike in it share a result.
        """
        states = []
        get, exclusions = record.get, self.exclusions
        for term in self.terms:
            value = get(term)
            if value is None or value == "":
                continue
            state = value_state(value, exclusions.get(term, _NONE))
            if state is not None:
                states.append((term, state))
        return tuple(states)

    def evaluate(self, record: Mapping[str, object]) -> MidsResult:
        return self.evaluate_states(self.states(record))

    def evaluate_states(self, states: tuple[tuple[str, str], ...]) -> MidsResult:
        return _evaluate_states(self, states)


@lru_cache(maxsize=4096)
def _evaluate_states(mapping: MappingSet, states: tuple[tuple[str, str], ...]) -> MidsResult:
    seen = dict(states)
    present = {term for term, state in states if state == ""}
    results = []
    for element in mapping.elements:
        met = next((rule for rule in element.rules if all(t in present for t in rule.terms)), None)
        if met is not None:
            results.append(ElementResult(element.name, element.level, True, term=met.label))
        else:
            results.append(ElementResult(element.name, element.level, False, reason=_reason(element, seen, present)))
    level = BELOW
    for candidate in LEVELS:
        if all(r.passed for r in results if r.level == candidate):
            level = candidate
        else:
            break
    blocking = tuple(r.element for r in results if r.level == level + 1 and not r.passed)
    return MidsResult(level, tuple(results), blocking, mapping.id, mapping.mapping_version)


def _reason(element: Element, seen: dict[str, str], present: set[str]) -> str:
    placeholders = [f"{term} {PLACEHOLDER.format(value=seen[term])}" for term in element.terms if seen.get(term)]
    partial = []
    for rule in element.rules:
        if len(rule.terms) > 1:
            have = [t for t in rule.terms if t in present]
            if have:
                partial.append(PARTIAL.format(have=", ".join(have), missing=", ".join(t for t in rule.terms if t not in present)))
    parts = placeholders + partial
    if not parts:
        parts = [MISSING.format(terms=", ".join(element.terms))]
    return "; ".join(parts)


# --- reading the mapping files ----------------------------------------------------------------------


def _known_term(prefix: str, name: str) -> bool:
    if name in OTHER_KNOWN_TERMS.get(prefix, ()):
        return True
    if prefix in ("dwc", "dcterms"):
        return name in DWC_TERMS
    if prefix == "gbif":
        return name in GBIF_TERMS
    return False


def mapping_set_load(stem: str, directory: Path = MAPPINGS_DIR) -> MappingSet:
    tsv, yml = directory / f"{stem}.sssom.tsv", directory / f"{stem}.sssom.yml"
    try:
        tsv_bytes, yml_bytes = tsv.read_bytes(), yml.read_bytes()
    except OSError as exc:
        raise MappingError(f"{exc.filename}:0: cannot read the MIDS mapping file ({exc.strerror})") from None
    try:
        meta = yaml.safe_load(yml_bytes.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        raise MappingError(f"{yml}:{line}: not a YAML mapping-set header ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("curie_map"), dict) or not meta.get("mapping_set_id"):
        raise MappingError(f"{yml}:1: the mapping-set header needs curie_map and mapping_set_id")
    prefixes = set(meta["curie_map"])
    try:
        text = tsv_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = tsv_bytes[:exc.start].count(b"\n") + 1
        raise MappingError(f"{tsv}:{line}: not UTF-8") from None
    rows = list(csv.reader(text.splitlines(), delimiter="\t", quotechar='"'))
    if not rows:
        raise MappingError(f"{tsv}:1: empty mapping file")
    header = rows[0]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise MappingError(f"{tsv}:1: missing column(s) {', '.join(missing)}")
    col = {name: header.index(name) for name in REQUIRED_COLUMNS}

    def curie(value: str, line: int, what: str) -> tuple[str, str]:
        prefix, sep, name = value.partition(":")
        if not sep or not name or prefix not in prefixes:
            raise MappingError(f"{tsv}:{line}: {what} '{value}' is not a CURIE with a prefix of the curie_map")
        return prefix, name

    def term_key(value: str, category: str, line: int) -> str:
        prefix, name = curie(value, line, "term")
        if not _known_term(prefix, name):
            raise MappingError(f"{tsv}:{line}: unknown term '{value}'")
        if category in MULTIMEDIA_CATEGORIES:
            return f"Multimedia.{name}"
        if category and category not in RECORD_CATEGORIES:
            raise MappingError(f"{tsv}:{line}: unknown object_category '{category}'")
        return name

    elements: dict[str, dict] = {}
    exclusions: dict[str, set[str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise MappingError(f"{tsv}:{line}: {len(row)} fields, the header has {len(header)}")
        subject, category = row[col["sssom:subject_id"]], row[col["sssom:subject_category"]]
        prefix, element_name = curie(subject, line, "subject")
        if prefix != "mids":
            raise MappingError(f"{tsv}:{line}: subject '{subject}' is not a MIDS element")
        if category not in {f"mids:MIDS{n}" for n in LEVELS}:
            raise MappingError(f"{tsv}:{line}: unknown MIDS level '{category}'")
        predicate = row[col["sssom:predicate_id"]]
        if predicate not in PREDICATES:
            raise MappingError(f"{tsv}:{line}: unknown predicate '{predicate}'")
        object_category = row[col["sssom:object_category"]]
        term = term_key(row[col["sssom:object_id"]], object_category, line)
        removal = row[col["semapv:RegexRemoval"]].split("|")
        exclusions.setdefault(term, set()).update(v.strip().casefold() for v in removal if v.strip())
        entry = elements.setdefault(element_name, {"level": int(category[-1]), "rules": [], "grouped": [], "line": line})
        if entry["level"] != int(category[-1]):
            raise MappingError(f"{tsv}:{line}: {element_name} is given two MIDS levels")
        if predicate == "owl:intersectionOf":
            entry["grouped"].append((term, line))
            group = row[col["sssom:object_match_field"]]
            if group:
                terms = tuple(term_key(t, object_category, line) for t in group.split("|"))
                entry["rules"].append(Rule(terms))
        else:
            entry["rules"].append(Rule((term,)))
    for name, entry in elements.items():
        in_groups = {t for rule in entry["rules"] for t in rule.terms}
        for term, line in entry["grouped"]:
            if term not in in_groups:
                raise MappingError(f"{tsv}:{line}: {term} is an intersectionOf member of {name} but in no object_match_field")
        if not entry["rules"]:
            raise MappingError(f"{tsv}:{entry['line']}: {name} has no usable mapping")
    ordered = sorted(elements.items(), key=lambda item: (item[1]["level"], item[1]["line"]))
    return MappingSet(
        id=str(meta["mapping_set_id"]),
        version=str(meta.get("mapping_set_version", "")),
        sha256=hashlib.sha256(tsv_bytes + b"\0" + yml_bytes).hexdigest(),
        license=str(meta.get("license", "")),
        # A rule listed twice (dcterms:identifier of two multimedia extensions) is one rule.
        elements=tuple(Element(name, e["level"], tuple(dict.fromkeys(e["rules"]))) for name, e in ordered),
        exclusions={t: frozenset(v) for t, v in exclusions.items()},
    )


def mapping_sets_load(directory: Path = MAPPINGS_DIR) -> dict[str, MappingSet]:
    return {discipline: mapping_set_load(stem, directory) for discipline, stem in DISCIPLINE_MAPPING_SETS.items()}


# Read at import: a broken or unknown mapping stops the start-up, with its file and line.
MAPPING_SETS = mapping_sets_load()


def mapping_set_for(discipline: str) -> MappingSet:
    return MAPPING_SETS[discipline or "biology"]


def mids_evaluate(record: Mapping[str, object], *, discipline: str = "biology") -> MidsResult:
    """The MIDS level and per-element results for one record (Darwin Core term → value).

    The caller folds in its own facts first: "Multimedia.identifier" for an image of its own, the
    collection's licence as "license" when the record has none (as GBIF reads a dataset licence).
    """
    return mapping_set_for(discipline).evaluate(record)
