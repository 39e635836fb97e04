"""Import a Darwin Core checklist (Taxon core, or a CSV/TSV with Taxon columns) into the tree.

file → guards + meta.xml (standards.reader, as the specimen importer opens it) → the rows read
once → each row's place: under its parentNameUsageID row (any order in the file), else under its
classification columns (kingdom … genus), else beside its accepted name (a synonym), else at the
top → one transaction, under one history context: the tree ensured level by level (one SELECT
of the level's existing children, one COPY of the missing nodes), blanks of matched nodes
filled in (authorship, name_id, vernacular_name), then synonyms linked with one UPDATE. A dry
run does all of it and rolls back, so its counts are exact. A bad row is reported and skipped
(with the rows that hang under it); a file that is not a checklist is refused.

From the browser a checklist is an ImportBatch of kind "taxa" (taxa_import_batch_create, run by
the bulk worker through import_batch_run_by_kind): the same pages, progress and row report as a
specimen import, its counts in the batch's columns, its problems in ImportRowError.

Matching follows specimens.taxonomy.taxa_ensure (same parent, name and
authorship; a name given without authorship matches a node of that name under the same parent)
with two differences. A name is never matched elsewhere in the tree, as that helper does for a
specimen's leaf name: a checklist states where each name belongs, and matching elsewhere would
place a row and its children under different nodes, or create a synonym again on a second run.
And a name given with authorship also matches the same name without authorship under the same
parent (the only one of that name there), which then takes the authorship: the tree built by
specimen imports has none on its higher ranks, and a checklist would otherwise duplicate it.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from psycopg import sql

from institutions.models import Institution
from institutions.selectors import ALL, institution_scope, memberships_for
from specimens.dwc import HIGHER_COLUMNS, columns_sql
from specimens.models import TAXON_PATH_STEP, ImportBatch, ImportRowError, Taxon
from specimens.taxonomy import ROOT, NewTaxon, TaxonPlace, taxa_insert, taxon_ids_draw
from standards.archive import ArchiveError
from standards.reader import DwcArchive, dwc_open
from standards.terms import ROW_TYPE_TAXON, term_local_name

from .batches import (
    ADVISORY_LOCK,
    ImportLease,
    LeaseLost,
    import_batch_claim,
    import_batch_set,
    import_report_write,
)
from .run import import_batch_run
from .sql import sql_copy, sql_execute, sql_fetch
from .taxon_paths import HIGHER_TERMS, name_split, taxon_path_for

logger = logging.getLogger(__name__)

# --- messages ---------------------------------------------------------------------------------

NOT_TAXON_CORE = (
    "The core of this archive is {row_type}, not taxa: it describes {what}. A checklist import needs a "
    f"Taxon core ({ROW_TYPE_TAXON}). To import specimen records, upload the file again and choose "
    f'"{ImportBatch.Kind.SPECIMENS.label}" (or use import_specimens).'
)
NOT_A_CHECKLIST = (
    "This file has {columns} columns: it holds specimen or occurrence records, not a checklist. "
    f'Upload it again and choose "{ImportBatch.Kind.SPECIMENS.label}" (or use import_specimens).'
)
NO_NAME_COLUMNS = (
    "The file has no taxon name columns: a checklist needs scientificName, or genus and specificEpithet, "
    "or classification columns (kingdom, phylum, class, order, family, genus)."
)
NO_ROWS = "The file has no data rows."

NO_NAME = "No name: give scientificName, or genus and specificEpithet, or the column its taxonRank names."
OPEN_NOMENCLATURE = (
    "'{value}' is not a scientific name: '{marker}' qualifies an identification (open nomenclature). "
    "Put the name in scientificName and the qualifier in a specimen's identificationQualifier."
)
TOO_LONG = "{term} is longer than {limit} characters."
TOO_MANY_VALUES = (
    "This row has {count} values but the file declares {width} columns (a stray field separator?); "
    "the row was not imported."
)
DUPLICATE_ID = "taxonID {value} also appears on line {line}; only the first row is imported."
PARENT_MISSING = "parentNameUsageID '{value}' is not the taxonID of any row in this file."
ACCEPTED_MISSING = "acceptedNameUsageID '{value}' is not the taxonID of any row in this file."
CYCLE = "parentNameUsageID / acceptedNameUsageID links go round in a circle (lines {lines}); none of these rows is imported."
PARENT_REJECTED = "Its parent (line {line}) was not imported, so neither is this row."
ACCEPTED_REJECTED = "Its accepted name (line {line}) was not imported, so neither is this row."
TOO_DEEP = "The row lies more than {limit} levels deep; the tree holds at most {limit} levels."
# Warnings: the row is imported.
SYNONYM_UNLINKED = (
    "taxonomicStatus says '{value}' but the row names no accepted name found in the file "
    "(acceptedNameUsageID or acceptedNameUsage); imported without a link to its accepted name."
)
SAME_TAXON = "The same taxon as line {line}; imported once."
SYNONYM_OF_ITSELF = "This synonym and its accepted name (line {line}) are the same node of the tree; no link set."
SYNONYM_ALSO_ACCEPTED = "This node is also the accepted name of another row; no synonym link set."
ACCEPTED_IS_SYNONYM = "Its accepted name (line {line}) is recorded as a synonym in the tree; no link set."
SYNONYM_TWO_ACCEPTED = "This node is already linked to another accepted name by line {line}; no second link set."
VALUE_LEFT_OUT = "{term} is longer than {limit} characters; the value was left out and the row imported."

# Columns only occurrence records have: such a file is refused rather than read as names.
OCCURRENCE_ONLY = ("catalogNumber", "occurrenceID", "basisOfRecord")
NAME_TERMS = ("scientificName", "genus", "specificEpithet", *HIGHER_TERMS)
READ_TERMS = (
    "taxonID", "parentNameUsageID", "acceptedNameUsageID", "acceptedNameUsage", "taxonomicStatus",
    "scientificName", "scientificNameAuthorship", "taxonRank", *HIGHER_TERMS, "specificEpithet",
    "infraspecificEpithet", "scientificNameID", "vernacularName",
)
MAX_DEPTH = Taxon._meta.get_field("path").max_length // TAXON_PATH_STEP
NAME_MAX = Taxon._meta.get_field("name").max_length
HIGHER_MAX = Taxon._meta.get_field("kingdom").max_length
NAME_ID_MAX = Taxon._meta.get_field("name_id").max_length
VERNACULAR_MAX = Taxon._meta.get_field("vernacular_name").max_length
URI_PREFIXES = ("http://", "https://", "urn:", "doi:")
# Words that mark an identification, not a name ("Pardosa cf. hyperborea", "Troglohyphantes sp.").
OPEN_NOMENCLATURE_MARKERS = {"sp.", "sp", "spp.", "spp", "cf.", "cf", "aff.", "aff", "nr.", "indet.", "indet", "?"}


# --- result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxaImportProblem:
    line: int | None
    field: str
    value: str
    message: str
    severity: str = "error"  # error: the row was not imported; warning: it was


@dataclass
class TaxaImportResult:
    rows: int = 0
    created: int = 0  # nodes added to the tree, with the higher ranks the classification columns imply
    matched: int = 0  # rows whose taxon was already in the tree
    updated: int = 0  # matched nodes whose blank authorship, name_id or vernacular_name was filled in
    synonyms: int = 0  # synonym links set or changed
    dry_run: bool = False
    failed: bool = False  # stopped by an unexpected error (not a refused file)
    seconds: float = 0.0
    problems: list[TaxaImportProblem] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({p.line for p in self.problems if p.severity == "error"})

    @property
    def file_rejected(self) -> bool:
        return bool(self.file_errors)


# --- entry points -----------------------------------------------------------------------------


def taxa_import(*, path: str | Path, user=None, dry_run: bool = False,
                progress: Callable[[str, int], None] | None = None) -> TaxaImportResult:
    """Import the checklist at `path` (DwC-A zip or folder, or CSV/TSV). Never raises for a bad file.

    `progress(phase, rows)` is called as the work moves on: "validating" once the rows are read,
    then "writing" (the ImportBatch.Status values of those steps).
    """
    started = time.perf_counter()
    result = TaxaImportResult(dry_run=dry_run)
    run = _TaxaRun(result)
    try:
        run.execute(path=Path(path), user=user, dry_run=dry_run, progress=progress)
    except ArchiveError as exc:
        result.file_errors.append(str(exc))
    except Exception as exc:  # never a traceback for the curator; the log keeps it
        logger.exception("taxa import of %s failed", path)
        result.failed = True
        result.file_errors.append(f"The import stopped unexpectedly: {exc}")
    finally:
        run.close()
    if result.file_rejected:
        result.created = result.matched = result.updated = result.synonyms = 0
    result.seconds = time.perf_counter() - started
    return result


def taxa_import_report_write(*, result: TaxaImportResult, out: io.TextIOBase) -> int:
    """The report, in the specimen importer's columns: file errors and warnings, then row problems."""
    problems = sorted(result.problems, key=lambda p: (p.line or 0, p.severity != "error"))
    return import_report_write(out=out, file_errors=result.file_errors, warnings=result.warnings, warned="row imported",
                               rows=((p.line, p.field, p.value, p.message, p.severity) for p in problems))


