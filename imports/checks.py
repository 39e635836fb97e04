"""Row checks, all set-based: every rule one SQL condition over the typed rows, the problems written
to ImportRowError in one INSERT … SELECT; rejected rows leave the typed table before the write."""

from __future__ import annotations

from specimens.models import ImportRowError, Specimen
from specimens.selectors import specimen_state_refusal, specimen_states_editable
from standards.archive import ArchiveError

from .fields import IMPORT_FIELDS
from .sql import literal, sql_execute, sql_fetch

NOT_A_SPECIMEN = (
    "Not a specimen: in a sampling-event archive only rows whose basisOfRecord is a specimen kind "
    "({kinds}) are imported."
)
SPECIMEN_KINDS = ("PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample")
IMPORT_PUBLISH_KEPT_DRAFT = "This record has no scientificName, so it was imported as a draft, not published."


def rows_check(run) -> None:
    checks: list[tuple[str, str, str, str]] = []  # term, value expression, condition, message
    warnings: list[tuple[str, str, str, str]] = []  # the same, for values dropped from kept rows
    present = set(run.columns)
    for field in IMPORT_FIELDS:
        term, name = field.term, field.name
        if term not in present:
            continue
        column = f'r."{name}"'
        if field.kind == "text" and field.max_length:
            checks.append((term, column, f"length({column}) > {field.max_length}",
                           f"{term} is longer than {field.max_length} characters."))
        if field.kind in ("float", "decimal", "int"):
            raw = f'r."{name}__raw"'
            what = "a whole number" if field.kind == "int" else "a number"
            if field.soft:
                rule = f" between {field.low:g} and {field.high:g}" if field.low is not None else ""
                warnings.append((term, raw, f"{raw} IS NOT NULL AND {column} IS NULL",
                                 f"{term} must be {what}{rule}; the value was left out and the row imported."))
                continue
            checks.append((term, raw, f"{raw} IS NOT NULL AND {column} IS NULL", f"{term} must be {what}."))
            if field.low is not None:
                checks.append((term, raw, f"{column} NOT BETWEEN {field.low} AND {field.high}",
                               f"{term} must be between {field.low:g} and {field.high:g}."))
    if "countryCode" in present:
        checks.append(("countryCode", 'r."country_code"', "r.country_code !~ '^[A-Z]{2}$'",
                       "countryCode must be a two-letter ISO 3166 code, e.g. GB."))
    checks.append(("catalogNumber", "NULL", "r.catalog_number IS NULL",
                   "catalogNumber is empty; every specimen needs a catalogue number."))
    if "decimalLatitude" in present or "decimalLongitude" in present:
        lat = 'r."decimal_latitude__raw"' if "decimalLatitude" in present else "NULL"
        lon = 'r."decimal_longitude__raw"' if "decimalLongitude" in present else "NULL"
        checks.append(("decimalLatitude", f"concat_ws(', ', {lat}, {lon})", f"({lat} IS NULL) <> ({lon} IS NULL)",
                       "Give both decimalLatitude and decimalLongitude, or neither."))
    for term, prefix in (("eventDate", "event_date"), ("basisOfRecord", "basis_of_record"), ("license", "license")):
        if term in present:
            checks.append((term, f"r.{prefix}__raw", f"r.{prefix}__error IS NOT NULL", f"r.{prefix}__error"))
    if "year" in present:
        warnings.append(("year", "r.ymd__raw", "r.ymd__warning IS NOT NULL", "r.ymd__warning"))
    if run.batch.publish and "scientificName" in present:
        warnings.append(("scientificName", "NULL", "r.scientific_name IS NULL", IMPORT_PUBLISH_KEPT_DRAFT))
    if run.event_file:  # a sampling-event archive also holds observations: only specimens are imported
        kinds = ", ".join(f"'{k}'" for k in SPECIMEN_KINDS)
        if "basisOfRecord" in present:
            checks.append(("basisOfRecord", "r.basis_of_record__raw",
                           f"r.basis_of_record__error IS NULL AND coalesce(r.basis_of_record NOT IN ({kinds}), true)",
                           NOT_A_SPECIMEN.format(kinds=", ".join(SPECIMEN_KINDS))))
        else:
            checks.append(("basisOfRecord", "NULL", "true", NOT_A_SPECIMEN.format(kinds=", ".join(SPECIMEN_KINDS))))
    checks.append(("occurrenceID", "r.occurrence_id__raw", "r.occurrence_taken",
                   "This occurrenceID already belongs to another specimen (in this or another collection)."))
    values = ",\n".join(
        f"('{severity}', '{term}', ({value})::text, CASE WHEN {condition} THEN "
        f"{message if message.startswith('r.') else literal(message)} END)"
        for severity, group in (("error", checks), ("warning", warnings))
        for term, value, condition, message in group
    )
    sql_execute(
        f'INSERT INTO "specimens_importrowerror" (batch_id, severity, line, "column", value, message) '
        f"SELECT %s, e.severity, r.line, e.term, coalesce(e.value, ''), e.message FROM \"{run.rows}\" r "
        f"CROSS JOIN LATERAL (VALUES {values}) AS e(severity, term, value, message) "
        f"WHERE ({' OR '.join(f'coalesce({c[2]}, false)' for c in checks + warnings)}) AND e.message IS NOT NULL",
        [run.batch.pk],
    )
    # Duplicates inside the file: the first row wins, later ones are reported.
    for term, key in (("catalogNumber", "catalog_number"), ("occurrenceID", "occurrence_uri"), ("occurrenceID", "match_id")):
        if key != "catalog_number" and "occurrenceID" not in present:
            continue
        message = (
            f"'{term} ' || r.{key}::text || ' also appears on line ' || d.first_line || '; only the first row is imported.'"
            if key != "match_id" else
            "'This row matches the same existing specimen as line ' || d.first_line || '; only the first row is imported.'"
        )
        sql_execute(
            f'INSERT INTO "specimens_importrowerror" (batch_id, severity, line, "column", value, message) '
            f"SELECT %s, 'error', r.line, '{term}', coalesce(r.{key}::text, ''), {message} FROM \"{run.rows}\" r JOIN "
            f"(SELECT {key} AS k, min(line) AS first_line FROM \"{run.rows}\" WHERE {key} IS NOT NULL "
            f"GROUP BY {key} HAVING count(*) > 1) d ON d.k = r.{key} AND r.line > d.first_line",
            [run.batch.pk],
        )
    if run.python_errors:
        ImportRowError.objects.bulk_create(
            [ImportRowError(batch=run.batch, line=line, column=column, value=value, message=message)
             for line, column, value, message in run.python_errors],
            batch_size=5000,
        )
    states_check(run)
    sql_execute(
        f'CREATE UNLOGGED TABLE "{run.rows}_bad" AS SELECT DISTINCT line FROM specimens_importrowerror '
        "WHERE batch_id = %s AND severity = 'error'",
        [run.batch.pk],
    )
    sql_execute(f'DELETE FROM "{run.rows}" r USING "{run.rows}_bad" b WHERE b.line = r.line')
    sql_execute(f'DROP TABLE "{run.rows}_bad"')


