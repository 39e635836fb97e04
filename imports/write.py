"""The write: taxa and agents ensured in a short transaction of their own, then one transaction of
UPDATE … FROM for changed matches and INSERT … SELECT for new rows, with their insert events (each
record's version 1) written set-based in the same statement, their identifications and agent
links; with publish, the records are published. Updates are tracked row by row."""

from __future__ import annotations

import json

import pghistory
from django.conf import settings
from django.db import DatabaseError
from django.db.models.expressions import RawSQL
from psycopg import sql as psql

from specimens.history import specimen_events_insert
from specimens.models import BULK_IMPORT_SETTING, Specimen, Taxon
from specimens.services import AGENT_LINK_ROLES, AGENT_NAME_SPLIT, agents_ensure, taxa_make_public

from .batches import ADVISORY_LOCK, collection_write_lock
from .checks import states_check
from .fields import IMPORT_FIELDS, TERM_FIELDS
from .sql import CATALOG_NORMALISED_SQL, literal, sql_copy, sql_execute, sql_fetch, uuid7_sql
from .taxon_paths import taxa_stage

IMPORT_PUBLISH_NO_NAMES = "The file has no scientificName column, so its records were imported as drafts, not published."
IMPORT_PUBLISHED = "Published on import: {count} record(s)."
EXTERNAL_MEDIA_SQL = "coalesce(r.external_media, '[]'::jsonb)"
AGENT_SPLIT = AGENT_NAME_SPLIT.pattern  # the same separators in SQL (the pattern means the same there)
# (term, column, role) of the name lists linked to Agents, collectors first, as the services link them.
AGENT_ROLES = tuple((term, column, AGENT_LINK_ROLES[column].value) for term, column in TERM_FIELDS.items()
                    if column in AGENT_LINK_ROLES)
# The current identification of a record the import inserts or renames; the SELECTs follow this order.
IDENTIFICATION_INSERT = (
    "INSERT INTO specimens_identification (uuid, created_at, updated_at, specimen_id, taxon_id, verbatim_identification, "
    "identified_by, date_identified, identification_qualifier, type_status, remarks, is_current)"
)