# --- in the browser: an ImportBatch of kind "taxa" --------------------------------------------

TAXA_IMPORT_NOT_ALLOWED = (
    "Only a curator or collection manager may import a checklist: its names go into the taxonomic tree "
    "that every institution shares."
)
TAXA_IMPORT_NO_INSTITUTION = (
    "A checklist import is listed under its uploader's institution, and you belong to none: add a "
    "membership for yourself first."
)
CHOOSE_CHECKLIST = (
    "This file is a taxonomic checklist, not specimen records. To add its names to the taxonomic tree, "
    f'upload it again and choose "{ImportBatch.Kind.TAXA.label}".'
)
# Columns only a checklist has: a CSV/TSV with one of them and no occurrence column is a checklist.
CHECKLIST_ONLY = ("taxonID", "parentNameUsageID", "acceptedNameUsageID", "taxonomicStatus")


def taxa_import_permitted(*, user) -> bool:
    """Curators and collection managers of any institution, and administrators (not digitisers)."""
    return bool(institution_scope(user=user, action="import_taxa"))


def taxa_import_batch_create(*, path: str | Path, user, dry_run: bool = False) -> ImportBatch:
    """Record a checklist import, listed under the uploader's institution (the first by code).

    Raises PermissionDenied for a user who may not add names to the shared tree.
    """
    scope = institution_scope(user=user, action="import_taxa")
    if not scope:
        raise PermissionDenied(TAXA_IMPORT_NOT_ALLOWED)
    if scope == ALL:  # an administrator: any institution of their own
        scope = {institution for institution, _ in memberships_for(user=user) if institution is not None}
    institution_id = Institution.objects.filter(pk__in=scope).order_by("code").values_list("pk", flat=True).first()
    if institution_id is None:
        raise ValidationError({"kind": TAXA_IMPORT_NO_INSTITUTION})
    path = Path(path)
    batch = ImportBatch(
        kind=ImportBatch.Kind.TAXA, collection=None, institution_id=institution_id, created_by=user,
        file_name=path.name[:255], source_path=str(path), dry_run=dry_run,
    )
    batch.full_clean()
    batch.save()
    return batch