def states_refused(run) -> list[str]:
    """The record states the uploader may not change in this collection: the rule the form and
    the API apply (specimens.selectors.specimen_states_editable); a digitiser changes drafts only."""
    user = run.batch.created_by
    if user is None:  # run by an operator from the command line: no role to limit it
        return []
    editable = specimen_states_editable(user=user, institution_id=run.collection.institution_id)
    return [status for status in Specimen.Status.values if status not in editable]


def states_check(run, *, lock: bool = False) -> None:
    """Rows matching a record the uploader may not change in its state are rejected, each with
    the reason; the rest of the file imports. With `lock` (in the write transaction), the matched
    records are locked first, so none is published or sent for review between check and write."""
    refused = states_refused(run)
    if not refused:
        return
    if lock:
        sql_fetch(
            "SELECT count(*) FROM (SELECT 1 FROM specimens_specimen t WHERE t.id IN "
            f'(SELECT match_id FROM "{run.rows}" WHERE match_id IS NOT NULL) FOR NO KEY UPDATE OF t) l'
        )
    sql_execute(
        'INSERT INTO "specimens_importrowerror" (batch_id, severity, line, "column", value, message) '
        f"SELECT %s, 'error', r.line, 'catalogNumber', coalesce(r.catalog_number, ''), m.message FROM \"{run.rows}\" r "
        "JOIN specimens_specimen t ON t.id = r.match_id "
        "JOIN unnest(%s::text[], %s::text[]) AS m(status, message) ON m.status = t.status",
        [run.batch.pk, refused, [specimen_state_refusal(status=status) for status in refused]],
    )
    if lock:  # validate() drops its rejected rows itself
        sql_execute(
            f'DELETE FROM "{run.rows}" r USING specimens_specimen t WHERE t.id = r.match_id AND t.status = ANY(%s)',
            [refused],
        )


def extensions_check(run) -> None:
    """Extension rows whose coreid points at no core row are reported (they are not imported)."""
    core = run.archive.core
    if core.id_index is None or not run.archive.extensions:
        return
    core_ids = None
    for spec, name in run.archive.extensions:
        if name is None or spec.id_index is None:
            continue
        if core_ids is None:
            core_ids = {v for (v,) in sql_fetch(f'SELECT btrim(s."c{core.id_index}") FROM "{run.stage}" s')}
        try:
            header_left = spec.header_lines
            for line, values in run.archive.extension_records(spec, name):
                if header_left:
                    header_left -= 1
                    continue
                value = values[spec.id_index].strip() if spec.id_index < len(values) else ""
                if value not in core_ids:
                    run.extension_errors.append((
                        line, f"{name}: coreid", value,
                        f"{name} line {line} refers to core id '{value}', which is not in the core file; "
                        "this extension row was not imported.",
                    ))
        except ArchiveError as exc:
            run.warnings.append(f"Extension {name} could not be read: {exc}")


def extension_errors_write(run) -> None:
    problems = [(ImportRowError.Severity.ERROR, *e) for e in run.extension_errors]
    problems += [(ImportRowError.Severity.WARNING, *w) for w in run.media_warnings]
    if problems:
        ImportRowError.objects.bulk_create(
            [ImportRowError(batch=run.batch, severity=severity, line=line, column=column[:120], value=value,
                            message=message)
             for severity, line, column, value, message in problems],
            batch_size=5000,
        )