def _sql_default(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def targets_analyze(run) -> None:
    """Statistics for the tables written, when they have none or the import is large beside them.

    Without them (a new database: indexes still say 0 rows) the planner may serve the foreign
    key check of every identification with a scan of a whole (institution, id) index instead of
    the primary key: 0.9 ms a row instead of 4 µs. ANALYZE samples, so it stays well under a
    second at any size, and it does not block reads or writes.
    """
    rows = sql_fetch(psql.SQL("SELECT count(*) FROM {} WHERE match_id IS NULL").format(psql.Identifier(run.rows)))[0][0]
    for table in ("specimens_specimen", "specimens_identification", "specimens_specimenagent"):
        known = sql_fetch("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])[0][0]
        if known < 0 or rows > max(known, 1_000) * 0.2:
            sql_execute(psql.SQL("ANALYZE {}").format(psql.Identifier(table)))


def rows_count(run, *, after_write: bool = False) -> dict[str, int]:
    rejected = sql_fetch(
        "SELECT count(DISTINCT line) FROM specimens_importrowerror WHERE batch_id = %s AND severity = 'error' "
        "AND \"column\" NOT LIKE '%%: coreid'",
        [run.batch.pk],
    )[0][0]
    rejected += len(run.extension_errors)
    if after_write:
        return {"inserted_count": run.inserted, "updated_count": run.updated,
                "unchanged_count": run.matched - run.updated, "rejected_count": rejected}
    new, matched = sql_fetch(
        f'SELECT count(*) FILTER (WHERE match_id IS NULL), count(match_id) FROM "{run.rows}"'
    )[0]
    changed = 0
    if matched:
        assignments = column_values(run, taxon=False)
        left = ", ".join(f't."{a}"' for a, _ in assignments)
        right = ", ".join(expr for _, expr in assignments)
        changed = sql_fetch(
            f'SELECT count(*) FROM "{run.rows}" r JOIN specimens_specimen t ON t.id = r.match_id '
            f"WHERE ({left}, '') IS DISTINCT FROM ({right}, '')"
        )[0][0]
    return {"inserted_count": new, "updated_count": changed, "unchanged_count": matched - changed,
            "rejected_count": rejected}


def column_values(run, *, taxon: bool) -> list[tuple[str, str]]:
    """(Specimen column, SQL value from r) for every column the file carries."""
    result = []
    for field in IMPORT_FIELDS:
        term, name = field.term, field.name
        if term not in run.columns and term != "catalogNumber":
            continue
        if name == "occurrence_id":
            continue  # never changed on an existing record
        if field.kind == "text":
            result.append((name, f"coalesce(r.\"{name}\", '')"))
        elif field.kind == "decimal":
            result.append((name, f"round(r.\"{name}\", {Specimen._meta.get_field(name).decimal_places})"))
        elif field.kind == "mapped":
            if name == "event_date":
                continue  # with the other date columns, below
            elif name == "basis_of_record":
                result.append((name, f"coalesce(r.basis_of_record, '{Specimen._meta.get_field(name).default}')"))
            else:
                result.append((name, f"coalesce(r.license, {literal(run.collection.default_license)})"))
        else:
            result.append((name, f'r."{name}"'))
    result.append(("catalog_number_normalised", CATALOG_NORMALISED_SQL))
    if run.has_dates:
        dated = _date_assignments(run)
        names = {name for name, _ in dated}
        result = [(name, value) for name, value in result if name not in names] + dated
    if run.media_files:  # the file's media links replace those an earlier import brought
        result.append(("external_media", EXTERNAL_MEDIA_SQL))
    if taxon or "scientificName" in run.columns:
        result.append(("taxon_id", "tx.taxon_id" if taxon else "t.taxon_id"))
    return result


def _date_assignments(run) -> list[tuple[str, str]]:
    """eventDate, its range, year/month/day, eventTime and verbatimEventDate, read together.

    An eventDate the file holds fills year, month and day (the columns count only without it);
    without one, year/month/day give the eventDate and its range. A value stored in another
    form than the file's (Java dates, timestamps, slash dates) keeps the file's text in
    verbatimEventDate unless the file fills that itself; a time other than midnight goes to
    eventTime unless the file has an eventTime.
    """
    result = [("event_date", "coalesce(r.event_date, '')"), ("event_date_start", "r.event_date_start"),
              ("event_date_end", "r.event_date_end")]
    for part in ("year", "month", "day"):
        own = f'r."{part}"' if part in run.columns else "NULL::int"
        result.append((part, f"coalesce(r.event_{part}, CASE WHEN r.event_date IS NULL THEN {own} END)"))
    verbatim = "r.verbatim_event_date" if "verbatimEventDate" in run.columns else "NULL::text"
    own_time = "r.event_time" if "eventTime" in run.columns else "NULL::text"
    if "eventDate" in run.columns:
        result.append(("verbatim_event_date", f"coalesce({verbatim}, CASE WHEN r.event_date__changed THEN r.event_date__raw END, '')"))
        result.append(("event_time", f"coalesce({own_time}, r.event_date_time, '')"))
    return result


def history_context(run) -> dict:
    return {"user": getattr(run.batch.created_by, "pk", None), "source": "import",
            "import_batch": str(run.batch.uuid), "action": "specimen_import"}


def shared_rows_ensure(run) -> None:
    """Taxa and agents the rows name, found or created in a short transaction of their own.

    They are shared by every collection, so their creation is serialised between imports (a
    name two imports both lack is created once); committing them here keeps that lock brief
    and lets the long write below run beside other collections' imports. Should the write
    fail, the names stay: real names, as a later import would create them.
    """
    with pghistory.context(**history_context(run)):
        # pghistory attaches the context to the next statement that is not a SELECT, CREATE or
        # COPY: this first one, so the taxa and agents created below carry it.
        sql_execute("SET CONSTRAINTS ALL IMMEDIATE")
        sql_execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
        with run.phase("taxa"):
            taxa_stage(run)
        with run.phase("agents"):
            _agents_ensure(run)


def records_write(run) -> None:
    with pghistory.context(**history_context(run)):
        # Foreign keys are DEFERRABLE INITIALLY DEFERRED (Django's default): a million-row INSERT
        # would queue millions of checks for COMMIT. Checked per statement instead.
        sql_execute("SET CONSTRAINTS ALL IMMEDIATE")
        # A crash before the WAL reaches the disk loses this import (reported as failed, run again),
        # never consistency: the transaction commits or not as a whole.
        sql_execute("SET LOCAL synchronous_commit = off")
        sql_execute("SET LOCAL work_mem = '256MB'")
        # JIT compiles the wide expression lists of these statements anew each time (≈ 1 s apiece
        # at a million rows, more than it saves on row-at-a-time INSERT work).
        sql_execute("SET LOCAL jit = off")
        collection_write_lock(run.collection.pk)
        states_check(run, lock=True)  # a record published or sent for review since validate()
        with run.phase("update"):
            _records_update(run)
            _published_names_make_public(run)
        # Row insert events skipped (see specimens.models.BULK_IMPORT_SETTING): written set-based
        # below instead, one INSERT … SELECT of every new record's version 1.
        sql_execute("SELECT set_config(%s, 'on', true)", [BULK_IMPORT_SETTING])
        set_based = _references_lock(run)
        with run.phase("insert"):
            _records_insert(run)  # with each new record's insert event
        with run.phase("links"):
            _links_insert(run)
        if set_based:
            sql_execute("SELECT set_config('session_replication_role', 'origin', true)")
        sql_execute("SELECT set_config(%s, 'off', true)", [BULK_IMPORT_SETTING])
        if run.batch.publish:
            with run.phase("publish"):
                _records_publish(run)


def _references_lock(run) -> bool:
    """Referential integrity of the new rows checked set-based, when the role may do so.

    The foreign keys' triggers check each new row on its own (≈ 5 µs a key, four keys a specimen
    and two a link). Here every referenced row — collection, institution, batch, user, the
    batch's taxa and agents — is locked FOR KEY SHARE in one statement per table, exactly the
    lock those checks take, and counted; then session_replication_role = replica skips the
    per-row triggers for the INSERTs (new specimen ids are drawn from the sequence, so the
    links can only point at rows this transaction inserts). Needs the SET privilege on the
    parameter (superuser, or GRANT SET ON PARAMETER session_replication_role); otherwise the
    triggers check as usual.
    """
    if not sql_fetch("SELECT has_parameter_privilege('session_replication_role', 'SET')")[0][0]:
        return False
    user_id = getattr(run.batch.created_by, "pk", None)
    one = psql.SQL("SELECT {}::bigint").format
    checks = [
        ("institutions_collection", one(psql.Literal(run.collection.pk))),
        ("institutions_institution", one(psql.Literal(run.collection.institution_id))),
        ("specimens_importbatch", one(psql.Literal(run.batch.pk))),
        ("specimens_taxon", psql.SQL("SELECT DISTINCT taxon_id FROM {} WHERE taxon_id IS NOT NULL").format(
            psql.Identifier(run.taxa))),
        ("specimens_agent", psql.SQL("SELECT DISTINCT agent_id FROM {}").format(psql.Identifier(run.agents))),
    ]
    if user_id is not None:
        checks.append(("auth_user", one(psql.Literal(user_id))))
    for table, ids in checks:
        wanted, found = sql_fetch(psql.SQL(
            "WITH wanted AS ({ids}) SELECT (SELECT count(*) FROM wanted), "
            "(SELECT count(*) FROM (SELECT 1 FROM {table} x WHERE x.id IN (SELECT * FROM wanted) FOR KEY SHARE OF x) l)"
        ).format(ids=ids, table=psql.Identifier(table)))[0]
        if wanted != found:
            raise DatabaseError(f"{table}: {wanted - found} referenced row(s) vanished during the import")
    sql_execute("SELECT set_config('session_replication_role', 'replica', true)")
    return True


def agent_roles(run) -> list[tuple[str, str]]:
    """(staging column, SpecimenAgent role) for the name lists this file carries."""
    return [(column, role) for term, column, role in AGENT_ROLES if term in run.columns]


def _agents_ensure(run) -> None:
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} (name text PRIMARY KEY, agent_id bigint)").format(
        psql.Identifier(run.agents)))
    roles = agent_roles(run)
    if not roles:
        return
    union = psql.SQL(" UNION ALL ").join(
        psql.SQL("SELECT btrim(n.name) AS name, ARRAY[r.line, {k}, n.ord] AS place FROM {rows} r, "
                 "regexp_split_to_table({column}, %s) WITH ORDINALITY AS n(name, ord) WHERE {column} IS NOT NULL").format(
            k=psql.Literal(k), rows=psql.Identifier(run.rows), column=psql.Identifier("r", column))
        for k, (column, _) in enumerate(roles)
    )
    # In order of first appearance (line, collectors before determiners, position in the list):
    # a new agent takes the spelling the file uses first.
    names = [n for (n,) in sql_fetch(psql.SQL("SELECT name FROM ({}) u GROUP BY name ORDER BY min(place)").format(union),
                                      [AGENT_SPLIT] * len(roles)) if n and len(n) <= 255]
    mapping = agents_ensure(names)
    sql_copy(run.agents, ["name", "agent_id"], mapping.items())


