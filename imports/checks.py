"""Row checks, all set-based: every rule one SQL condition over the typed rows, the problems written
to ImportRowError in one INSERT … SELECT; rejected rows leave the typed table before the write."""

from __future__ import annotations

from psycopg import sql as psql

from specimens.models import ImportRowError, Specimen
from specimens.selectors import specimen_state_refusal, specimen_states_editable
from standards.archive import ArchiveError

from .fields import IMPORT_FIELDS
from .load import data_rows
from .sql import sql_execute, sql_fetch

NOT_A_SPECIMEN = (
    "Not a specimen: in a sampling-event archive only rows whose basisOfRecord is a specimen kind "
    "({kinds}) are imported."
)
SPECIMEN_KINDS = ("PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample")
IMPORT_PUBLISH_KEPT_DRAFT = "This record has no scientificName, so it was imported as a draft, not published."


def _r(name: str) -> psql.Identifier:
    """A column of the typed rows (aliased r)."""
    return psql.Identifier("r", name)


def rows_check(run) -> None:
    """Every rule one condition over the typed rows: each (term, value, condition, message), message
    a literal or the typed row's own error column, becomes a row of one LATERAL VALUES list, and
    one INSERT … SELECT writes every problem of every row. Rejected rows then leave the table."""
    checks: list[tuple[str, psql.Composable, psql.Composable, psql.Composable]] = []
    warnings: list[tuple[str, psql.Composable, psql.Composable, psql.Composable]] = []  # values dropped, rows kept
    present = set(run.columns)
    null = psql.SQL("NULL")
    for field in IMPORT_FIELDS:
        term, name = field.term, field.name
        if term not in present:
            continue
        column = _r(name)
        if field.kind == "text" and field.max_length:
            checks.append((term, column, psql.SQL("length({}) > {}").format(column, psql.Literal(field.max_length)),
                           psql.Literal(f"{term} is longer than {field.max_length} characters.")))
        if field.kind in ("float", "decimal", "int"):
            raw = _r(f"{name}__raw")
            what = "a whole number" if field.kind == "int" else "a number"
            invalid = psql.SQL("{} IS NOT NULL AND {} IS NULL").format(raw, column)
            if field.soft:
                rule = f" between {field.low:g} and {field.high:g}" if field.low is not None else ""
                warnings.append((term, raw, invalid, psql.Literal(
                    f"{term} must be {what}{rule}; the value was left out and the row imported.")))
                continue
            checks.append((term, raw, invalid, psql.Literal(f"{term} must be {what}.")))
            if field.low is not None:
                checks.append((term, raw, psql.SQL("{} NOT BETWEEN {} AND {}").format(
                    column, psql.Literal(field.low), psql.Literal(field.high)),
                    psql.Literal(f"{term} must be between {field.low:g} and {field.high:g}.")))
    if "countryCode" in present:
        checks.append(("countryCode", _r("country_code"), psql.SQL("r.country_code !~ '^[A-Z]{2}$'"),
                       psql.Literal("countryCode must be a two-letter ISO 3166 code, e.g. GB.")))
    checks.append(("catalogNumber", null, psql.SQL("r.catalog_number IS NULL"),
                   psql.Literal("catalogNumber is empty; every specimen needs a catalogue number.")))
    if "decimalLatitude" in present or "decimalLongitude" in present:
        lat = _r("decimal_latitude__raw") if "decimalLatitude" in present else null
        lon = _r("decimal_longitude__raw") if "decimalLongitude" in present else null
        checks.append(("decimalLatitude", psql.SQL("concat_ws(', ', {}, {})").format(lat, lon),
                       psql.SQL("({} IS NULL) <> ({} IS NULL)").format(lat, lon),
                       psql.Literal("Give both decimalLatitude and decimalLongitude, or neither.")))
    for term, prefix in (("eventDate", "event_date"), ("basisOfRecord", "basis_of_record"), ("license", "license")):
        if term in present:  # the value map's reason, per value
            checks.append((term, _r(f"{prefix}__raw"), psql.SQL("{} IS NOT NULL").format(_r(f"{prefix}__error")),
                           _r(f"{prefix}__error")))
    if "year" in present:
        warnings.append(("year", _r("ymd__raw"), psql.SQL("r.ymd__warning IS NOT NULL"), _r("ymd__warning")))
    if run.batch.publish and "scientificName" in present:
        warnings.append(("scientificName", null, psql.SQL("r.scientific_name IS NULL"),
                         psql.Literal(IMPORT_PUBLISH_KEPT_DRAFT)))
    if run.event_file:  # a sampling-event archive also holds observations: only specimens are imported
        message = psql.Literal(NOT_A_SPECIMEN.format(kinds=", ".join(SPECIMEN_KINDS)))
        if "basisOfRecord" in present:
            kinds = psql.SQL(", ").join(map(psql.Literal, SPECIMEN_KINDS))
            checks.append(("basisOfRecord", _r("basis_of_record__raw"), psql.SQL(
                "r.basis_of_record__error IS NULL AND coalesce(r.basis_of_record NOT IN ({}), true)").format(kinds),
                message))
        else:
            checks.append(("basisOfRecord", null, psql.SQL("true"), message))
    checks.append(("occurrenceID", _r("occurrence_id__raw"), psql.SQL("r.occurrence_taken"),
                   psql.Literal("This occurrenceID already belongs to another specimen (in this or another collection).")))
    values = psql.SQL(",\n").join(
        psql.SQL("({}, {}, ({})::text, CASE WHEN {} THEN {} END)").format(
            psql.Literal(severity), psql.Literal(term), value, condition, message)
        for severity, group in (("error", checks), ("warning", warnings))
        for term, value, condition, message in group
    )
    any_problem = psql.SQL(" OR ").join(psql.SQL("coalesce({}, false)").format(c[2]) for c in checks + warnings)
    sql_execute(psql.SQL(
        'INSERT INTO specimens_importrowerror (batch_id, severity, line, "column", value, message) '
        "SELECT {batch}, e.severity, r.line, e.term, coalesce(e.value, ''), e.message FROM {rows} r "
        "CROSS JOIN LATERAL (VALUES {values}) AS e(severity, term, value, message) "
        "WHERE ({any_problem}) AND e.message IS NOT NULL"
    ).format(batch=psql.Literal(run.batch.pk), rows=psql.Identifier(run.rows), values=values, any_problem=any_problem))
    # Duplicates inside the file: the first row wins, later ones are reported.
    first_only = psql.Literal("; only the first row is imported.")
    for term, key in (("catalogNumber", "catalog_number"), ("occurrenceID", "occurrence_uri"), ("occurrenceID", "match_id")):
        if key != "catalog_number" and "occurrenceID" not in present:
            continue
        if key != "match_id":
            message = psql.SQL("{} || {}::text || {} || d.first_line || {}").format(
                psql.Literal(f"{term} "), _r(key), psql.Literal(" also appears on line "), first_only)
        else:
            message = psql.SQL("{} || d.first_line || {}").format(
                psql.Literal("This row matches the same existing specimen as line "), first_only)
        sql_execute(psql.SQL(
            'INSERT INTO specimens_importrowerror (batch_id, severity, line, "column", value, message) '
            "SELECT {batch}, 'error', r.line, {term}, coalesce({key_r}::text, ''), {message} FROM {rows} r JOIN "
            "(SELECT {key} AS k, min(line) AS first_line FROM {rows} WHERE {key} IS NOT NULL "
            "GROUP BY {key} HAVING count(*) > 1) d ON d.k = {key_r} AND r.line > d.first_line"
        ).format(batch=psql.Literal(run.batch.pk), term=psql.Literal(term), key_r=_r(key), key=psql.Identifier(key),
                 message=message, rows=psql.Identifier(run.rows)))
    if run.python_errors:
        ImportRowError.objects.bulk_create(
            [ImportRowError(batch=run.batch, line=line, column=column, value=value, message=message)
             for line, column, value, message in run.python_errors],
            batch_size=5000,
        )
    states_check(run)
    bad = psql.Identifier(f"{run.rows}_bad")
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} AS SELECT DISTINCT line FROM specimens_importrowerror "
                         "WHERE batch_id = %s AND severity = 'error'").format(bad), [run.batch.pk])
    sql_execute(psql.SQL("DELETE FROM {} r USING {} b WHERE b.line = r.line").format(psql.Identifier(run.rows), bad))
    sql_execute(psql.SQL("DROP TABLE {}").format(bad))


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
    rows = psql.Identifier(run.rows)
    if lock:
        sql_fetch(psql.SQL(
            "SELECT count(*) FROM (SELECT 1 FROM specimens_specimen t WHERE t.id IN "
            "(SELECT match_id FROM {} WHERE match_id IS NOT NULL) FOR NO KEY UPDATE OF t) l"
        ).format(rows))
    sql_execute(psql.SQL(
        'INSERT INTO specimens_importrowerror (batch_id, severity, line, "column", value, message) '
        "SELECT %s, 'error', r.line, 'catalogNumber', coalesce(r.catalog_number, ''), m.message FROM {} r "
        "JOIN specimens_specimen t ON t.id = r.match_id "
        "JOIN unnest(%s::text[], %s::text[]) AS m(status, message) ON m.status = t.status"
    ).format(rows), [run.batch.pk, refused, [specimen_state_refusal(status=status) for status in refused]])
    if lock:  # rows_check drops its rejected rows itself
        sql_execute(psql.SQL(
            "DELETE FROM {} r USING specimens_specimen t WHERE t.id = r.match_id AND t.status = ANY(%s)"
        ).format(rows), [refused])


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
            core_ids = {v for (v,) in sql_fetch(psql.SQL("SELECT btrim({}) FROM {}").format(
                psql.Identifier(f"c{core.id_index}"), psql.Identifier(run.stage)))}
        try:
            for line, values in data_rows(run.archive.extension_records(spec, name), header_lines=spec.header_lines):
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
