"""History rows written set-based, for the writers that load many records at once (DESIGN §3 Audit).

The importer and `generate_specimens` insert records with the row triggers' insert events
switched off (a trigger call per row costs more than the rest of the insert). They write every
record's "insert" event — its version 1 — with one `INSERT … SELECT` into the event table
instead: the same columns the trigger would copy, under the caller's pghistory context. So
"Restore" has a version 1 to go back to, and the conflict page can diff against it.

The source of the rows is the writer's own statement where it can be (`WITH s AS (INSERT …
RETURNING *)`, `WITH s AS (DELETE … RETURNING *)`): the rows are not read twice, and no plan
has to join the ids back to a table whose statistics still say it is empty.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection
from psycopg import sql


def _tracked_columns() -> list[str]:
    """The record's columns the event table copies (all but the untracked ones), from the model."""
    event_model = apps.get_model("specimens", "SpecimenEvent")
    return [f.column for f in event_model._meta.concrete_fields if not f.name.startswith("pgh_")]


def specimen_events_insert(*, label: str, source: sql.Composable) -> sql.Composed:
    """`INSERT … SELECT` of one `label` event ("insert", "delete") per row of `source`, a relation
    with the specimen table's columns aliased `s`, as the row trigger would write it."""
    columns = _tracked_columns()
    return sql.SQL(
        "INSERT INTO specimens_specimenevent ({columns}, pgh_context_id, pgh_created_at, pgh_label, pgh_obj_id) "
        "SELECT {values}, (SELECT _pgh_attach_context()), now(), {label}, s.id FROM {source}"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Identifier("s", c) for c in columns),
        label=sql.Literal(label),
        source=source,
    )


def specimen_events_write(*, label: str, source: sql.Composable, params: list | None = None) -> int:
    """Run `specimen_events_insert`; returns how many events. Call it inside the caller's
    `pghistory.context(...)`: the context is attached once for the whole statement."""
    with connection.cursor() as cursor:
        cursor.execute(specimen_events_insert(label=label, source=source).as_string(cursor.connection), params)
        return cursor.rowcount