def _agent_links_insert(run, *, source: str, id_column: str, column: str, role: str,
                        where: psql.Composable = psql.SQL("true")) -> None:
    """Ordered links of one role for the rows of the table `source` (aliased r), in key order so the
    (specimen, agent, role) index fills at its right edge, page by page."""
    specimen = psql.Identifier("r", id_column)
    sql_execute(psql.SQL(
        'INSERT INTO specimens_specimenagent (specimen_id, agent_id, role, "order") '
        "SELECT {specimen}, a.agent_id, %s, min(n.ord) - 1 FROM {source} r "
        "CROSS JOIN LATERAL regexp_split_to_table({column}, %s) WITH ORDINALITY AS n(name, ord) "
        "JOIN {agents} a ON a.name = btrim(n.name) "
        "WHERE {where} AND {column} IS NOT NULL GROUP BY {specimen}, a.agent_id ORDER BY {specimen}, a.agent_id"
    ).format(specimen=specimen, source=psql.Identifier(source), column=psql.Identifier("r", column),
             agents=psql.Identifier(run.agents), where=where), [role, AGENT_SPLIT])


def _records_update(run) -> None:
    if not sql_fetch(f'SELECT EXISTS (SELECT 1 FROM "{run.rows}" WHERE match_id IS NOT NULL)')[0][0]:
        run.updated = run.matched = 0  # nothing in the file exists yet: no joins over a million rows
        return
    assignments = column_values(run, taxon=True)
    if "scientificName" not in run.columns:
        assignments = [(n, e) for n, e in assignments if n != "taxon_id"]
    compare_left = ", ".join(f't."{n}"' for n, _ in assignments)
    compare_right = ", ".join(e for _, e in assignments)
    identification = ("scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status")
    changed_name = [n for n in identification if n in {a for a, _ in assignments}]
    sql_execute(f'CREATE UNLOGGED TABLE "{run.rows}_renamed" (id bigint)')
    if changed_name:
        left = ", ".join(f't."{n}"' for n in changed_name)
        right = ", ".join(e for n, e in assignments if n in changed_name)
        sql_execute(
            f'INSERT INTO "{run.rows}_renamed" SELECT t.id FROM "{run.rows}" r JOIN specimens_specimen t ON t.id = r.match_id '
            f'LEFT JOIN "{run.taxa}" tx ON tx.taxon_key = r.taxon_key WHERE ({left}, \'\') IS DISTINCT FROM ({right}, \'\')'
        )
    sets = ", ".join(f'"{n}" = {e}' for n, e in assignments)
    if run.media_files:  # our own images and the file's links, counted together
        sets += f", media_count = jsonb_array_length(t.media) + jsonb_array_length({EXTERNAL_MEDIA_SQL})"
    run.updated = sql_execute(
        f"UPDATE specimens_specimen t SET {sets}, version = t.version + 1, updated_at = now(), import_batch_id = %s "
        f'FROM "{run.rows}" r LEFT JOIN "{run.taxa}" tx ON tx.taxon_key = r.taxon_key '
        f"WHERE t.id = r.match_id AND ({compare_left}, '') IS DISTINCT FROM ({compare_right}, '')",
        [run.batch.pk],
    )
    run.matched = sql_fetch(f'SELECT count(match_id) FROM "{run.rows}"')[0][0]
    # A changed determination becomes the current Identification; earlier ones stay.
    sql_execute(
        f'UPDATE specimens_identification i SET is_current = false, updated_at = now() FROM "{run.rows}_renamed" n '
        "WHERE i.specimen_id = n.id AND i.is_current"
    )
    sql_execute(
        f"{IDENTIFICATION_INSERT} SELECT {uuid7_sql('t.id')}, now(), now(), t.id, t.taxon_id, t.scientific_name, t.identified_by, t.date_identified, "
        f"t.identification_qualifier, t.type_status, '', true FROM \"{run.rows}_renamed\" n "
        "JOIN specimens_specimen t ON t.id = n.id WHERE t.scientific_name <> '' OR t.taxon_id IS NOT NULL"
    )
    for column, role in agent_roles(run):
        # Links of matched rows follow the file when the value changed or the row has none yet.
        relinked = f"{run.rows}_relinked"
        sql_execute(
            f'CREATE UNLOGGED TABLE "{relinked}" AS SELECT t.id, r.{column} FROM "{run.rows}" r '
            "JOIN specimens_specimen t ON t.id = r.match_id "
            "WHERE NOT EXISTS (SELECT 1 FROM specimens_specimenagent l WHERE l.specimen_id = t.id AND l.role = %s) "
            "OR t.import_batch_id = %s",
            [role, run.batch.pk],
        )
        sql_execute(
            f'DELETE FROM specimens_specimenagent l USING "{relinked}" c WHERE l.specimen_id = c.id AND l.role = %s',
            [role],
        )
        _agent_links_insert(run, source=relinked, id_column="id", column=column, role=role)
        sql_execute(f'DROP TABLE "{relinked}"')
    sql_execute(f'DROP TABLE "{run.rows}_renamed"')