def taxa_import_batch_run(*, batch_id: int) -> ImportBatch | None:
    """Claim the checklist batch's lease and run it from the start (imports.batches); a
    redelivered task, or one for a batch another live task runs, does nothing."""
    batch, owner = import_batch_claim(batch_id=batch_id, kind=ImportBatch.Kind.TAXA)
    if owner is None:
        return batch
    lease = ImportLease(batch, owner)
    with lease.kept():
        try:
            _taxa_batch_execute(batch, lease)
        except LeaseLost:
            logger.warning("checklist batch %s: another task runs it now; this attempt stopped", batch.pk)
    return batch


def _taxa_batch_execute(batch: ImportBatch, lease: ImportLease) -> None:
    def progress(phase: str, rows: int) -> None:
        lease.set(batch, status=phase, rows_total=rows)

    result = taxa_import(path=batch.source_path, user=batch.created_by, dry_run=batch.dry_run, progress=progress)
    lease.check()  # a LeaseLost inside is reported as a failed import: it is not this attempt's to record
    if result.failed:
        status = ImportBatch.Status.FAILED
    elif result.file_rejected:
        status = ImportBatch.Status.REJECTED
    else:
        status = ImportBatch.Status.DONE
    try:
        with transaction.atomic():
            lease.fence()
            ImportRowError.objects.filter(batch=batch).delete()
            ImportRowError.objects.bulk_create(
                (ImportRowError(batch=batch, severity=p.severity, line=p.line or 0, column=p.field[:120], value=p.value,
                                message=p.message) for p in result.problems),
                batch_size=5000,
            )
            lease.set(
                batch, status=status, finished_at=timezone.now(), rows_total=result.rows,
                rows_done=result.rows if status == ImportBatch.Status.DONE else 0,
                inserted_count=result.created, unchanged_count=result.matched, updated_count=result.updated,
                synonym_count=result.synonyms, rejected_count=result.rejected,
                file_errors=result.file_errors, file_warnings=result.warnings,
            )
    except LeaseLost:
        raise
    except Exception as exc:  # the page must stop polling: say so on the batch; the log keeps the traceback
        logger.exception("recording checklist batch %s failed", batch.pk)
        lease.set(batch, status=ImportBatch.Status.FAILED, finished_at=timezone.now(),
                  file_errors=[f"The import stopped unexpectedly: {exc}"])


def import_batch_run_by_kind(*, batch_id: int) -> ImportBatch | None:
    """The bulk worker's door: a checklist batch, or specimen records (import_batch_run). A checklist
    refused as specimen records is told which choice imports it."""
    kind = ImportBatch.objects.filter(pk=batch_id).values_list("kind", flat=True).first()
    if kind == ImportBatch.Kind.TAXA:
        return taxa_import_batch_run(batch_id=batch_id)
    batch = import_batch_run(batch_id=batch_id)
    if (batch is not None and batch.status == ImportBatch.Status.REJECTED and CHOOSE_CHECKLIST not in batch.file_errors
            and _holds_checklist(batch.source_path)):
        import_batch_set(batch, file_errors=[*batch.file_errors, CHOOSE_CHECKLIST])
    return batch


def _holds_checklist(path: str) -> bool:
    """A Taxon core, or an undeclared CSV/TSV with checklist columns and no occurrence column."""
    try:
        archive = dwc_open(path)
    except (ArchiveError, OSError):
        return False
    try:
        core = archive.core
        if core.declared:
            return _is_taxon_core(core.row_type)
        terms = {spec.canonical for spec in core.fields if spec.canonical}
        return not terms.intersection(OCCURRENCE_ONLY) and bool(terms.intersection(CHECKLIST_ONLY))
    finally:
        archive.close()


# --- reading ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    line: int
    taxon_id: str
    parent_ref: str
    accepted_ref: str
    accepted_name: str
    status: str
    own: tuple[str, str, str] | None  # (rank, name, authorship)
    above: tuple  # the classification columns above the row: ((rank, name, ""), …)
    name_id: str
    vernacular: str
    parent: int | None = None  # row index, once resolved
    accepted: int | None = None  # row index of the accepted name (direct)
    path: tuple | None = None


def _is_taxon_core(row_type: str) -> bool:
    return term_local_name(row_type or "").lower() == "taxon"


