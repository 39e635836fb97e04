"""History rows written set-based, for the writers that load many records at once (DESIGN §3 Audit).

The importer and `generate_specimens` insert records with the row triggers' insert events
switched off (a trigger call per row costs more than the rest of the insert). They then write
every record's "insert" event — its version 1 — with one `INSERT … SELECT` into the event table:
the same columns the trigger would copy, under the pghistory context of the caller. So "Restore"
has a version 1 to go back to, and the conflict page can diff against it.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection
from psycopg import sql


def _tracked_columns() -> list[str]:
    """The record's columns the event table copies (all but the untracked ones), from the model."""
    event_model = apps.get_model("specimens", "SpecimenEvent")
    return [f.column for f in event_model._meta.concrete_fields if not f.name.startswith("pgh_")]


def specimen_events_write(*, label: str, ids: sql.Composable, params: list | None = None) -> int:
    """One `label` event ("insert", or "delete" before a bulk delete) per record whose id `ids`
    selects, as the row trigger would write it; returns how many. Call it inside the caller's
    `pghistory.context(...)`: the context is attached once for the whole statement."""
    columns = _tracked_columns()
    statement = sql.SQL(
        "INSERT INTO specimens_specimenevent ({columns}, pgh_context_id, pgh_created_at, pgh_label, pgh_obj_id) "
        "SELECT {values}, (SELECT _pgh_attach_context()), now(), {label}, s.id "
        "FROM specimens_specimen s WHERE s.id IN ({ids}) ORDER BY s.id"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Identifier("s", c) for c in columns),
        label=sql.Literal(label),
        ids=ids,
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection), params)
        return cursor.rowcount