def _records_publish(run) -> None:
    """Publish on import: records the file matched that are drafts or in review are published
    (a recorded status change; withdrawn and published ones stay as they are), new ones were
    inserted published; all need a name. Their provisional names join the public tree."""
    if "scientificName" not in run.columns:
        run.warnings.append(IMPORT_PUBLISH_NO_NAMES)
        return
    sql_execute(
        "UPDATE specimens_specimen t SET status = %s, published_at = now(), version = t.version + 1, updated_at = now() "
        f'FROM "{run.rows}" r WHERE t.id = r.match_id AND t.status IN (%s, %s) AND t.scientific_name <> \'\'',
        [Specimen.Status.PUBLISHED.value, Specimen.Status.DRAFT.value, Specimen.Status.IN_REVIEW.value],
    )
    written = (f'SELECT coalesce(r.match_id, r.new_id) FROM "{run.rows}" r')
    published = RawSQL(
        f"SELECT t.taxon_id FROM specimens_specimen t WHERE t.id IN ({written}) AND t.status = %s "
        "AND t.taxon_id IS NOT NULL", [Specimen.Status.PUBLISHED.value],
    )
    taxa_make_public(taxa=Taxon.objects.filter(pk__in=published, is_provisional=True),
                     user=run.batch.created_by, action="specimen_import")
    count = sql_fetch(  # now() is the transaction's start: the records published by this write
        f"SELECT count(*) FROM specimens_specimen t WHERE t.id IN ({written}) AND t.status = %s AND t.published_at = now()",
        [Specimen.Status.PUBLISHED.value])[0][0]
    run.warnings.append(IMPORT_PUBLISHED.format(count=count))