def _row_names(values: dict[str, str]) -> tuple[tuple, tuple[str, str, str]] | TaxaImportProblem:
    """(classification above the row, the row's own (rank, name, authorship)), or the problem."""
    scientific = values.get("scientificName", "").strip().strip('"')
    authorship = values.get("scientificNameAuthorship", "")
    genus, epithet = values.get("genus", ""), values.get("specificEpithet", "")
    for term in HIGHER_TERMS:
        if len(values.get(term, "")) > HIGHER_MAX:
            return TaxaImportProblem(None, term, values[term][:200], TOO_LONG.format(term=term, limit=HIGHER_MAX))
    if scientific or (genus and epithet):
        # Checked first: taxon_path_for leaves a name that is too long out without a word.
        if scientific and (len(scientific) > NAME_MAX or len(authorship) > NAME_MAX):
            leaf, authorship = name_split(scientific, authorship)
        elif not scientific:
            leaf = " ".join(" ".join([genus, epithet, values.get("infraspecificEpithet", "")]).split())
        else:
            leaf = ""
        if len(leaf) > NAME_MAX:
            return TaxaImportProblem(None, "scientificName" if scientific else "specificEpithet", leaf[:200],
                                     TOO_LONG.format(term="The name", limit=NAME_MAX))
        if len(authorship.strip()) > NAME_MAX:
            return TaxaImportProblem(None, "scientificNameAuthorship", authorship[:200],
                                     TOO_LONG.format(term="scientificNameAuthorship", limit=NAME_MAX))
        path = taxon_path_for(values)
        leaf = path[-1][1]
        marker = next((w for w in leaf.split(" ")[1:] if w.lower() in OPEN_NOMENCLATURE_MARKERS), None)
        if marker:
            return TaxaImportProblem(None, "scientificName" if scientific else "specificEpithet", leaf,
                                     OPEN_NOMENCLATURE.format(value=leaf, marker=marker))
        return tuple(path[:-1]), path[-1]
    # No name of its own: a higher taxon named by the column its taxonRank names (family=Agelenidae).
    rank = values.get("taxonRank", "").strip().lower()
    if rank not in HIGHER_TERMS or not values.get(rank, "").strip():
        return TaxaImportProblem(None, "scientificName", "", NO_NAME)
    authorship = " ".join(authorship.split())
    if len(authorship) > NAME_MAX:
        return TaxaImportProblem(None, "scientificNameAuthorship", authorship[:200],
                                 TOO_LONG.format(term="scientificNameAuthorship", limit=NAME_MAX))
    path = taxon_path_for({term: values.get(term, "") for term in HIGHER_TERMS[: HIGHER_TERMS.index(rank) + 1]})
    rank, name, _ = path[-1]
    return tuple(path[:-1]), (rank, name, authorship)