def _published_names_make_public(run) -> None:
    """A published record this import renamed: its name joins the public tree (as specimen_update does)."""
    if run.updated and "scientificName" in run.columns:
        published = RawSQL(
            f'SELECT t.taxon_id FROM specimens_specimen t JOIN "{run.rows}" r ON t.id = r.match_id '
            "WHERE t.status = %s AND t.taxon_id IS NOT NULL", [Specimen.Status.PUBLISHED.value],
        )
        taxa_make_public(taxa=Taxon.objects.filter(pk__in=published, is_provisional=True),
                         user=run.batch.created_by, action="specimen_import")


def _records_insert(run) -> None:
    assignments = dict(column_values(run, taxon=True))
    base = f"{settings.PUBLIC_BASE_URL}/specimen/"
    user_id = getattr(run.batch.created_by, "pk", None)
    # Literals, not placeholders (the statement is assembled from SQL fragments).
    values = {
        "id": "r.new_id",
        "uuid": "r.uuid",
        "created_at": "now()",
        "updated_at": "now()",
        "collection_id": str(int(run.collection.pk)),
        "institution_id": str(int(run.collection.institution_id)),
        "created_by_id": "NULL" if user_id is None else str(int(user_id)),
        "import_batch_id": str(int(run.batch.pk)),
        # An import creates drafts, whoever runs it; with publish (a curator's or manager's choice,
        # checked by import_batch_create) the rows that have a name are published.
        "status": literal(Specimen.Status.DRAFT.value),
        "occurrence_id": f"coalesce(r.occurrence_uri, {literal(base)} || r.uuid::text)",
        "license": literal(run.collection.default_license),
        "taxon_id": "tx.taxon_id",
    }
    for field in Specimen._meta.concrete_fields:
        column = field.column
        if column in values:
            continue
        if field.name in assignments:
            values[column] = assignments[field.name]
        elif column in assignments:
            values[column] = assignments[column]
        else:
            default = field.get_default()
            values[column] = "NULL" if default is None else literal(str(_sql_default(default)))
    if "license" in assignments:
        values["license"] = assignments["license"]
    if run.media_files:
        values["media_count"] = f"jsonb_array_length({EXTERNAL_MEDIA_SQL})"
    if run.batch.publish and "scientific_name" in assignments:
        named = f"{assignments['scientific_name']} <> ''"
        values["status"] = (f"CASE WHEN {named} THEN {literal(Specimen.Status.PUBLISHED.value)} "
                            f"ELSE {literal(Specimen.Status.DRAFT.value)} END")
        values["published_at"] = f"CASE WHEN {named} THEN now() END"
    columns = ", ".join(f'"{c}"' for c in values)
    insert = (f"INSERT INTO specimens_specimen ({columns}) SELECT {', '.join(values.values())} "
              f'FROM "{run.rows}" r LEFT JOIN "{run.taxa}" tx ON tx.taxon_key = r.taxon_key WHERE r.match_id IS NULL')
    # The new rows as inserted feed their insert events (version 1), in the same statement.
    run.inserted = sql_execute(psql.SQL("WITH s AS ({insert} RETURNING *) {events}").format(
        insert=psql.SQL(insert), events=specimen_events_insert(label="insert", source=psql.SQL("s"))))


def _links_insert(run) -> None:
    """Current identifications, ordered collectors and determiners of the rows just inserted (ids drawn up front)."""
    assignments = dict(column_values(run, taxon=True))
    if "scientificName" in run.columns:
        value = {name: assignments.get(name, "''") for name in (
            "scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status")}
        sql_execute(
            f"{IDENTIFICATION_INSERT} SELECT {uuid7_sql('r.new_id')}, now(), now(), r.new_id, tx.taxon_id, {value['scientific_name']}, "
            f"{value['identified_by']}, {value['date_identified']}, {value['identification_qualifier']}, "
            f"{value['type_status']}, '', true "
            f'FROM "{run.rows}" r LEFT JOIN "{run.taxa}" tx ON tx.taxon_key = r.taxon_key '
            f"WHERE r.match_id IS NULL AND ({value['scientific_name']} <> '' OR tx.taxon_id IS NOT NULL)"
        )
    for column, role in agent_roles(run):
        _agent_links_insert(run, source=run.rows, id_column="new_id", column=column, role=role,
                            where=psql.SQL("r.match_id IS NULL"))