class _TaxaRun:
    def __init__(self, result: TaxaImportResult):
        self.result = result
        self.archive: DwcArchive | None = None
        self.columns: dict[str, int] = {}
        self.defaults: dict[str, str] = {}
        self.rows: list[_Row] = []
        self.rejected: set[int] = set()  # row indexes not imported
        self.ids: dict[str, int] = {}  # taxonID → row index (the first row with it)
        self.unread: dict[str, int] = {}  # taxonID → line, of rows too malformed to read

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()

    def problem(self, index: int | None, term: str, value: str, message: str, *, severity: str = "error",
                line: int | None = None) -> None:
        if index is not None:
            line = self.rows[index].line
            if severity == "error":
                self.rejected.add(index)
        self.result.problems.append(TaxaImportProblem(line, term, value, message, severity))

    def execute(self, *, path: Path, user, dry_run: bool, progress=None) -> None:
        progress = progress or (lambda phase, rows: None)
        self.open(path)
        self.read()
        progress(ImportBatch.Status.VALIDATING, self.result.rows)
        self.link()
        self.place()
        progress(ImportBatch.Status.WRITING, self.result.rows)
        with transaction.atomic():
            _TreeWrite(self, user=user, file_name=path.name).write()
            if dry_run:
                transaction.set_rollback(True)

    # -- the file
    def open(self, path: Path) -> None:
        self.archive = archive = dwc_open(path)
        self.result.warnings.extend(archive.warnings)
        core = archive.core
        if core.declared and not _is_taxon_core(core.row_type):
            local = term_local_name(core.row_type or "").lower()
            what = ("specimens or other occurrences" if local in {"occurrence", "darwincore", "simpledarwinrecord"}
                    else "records that are not taxa")
            raise ArchiveError(NOT_TAXON_CORE.format(row_type=core.row_type or "(no rowType)", what=what))
        for spec in core.fields:
            if not spec.canonical:
                continue
            if spec.index is not None and spec.canonical not in self.columns:
                self.columns[spec.canonical] = spec.index
            if spec.default:
                self.defaults.setdefault(spec.canonical, spec.default.strip())
        if "taxonID" not in self.columns and core.id_index is not None:
            self.columns["taxonID"] = core.id_index
        if not core.declared:
            occurrence = [t for t in OCCURRENCE_ONLY if t in self.columns]
            if occurrence:
                raise ArchiveError(NOT_A_CHECKLIST.format(columns=", ".join(occurrence)))
        if not any(t in self.columns or t in self.defaults for t in NAME_TERMS):
            raise ArchiveError(NO_NAME_COLUMNS)
        archive.core_format  # noqa: B018 — the full encoding/line-length scan; raises ArchiveError

    def read(self) -> None:
        core = self.archive.core
        wanted = [(term, self.columns.get(term), self.defaults.get(term, "")) for term in READ_TERMS
                  if term in self.columns or term in self.defaults]
        header_left, width = core.header_lines, None
        seen_ids: dict[str, int] = {}
        for line, values in self.archive.core_records():
            if width is None:
                width = max(core.max_index + 1, len(values))
            if header_left:
                header_left -= 1
                continue
            self.result.rows += 1
            if len(values) > width and any(v.strip() for v in values[width:]):
                self.problem(None, "", f"{len(values)} values", TOO_MANY_VALUES.format(count=len(values), width=width),
                             line=line)
                index = self.columns.get("taxonID")
                if index is not None and values[index].strip():
                    self.unread.setdefault(values[index].strip(), line)
                continue
            count = len(values)
            row_values = {}
            for term, index, default in wanted:
                value = values[index].strip() if index is not None and index < count else ""
                row_values[term] = value or default
            names = _row_names(row_values)
            taxon_id = row_values.get("taxonID", "")
            name_id = row_values.get("scientificNameID", "") or (taxon_id if taxon_id.lower().startswith(URI_PREFIXES) else "")
            vernacular = row_values.get("vernacularName", "")
            row = _Row(
                line=line, taxon_id=taxon_id, parent_ref=row_values.get("parentNameUsageID", ""),
                accepted_ref=row_values.get("acceptedNameUsageID", ""),
                accepted_name=row_values.get("acceptedNameUsage", ""),
                status=row_values.get("taxonomicStatus", "").lower().replace("_", " "),
                own=None, above=(), name_id="", vernacular="",
            )
            self.rows.append(row)
            index = len(self.rows) - 1
            if isinstance(names, TaxaImportProblem):
                self.problem(index, names.field, names.value, names.message)
            else:
                row.above, row.own = names
            if taxon_id:
                if taxon_id in seen_ids:
                    self.problem(index, "taxonID", taxon_id, DUPLICATE_ID.format(value=taxon_id, line=self.rows[seen_ids[taxon_id]].line))
                else:
                    seen_ids[taxon_id] = index
            for term, value, limit, attribute in (("scientificNameID", name_id, NAME_ID_MAX, "name_id"),
                                                  ("vernacularName", vernacular, VERNACULAR_MAX, "vernacular")):
                if len(value) > limit:
                    self.problem(index, term, value[:200], VALUE_LEFT_OUT.format(term=term, limit=limit), severity="warning")
                else:
                    setattr(row, attribute, value)
        if not self.result.rows:
            raise ArchiveError(NO_ROWS)
        self.ids = seen_ids

    # -- references between rows
    def link(self) -> None:
        """parentNameUsageID and acceptedNameUsageID (or acceptedNameUsage) → row indexes."""
        by_name: dict[str, list[int]] | None = None
        for index, row in enumerate(self.rows):
            if row.parent_ref:
                target = self.ids.get(row.parent_ref)
                if target is None:
                    unread = self.unread.get(row.parent_ref)
                    message = PARENT_REJECTED.format(line=unread) if unread else PARENT_MISSING.format(value=row.parent_ref)
                    self.problem(index, "parentNameUsageID", row.parent_ref, message)
                else:
                    row.parent = target
            if row.accepted_ref and row.accepted_ref != row.taxon_id:
                target = self.ids.get(row.accepted_ref)
                if target is None:
                    unread = self.unread.get(row.accepted_ref)
                    message = (ACCEPTED_REJECTED.format(line=unread) if unread
                               else ACCEPTED_MISSING.format(value=row.accepted_ref))
                    self.problem(index, "acceptedNameUsageID", row.accepted_ref, message)
                else:
                    row.accepted = target
            elif not row.accepted_ref and ("synonym" in row.status or "misapplied" in row.status):
                if by_name is None:
                    by_name = {}
                    for i, other in enumerate(self.rows):
                        if other.own:
                            for key in {other.own[1], f"{other.own[1]} {other.own[2]}".strip()}:
                                by_name.setdefault(key, []).append(i)
                name = " ".join(row.accepted_name.split())
                hits = [i for i in by_name.get(name, []) if i != index] if name else []
                if len(hits) == 1:
                    row.accepted = hits[0]
                else:
                    self.problem(index, "taxonomicStatus", row.status, SYNONYM_UNLINKED.format(value=row.status),
                                 severity="warning")

    def place(self) -> None:
        """Each row's path from the top of the tree, parents first (an iterative depth-first walk
        over the parent and accepted-name links finds cycles and rows hanging under rejected ones)."""
        rows = self.rows
        state = [0] * len(rows)  # 0 new, 1 on the walk, 2 done
        order: list[int] = []
        for start in range(len(rows)):
            if state[start]:
                continue
            state[start] = 1
            stack, position = [[start, 0]], {start: 0}
            while stack:
                frame = stack[-1]
                index = frame[0]
                links = [i for i in (rows[index].parent, rows[index].accepted) if i is not None]
                if frame[1] < len(links):
                    target = links[frame[1]]
                    frame[1] += 1
                    if state[target] == 0:
                        state[target] = 1
                        position[target] = len(stack)
                        stack.append([target, 0])
                    elif state[target] == 1:  # back to a row on the walk: a cycle
                        members = [f[0] for f in stack[position[target]:]]
                        lines = " → ".join(str(rows[i].line) for i in (members + [target])[:12])
                        for member in members:
                            if member not in self.rejected:
                                self.problem(member, "parentNameUsageID", rows[member].parent_ref or rows[member].accepted_ref,
                                             CYCLE.format(lines=lines))
                    continue
                stack.pop()
                position.pop(index, None)
                state[index] = 2
                order.append(index)
        for index in order:  # parents and accepted names come first
            row = rows[index]
            if index in self.rejected:
                continue
            if row.parent is not None and row.parent in self.rejected:
                self.problem(index, "parentNameUsageID", row.parent_ref, PARENT_REJECTED.format(line=rows[row.parent].line))
                continue
            if row.accepted is not None and row.accepted in self.rejected:
                self.problem(index, "acceptedNameUsageID", row.accepted_ref or row.accepted_name,
                             ACCEPTED_REJECTED.format(line=rows[row.accepted].line))
                continue
            if row.parent is not None:
                path = rows[row.parent].path + (row.own,)
            elif row.above or row.accepted is None:
                path = row.above + (row.own,)
            else:  # a synonym without a parent or classification: beside its accepted name
                path = rows[row.accepted].path[:-1] + (row.own,)
            if len(path) > MAX_DEPTH:
                self.problem(index, "parentNameUsageID", row.parent_ref, TOO_DEEP.format(limit=MAX_DEPTH))
                continue
            row.path = path
        self._authorship_share()

    def accepted_end(self, row: _Row) -> int:
        """The row index of a synonym's accepted name, past synonyms of synonyms (no cycles by now)."""
        target = row.accepted
        while self.rows[target].accepted is not None:
            target = self.rows[target].accepted
        return target

    def _authorship_share(self) -> None:
        """A higher taxon named only in classification columns takes the authorship its own row gives
        (genus=Agelena beside a row 'Agelena Walckenaer, 1805'), when exactly one is given."""
        names = {row.own[1] for row in self.rows if row.path and row.own[2]}
        todo = [row for row in self.rows if row.path and any(not e[2] and e[1] in names for e in row.path)]
        if not todo:
            return
        given: dict[tuple, set[str]] = {}
        for row in self.rows:
            if row.path and row.own[2]:
                given.setdefault(tuple(e[1] for e in row.path), set()).add(row.own[2])
        for row in todo:
            path = row.path
            changed = list(path)
            for depth, (rank, name, authorship) in enumerate(path):
                if not authorship and name in names:
                    found = given.get(tuple(e[1] for e in path[: depth + 1]))
                    if found and len(found) == 1:
                        changed[depth] = (rank, name, next(iter(found)))
            row.path = tuple(changed)


# --- writing ----------------------------------------------------------------------------------


class _TreeWrite:
    """The nodes of every row's path, level by level: matched, or created with one COPY a level."""

    def __init__(self, run: _TaxaRun, *, user, file_name: str):
        self.run = run
        self.result = run.result
        self.user_id = getattr(user, "pk", None)
        self.file_name = file_name
        self.table = f"taxa_import_{secrets.token_hex(6)}"

    fetch = staticmethod(sql_fetch)
    execute = staticmethod(sql_execute)

    def write(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])  # taxa are shared with specimen imports
        context = {"user": self.user_id, "source": "import", "action": "taxa_import", "file": self.file_name}
        with pghistory.context(**context):
            # The parent and accepted foreign keys are DEFERRABLE INITIALLY DEFERRED (Django's default). Their
            # queued checks make every history trigger of a COPY walk the queue: quadratic, 2,000 rows/s at
            # 30 k rows instead of 30,000. Checked per statement instead (each level's parents exist already).
            # Run through Django's cursor inside the context, this statement also sets pghistory's context
            # for the transaction: a COPY bypasses the cursor wrapper that attaches it (and SELECTs skip it).
            self.execute("SET CONSTRAINTS ALL IMMEDIATE")
            self.execute("SET LOCAL work_mem = '64MB'")  # a level's existing children sorted in memory, not on disk
            self.forest_build()
            self.nodes_ensure()
            self.provisional_accept()
            self.rows_count()
            self.blanks_fill()
            self.synonyms_link()
        self.execute("SET CONSTRAINTS ALL DEFERRED")  # back to the default for the rest of a caller's transaction

    # -- the distinct prefixes of all paths, as nodes in levels
    def forest_build(self) -> None:
        rows = self.run.rows
        self.prefix_index: dict[tuple, int] = {}
        self.prefixes: list[tuple] = []
        self.parent_of: list[int] = []
        self.levels: list[list[int]] = []
        self.extra: dict[int, tuple[str, str]] = {}  # node → (name_id, vernacular_name) of the first row naming it
        prefix_index, prefixes, parent_of, levels = self.prefix_index, self.prefixes, self.parent_of, self.levels
        for row in rows:
            path = row.path
            if not path:
                continue
            k = len(path)
            new = []
            while k and path[:k] not in prefix_index:
                new.append(path[:k])
                k -= 1
            parent = prefix_index[path[:k]] if k else -1
            for prefix in reversed(new):
                node = len(prefixes)
                prefix_index[prefix] = node
                prefixes.append(prefix)
                parent_of.append(parent)
                if len(prefix) > len(levels):
                    levels.append([])
                levels[len(prefix) - 1].append(node)
                parent = node
            self.extra.setdefault(prefix_index[path], (row.name_id, row.vernacular))
        # Synonym links between nodes (row → its accepted name, followed to the end of a chain); new
        # synonym nodes get theirs in the COPY that creates them, the rest in synonyms_link().
        self.link_of: dict[int, set[int]] = {}
        for row in rows:
            if row.path and row.accepted is not None:
                self.link_of.setdefault(prefix_index[row.path], set()).add(prefix_index[rows[self.run.accepted_end(row)].path])
        self.link_targets = set().union(*self.link_of.values()) if self.link_of else set()

    def nodes_ensure(self) -> None:
        count = len(self.prefixes)
        self.ids = ids = [0] * count
        self.node_path = [""] * count
        self.node_higher: list[tuple] = [()] * count
        self.existing: set[int] = set()  # taxon ids that were in the tree before this import
        self.existing_synonyms: set[int] = set()  # … of them, those with an accepted name
        self.fills: dict[int, list] = {}  # taxon id → [authorship, name_id, vernacular_name] to fill in
        self.linked: dict[int, int] = {}  # new synonym id → accepted id, written by the COPY
        prefixes, parent_of, extra = self.prefixes, self.parent_of, self.extra
        select = sql.SQL("SELECT id, parent_id, name, authorship, path, name_id, vernacular_name, accepted_id, {} "
                         "FROM specimens_taxon ").format(columns_sql(HIGHER_COLUMNS))
        for depth, members in enumerate(self.levels):
            if depth == 0:
                found = self.fetch(select + sql.SQL("WHERE parent_id IS NULL AND name = ANY(%s) ORDER BY id"),
                                   [list({prefixes[n][-1][1] for n in members})])
            else:
                found = self.fetch(select + sql.SQL("WHERE parent_id = ANY(%s) ORDER BY id"),
                                   [list({ids[parent_of[n]] for n in members})])
            exact: dict[tuple, tuple] = {}
            by_name: dict[tuple, tuple] = {}
            for taxon in found:
                exact.setdefault((taxon[1], taxon[2], taxon[3]), taxon)
                by_name.setdefault((taxon[1], taxon[2]), taxon)
            missing: dict[tuple, list[int]] = {}
            taken: set[int] = set()  # existing nodes given an authorship by this level
            for node in members:
                _rank, name, authorship = prefixes[node][-1]
                parent_id = ids[parent_of[node]] if depth else None
                taxon = exact.get((parent_id, name, authorship))
                fill_authorship = None
                if taxon is None and not authorship:
                    taxon = by_name.get((parent_id, name))
                elif taxon is None:
                    bare = exact.get((parent_id, name, ""))
                    if bare is not None and bare[0] not in taken:
                        taxon, fill_authorship = bare, authorship
                        taken.add(bare[0])
                if taxon is None:
                    missing.setdefault((parent_id, name, authorship), []).append(node)
                    continue
                taxon_id = ids[node] = taxon[0]
                self.node_path[node] = taxon[4]
                self.node_higher[node] = taxon[8:]
                self.existing.add(taxon_id)
                if taxon[7] is not None:
                    self.existing_synonyms.add(taxon_id)
                name_id, vernacular = extra.get(node, ("", ""))
                wanted = [fill_authorship, name_id if name_id and not taxon[5] else None,
                          vernacular if vernacular and not taxon[6] else None]
                if any(wanted):
                    current = self.fills.setdefault(taxon_id, [None, None, None])
                    for i, value in enumerate(wanted):
                        current[i] = current[i] or value
            if missing:
                self.nodes_create(missing, depth)

    def provisional_accept(self) -> None:
        """Names a specimen import brought in provisionally, which this checklist names too, join the
        public tree: a curator's checklist accepts them (their ancestors are on the same paths)."""
        if self.existing:
            self.execute("UPDATE specimens_taxon SET is_provisional = false, updated_at = now() "
                         "WHERE id = ANY(%s) AND is_provisional", [sorted(self.existing)])

    def nodes_create(self, missing: dict[tuple, list[int]], depth: int) -> None:
        ids, prefixes, parent_of, extra = self.ids, self.prefixes, self.parent_of, self.extra
        groups = list(missing.values())
        new_ids = taxon_ids_draw(len(groups))
        for taxon_id, nodes in zip(new_ids, groups):  # ids first: a synonym may point at a node of its own level
            for node in nodes:
                ids[node] = taxon_id
        taxa = []
        for taxon_id, nodes in zip(new_ids, groups):
            first = nodes[0]
            rank, name, authorship = prefixes[first][-1]
            if depth:
                parent_node = parent_of[first]
                parent = TaxonPlace(id=ids[parent_node], path=self.node_path[parent_node], depth=depth - 1,
                                    higher=dict(zip(HIGHER_COLUMNS, self.node_higher[parent_node])))
            else:
                parent = ROOT
            name_id, vernacular = extra.get(first) or next((extra[n] for n in nodes if n in extra), ("", ""))
            taxa.append(NewTaxon(parent=parent, rank=rank, name=name, authorship=authorship, name_id=name_id,
                                 vernacular_name=vernacular, accepted_id=self._accepted_at_creation(taxon_id, nodes)))
        for nodes, place in zip(groups, taxa_insert(taxa, ids=new_ids)):
            higher = tuple(place.higher[c] for c in HIGHER_COLUMNS)
            for node in nodes:
                self.node_path[node] = place.path
                self.node_higher[node] = higher
        self.result.created += len(new_ids)

    def _accepted_at_creation(self, taxon_id: int, nodes: list[int]) -> int | None:
        """The accepted name's id when the link is certain now: one target, already known, not itself a
        synonym, and this node no row's accepted name. Anything else is left to synonyms_link()."""
        if not self.link_of or not any(n in self.link_of for n in nodes) or any(n in self.link_targets for n in nodes):
            return None
        targets = {t for n in nodes for t in self.link_of.get(n, ())}
        if len(targets) != 1:
            return None
        accepted_id = self.ids[next(iter(targets))]
        if not accepted_id or accepted_id == taxon_id or accepted_id in self.existing_synonyms or accepted_id in self.linked:
            return None
        self.linked[taxon_id] = accepted_id
        return accepted_id

    def rows_count(self) -> None:
        rows, ids, prefix_index = self.run.rows, self.ids, self.prefix_index
        self.node_of_row: dict[int, int] = {}
        first_row: dict[int, int] = {}
        for index, row in enumerate(rows):
            if not row.path:
                continue
            taxon_id = self.node_of_row[index] = ids[prefix_index[row.path]]
            if taxon_id in first_row:
                self.run.problem(index, "scientificName", row.own[1], SAME_TAXON.format(line=rows[first_row[taxon_id]].line),
                                 severity="warning")
                continue
            first_row[taxon_id] = index
            if taxon_id in self.existing:
                self.result.matched += 1

    def blanks_fill(self) -> None:
        if not self.fills:
            return
        table = sql.Identifier(self.table)
        self.execute(sql.SQL("CREATE TEMP TABLE {} (id bigint PRIMARY KEY, authorship text, name_id text, "
                             "vernacular_name text)").format(table))
        sql_copy(self.table, None, ((taxon_id, *values) for taxon_id, values in self.fills.items()))
        self.result.updated = self.execute(sql.SQL(
            "UPDATE specimens_taxon t SET authorship = coalesce(f.authorship, t.authorship), "
            "name_id = CASE WHEN t.name_id = '' THEN coalesce(f.name_id, '') ELSE t.name_id END, "
            "vernacular_name = CASE WHEN t.vernacular_name = '' THEN coalesce(f.vernacular_name, '') ELSE t.vernacular_name END, "
            "updated_at = now() FROM {} f WHERE t.id = f.id").format(table)
        )
        self.execute(sql.SQL("DROP TABLE {}").format(table))

    def synonyms_link(self) -> None:
        rows, node_of_row, run = self.run.rows, self.node_of_row, self.run
        links: dict[int, tuple[int, int]] = {}  # synonym taxon id → (accepted taxon id, row index)
        for index, row in enumerate(rows):
            if row.accepted is None or index not in node_of_row:
                continue
            target = run.accepted_end(row)
            synonym_id, accepted_id = node_of_row[index], node_of_row[target]
            if synonym_id == accepted_id:
                run.problem(index, "acceptedNameUsageID", row.accepted_ref, SYNONYM_OF_ITSELF.format(line=rows[target].line),
                            severity="warning")
            elif synonym_id in links and links[synonym_id][0] != accepted_id:
                run.problem(index, "acceptedNameUsageID", row.accepted_ref,
                            SYNONYM_TWO_ACCEPTED.format(line=rows[links[synonym_id][1]].line), severity="warning")
            else:
                links.setdefault(synonym_id, (accepted_id, index))
        targets = {accepted_id for accepted_id, _ in links.values()}
        for synonym_id in [s for s in links if s in targets]:
            _, index = links.pop(synonym_id)
            run.problem(index, "acceptedNameUsageID", rows[index].accepted_ref, SYNONYM_ALSO_ACCEPTED, severity="warning")
        # An accepted name the tree already records as a synonym: linking to it would build a chain.
        chained = self.existing_synonyms & targets
        for synonym_id, (accepted_id, index) in list(links.items()):
            if accepted_id in chained:
                del links[synonym_id]
                run.problem(index, "acceptedNameUsageID", rows[index].accepted_ref,
                            ACCEPTED_IS_SYNONYM.format(line=rows[run.accepted_end(rows[index])].line), severity="warning")
            elif self.linked.get(synonym_id) == accepted_id:
                del links[synonym_id]  # written by the COPY that created it
        self.result.synonyms = len(self.linked)
        if not links:
            return
        name = self.table + "_synonyms"
        table = sql.Identifier(name)
        self.execute(sql.SQL("CREATE TEMP TABLE {} (id bigint PRIMARY KEY, accepted_id bigint)").format(table))
        sql_copy(name, None, ((synonym_id, accepted_id) for synonym_id, (accepted_id, _) in links.items()))
        self.result.synonyms += self.execute(sql.SQL(
            "UPDATE specimens_taxon t SET accepted_id = s.accepted_id, updated_at = now() FROM {} s "
            "WHERE t.id = s.id AND t.accepted_id IS DISTINCT FROM s.accepted_id").format(table)
        )
        self.execute(sql.SQL("DROP TABLE {}").format(table))
