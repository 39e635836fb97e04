"""The write: taxa and agents ensured in a short transaction of their own, then one transaction of
UPDATE … FROM for changed matches and INSERT … SELECT for new rows, with their insert events (each
record's version 1) written set-based in the same statement, their identifications and agent
links; with publish, the records are published. Updates are tracked row by row."""

from __future__ import annotations

import json
import re

import pghistory
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models.expressions import RawSQL
from psycopg import sql as psql

from specimens.history import specimen_events_insert
from specimens.mids import NEW_LEVELS, NEW_RECORDS, import_kept_columns, mids_assess_new
from specimens.models import BULK_IMPORT_SETTING, Specimen, SpecimenAgent, Taxon
from specimens.services import AGENT_LINK_ROLES, AGENT_NAME_SPLIT, agents_ensure, taxa_make_public

from .batches import ADVISORY_LOCK, collection_write_lock
from .checks import states_check
from .fields import IMPORT_FIELDS, TERM_FIELDS
from .sql import CATALOG_NORMALISED_SQL, sql_copy, sql_execute, sql_fetch, uuid7_sql
from .taxon_paths import taxa_stage

IMPORT_PUBLISH_NO_NAMES = "The file has no scientificName column, so its records were imported as drafts, not published."
IMPORT_PUBLISHED = "Published on import: {count} record(s)."
EXTERNAL_MEDIA = psql.SQL("coalesce(r.external_media, '[]'::jsonb)")
AGENT_SPLIT = AGENT_NAME_SPLIT.pattern  # the same separators in SQL (the pattern means the same there)
# (term, column, role) of the name lists linked to Agents, collectors first, as the services link them.
AGENT_ROLES = tuple((term, column, AGENT_LINK_ROLES[column].value) for term, column in TERM_FIELDS.items()
                    if column in AGENT_LINK_ROLES)
# The current identification of a record the import inserts or renames; the SELECTs follow this order.
IDENTIFICATION_INSERT = psql.SQL(
    "INSERT INTO specimens_identification (uuid, created_at, updated_at, specimen_id, taxon_id, verbatim_identification, "
    "identified_by, date_identified, identification_qualifier, type_status, remarks, is_current)"
)


def _sql_default(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def targets_analyze(run, *, tables=("specimens_specimen", "specimens_identification", "specimens_specimenagent")) -> None:
    """Statistics for the tables written, when they have none or the import is large beside them.

    Without them (a new database: indexes still say 0 rows) the planner may serve the foreign
    key check of every identification with a scan of a whole (institution, id) index instead of
    the primary key: 0.9 ms a row instead of 4 µs. ANALYZE samples, so it stays well under a
    second at any size, and it does not block reads or writes. Called again for the specimen
    table after the write, inside its transaction (so it sees the new rows): the passes after it
    and the first pages read after the COMMIT need the new size, not autovacuum's a minute later.
    """
    rows = sql_fetch(psql.SQL("SELECT count(*) FROM {} WHERE match_id IS NULL").format(psql.Identifier(run.rows)))[0][0]
    for table in tables:
        known = sql_fetch("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])[0][0]
        if known < 0 or rows > max(known, 1_000) * 0.2:
            sql_execute(psql.SQL("ANALYZE {}").format(psql.Identifier(table)))


def _r(name: str) -> psql.Identifier:
    """A column of the typed rows (aliased r)."""
    return psql.Identifier("r", name)


def _is_distinct(assignments: list[tuple[str, psql.Composable]]) -> psql.Composed:
    """The record (aliased t) differs from the file's values in one of these columns."""
    return psql.SQL("({}, '') IS DISTINCT FROM ({}, '')").format(
        psql.SQL(", ").join(psql.Identifier("t", name) for name, _ in assignments),
        psql.SQL(", ").join(value for _, value in assignments))


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
    rows = psql.Identifier(run.rows)
    new, matched = sql_fetch(psql.SQL(
        "SELECT count(*) FILTER (WHERE match_id IS NULL), count(match_id) FROM {}").format(rows))[0]
    changed = 0
    if matched:
        changed = sql_fetch(psql.SQL(
            "SELECT count(*) FROM {} r JOIN specimens_specimen t ON t.id = r.match_id WHERE {}"
        ).format(rows, _is_distinct(column_values(run, taxon=False))))[0][0]
    return {"inserted_count": new, "updated_count": changed, "unchanged_count": matched - changed,
            "rejected_count": rejected}


def column_values(run, *, taxon: bool) -> list[tuple[str, psql.Composable]]:
    """(Specimen column, SQL value from r) for every column the file carries."""
    result = []
    for field in IMPORT_FIELDS:
        term, name = field.term, field.name
        if term not in run.columns and term != "catalogNumber":
            continue
        if name == "occurrence_id":
            continue  # never changed on an existing record
        if field.kind == "text":
            result.append((name, psql.SQL("coalesce({}, '')").format(_r(name))))
        elif field.kind == "decimal":
            places = Specimen._meta.get_field(name).decimal_places
            result.append((name, psql.SQL("round({}, {})").format(_r(name), psql.Literal(places))))
        elif field.kind == "mapped":
            if name == "event_date":
                continue  # with the other date columns, below
            elif name == "basis_of_record":
                default = Specimen._meta.get_field(name).default
                result.append((name, psql.SQL("coalesce(r.basis_of_record, {})").format(psql.Literal(default))))
            else:
                result.append((name, psql.SQL("coalesce(r.license, {})").format(
                    psql.Literal(run.collection.default_license))))
        else:
            result.append((name, _r(name)))
    result.append(("catalog_number_normalised", psql.SQL(CATALOG_NORMALISED_SQL)))
    if run.has_dates:
        dated = _date_assignments(run)
        names = {name for name, _ in dated}
        result = [(name, value) for name, value in result if name not in names] + dated
    if run.media_files:  # the file's media links replace those an earlier import brought
        result.append(("external_media", EXTERNAL_MEDIA))
    if taxon or "scientificName" in run.columns:
        result.append(("taxon_id", psql.SQL("tx.taxon_id" if taxon else "t.taxon_id")))
    return result


def _date_assignments(run) -> list[tuple[str, psql.Composable]]:
    """eventDate, its range, year/month/day, eventTime and verbatimEventDate, read together.

    An eventDate the file holds fills year, month and day (the columns count only without it);
    without one, year/month/day give the eventDate and its range. A value stored in another
    form than the file's (Java dates, timestamps, slash dates) keeps the file's text in
    verbatimEventDate unless the file fills that itself; a time other than midnight goes to
    eventTime unless the file has an eventTime.
    """
    result = [("event_date", psql.SQL("coalesce(r.event_date, '')")), ("event_date_start", _r("event_date_start")),
              ("event_date_end", _r("event_date_end"))]
    for part in ("year", "month", "day"):
        own = _r(part) if part in run.columns else psql.SQL("NULL::int")
        result.append((part, psql.SQL("coalesce({}, CASE WHEN r.event_date IS NULL THEN {} END)").format(
            _r(f"event_{part}"), own)))
    verbatim = _r("verbatim_event_date") if "verbatimEventDate" in run.columns else psql.SQL("NULL::text")
    own_time = _r("event_time") if "eventTime" in run.columns else psql.SQL("NULL::text")
    if "eventDate" in run.columns:
        result.append(("verbatim_event_date", psql.SQL(
            "coalesce({}, CASE WHEN r.event_date__changed THEN r.event_date__raw END, '')").format(verbatim)))
        result.append(("event_time", psql.SQL("coalesce({}, r.event_date_time, '')").format(own_time)))
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
        values = _insert_values(run)
        with run.phase("mids new"):
            _records_mids_new(run, values)
        set_based = _references_lock(run)
        with run.phase("insert"):
            _records_insert(run, values)  # with each new record's insert event and MIDS level
        with run.phase("links"):
            _links_insert(run)
        if set_based:
            sql_execute("SELECT set_config('session_replication_role', 'origin', true)")
        sql_execute("SELECT set_config(%s, 'off', true)", [BULK_IMPORT_SETTING])
        with run.phase("analyze written"):  # before publishing, which reads the new rows back
            targets_analyze(run, tables=("specimens_specimen",))
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


def _named_agents_join(run, column: str) -> psql.Composed:
    """Joins each row (aliased r) to the agents its name list `column` names, in list order
    (n.ord), aliased a (name, agent_id): what the links are made of, and what MIDS reads of them
    before they exist."""
    return psql.SQL(
        "CROSS JOIN LATERAL regexp_split_to_table({column}, {split}) WITH ORDINALITY AS n(name, ord) "
        "JOIN {agents} a ON a.name = btrim(n.name)"
    ).format(column=_r(column), split=psql.Literal(AGENT_SPLIT), agents=psql.Identifier(run.agents))


def _agent_links_insert(run, *, source: str, id_column: str, column: str, role: str,
                        where: psql.Composable = psql.SQL("true")) -> None:
    """Ordered links of one role for the rows of the table `source` (aliased r), in key order so the
    (specimen, agent, role) index fills at its right edge, page by page."""
    specimen = psql.Identifier("r", id_column)
    sql_execute(psql.SQL(
        'INSERT INTO specimens_specimenagent (specimen_id, agent_id, role, "order") '
        "SELECT {specimen}, a.agent_id, %s, min(n.ord) - 1 FROM {source} r {named} "
        "WHERE {where} AND {column} IS NOT NULL GROUP BY {specimen}, a.agent_id ORDER BY {specimen}, a.agent_id"
    ).format(specimen=specimen, source=psql.Identifier(source), named=_named_agents_join(run, column),
             column=_r(column), where=where), [role])


def _records_update(run) -> None:
    rows, taxa = psql.Identifier(run.rows), psql.Identifier(run.taxa)
    if not sql_fetch(psql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE match_id IS NOT NULL)").format(rows))[0][0]:
        run.updated = run.matched = 0  # nothing in the file exists yet: no joins over a million rows
        return
    assignments = column_values(run, taxon=True)
    if "scientificName" not in run.columns:
        assignments = [(n, e) for n, e in assignments if n != "taxon_id"]
    identification = ("scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status")
    renamed = psql.Identifier(f"{run.rows}_renamed")
    sql_execute(psql.SQL("CREATE UNLOGGED TABLE {} (id bigint)").format(renamed))
    changed_name = [(n, e) for n, e in assignments if n in identification]
    if changed_name:
        sql_execute(psql.SQL(
            "INSERT INTO {} SELECT t.id FROM {} r JOIN specimens_specimen t ON t.id = r.match_id "
            "LEFT JOIN {} tx ON tx.taxon_key = r.taxon_key WHERE {}"
        ).format(renamed, rows, taxa, _is_distinct(changed_name)))
    sets = [psql.SQL("{} = {}").format(psql.Identifier(n), e) for n, e in assignments]
    if run.media_files:  # our own images and the file's links, counted together
        sets.append(psql.SQL("media_count = jsonb_array_length(t.media) + jsonb_array_length({})").format(EXTERNAL_MEDIA))
    run.updated = sql_execute(psql.SQL(
        "UPDATE specimens_specimen t SET {sets}, version = t.version + 1, updated_at = now(), import_batch_id = {batch} "
        "FROM {rows} r LEFT JOIN {taxa} tx ON tx.taxon_key = r.taxon_key WHERE t.id = r.match_id AND {changed}"
    ).format(sets=psql.SQL(", ").join(sets), batch=psql.Literal(run.batch.pk), rows=rows, taxa=taxa,
             changed=_is_distinct(assignments)))
    run.matched = sql_fetch(psql.SQL("SELECT count(match_id) FROM {}").format(rows))[0][0]
    # A changed determination becomes the current Identification; earlier ones stay.
    sql_execute(psql.SQL(
        "UPDATE specimens_identification i SET is_current = false, updated_at = now() FROM {} n "
        "WHERE i.specimen_id = n.id AND i.is_current").format(renamed))
    sql_execute(psql.SQL(
        "{insert} SELECT {uuid}, now(), now(), t.id, t.taxon_id, t.scientific_name, t.identified_by, t.date_identified, "
        "t.identification_qualifier, t.type_status, '', true FROM {renamed} n "
        "JOIN specimens_specimen t ON t.id = n.id WHERE t.scientific_name <> '' OR t.taxon_id IS NOT NULL"
    ).format(insert=IDENTIFICATION_INSERT, uuid=uuid7_sql(psql.SQL("t.id")), renamed=renamed))
    for column, role in agent_roles(run):
        # Links of matched rows follow the file when the value changed or the row has none yet.
        relinked = f"{run.rows}_relinked"
        sql_execute(psql.SQL(
            "CREATE UNLOGGED TABLE {} AS SELECT t.id, {} FROM {} r JOIN specimens_specimen t ON t.id = r.match_id "
            "WHERE NOT EXISTS (SELECT 1 FROM specimens_specimenagent l WHERE l.specimen_id = t.id AND l.role = %s) "
            "OR t.import_batch_id = %s"
        ).format(psql.Identifier(relinked), _r(column), rows), [role, run.batch.pk])
        sql_execute(psql.SQL(
            "DELETE FROM specimens_specimenagent l USING {} c WHERE l.specimen_id = c.id AND l.role = %s"
        ).format(psql.Identifier(relinked)), [role])
        _agent_links_insert(run, source=relinked, id_column="id", column=column, role=role)
        sql_execute(psql.SQL("DROP TABLE {}").format(psql.Identifier(relinked)))
    sql_execute(psql.SQL("DROP TABLE {}").format(renamed))


def _records_publish(run) -> None:
    """Publish on import: records the file matched that are drafts or in review are published
    (a recorded status change; withdrawn and published ones stay as they are), new ones were
    inserted published; all need a name. Their provisional names join the public tree."""
    if "scientificName" not in run.columns:
        run.warnings.append(IMPORT_PUBLISH_NO_NAMES)
        return
    sql_execute(psql.SQL(
        "UPDATE specimens_specimen t SET status = %s, published_at = now(), version = t.version + 1, updated_at = now() "
        "FROM {} r WHERE t.id = r.match_id AND t.status IN (%s, %s) AND t.scientific_name <> ''"
    ).format(psql.Identifier(run.rows)),
        [Specimen.Status.PUBLISHED.value, Specimen.Status.DRAFT.value, Specimen.Status.IN_REVIEW.value])
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


def _insert_values(run) -> dict[str, psql.Composable]:
    """Specimen column → its SQL value for a new record, over the typed rows (r) and their taxa (tx)."""
    assignments = dict(column_values(run, taxon=True))
    base = f"{settings.PUBLIC_BASE_URL}/specimen/"
    user_id = getattr(run.batch.created_by, "pk", None)
    draft, published = psql.Literal(Specimen.Status.DRAFT.value), psql.Literal(Specimen.Status.PUBLISHED.value)
    values: dict[str, psql.Composable] = {
        "id": psql.SQL("r.new_id"),
        "uuid": psql.SQL("r.uuid"),
        "created_at": psql.SQL("now()"),
        "updated_at": psql.SQL("now()"),
        "collection_id": psql.Literal(run.collection.pk),
        "institution_id": psql.Literal(run.collection.institution_id),
        "created_by_id": psql.Literal(user_id),
        "import_batch_id": psql.Literal(run.batch.pk),
        # An import creates drafts, whoever runs it; with publish (a curator's or manager's choice,
        # checked by import_batch_create) the rows that have a name are published.
        "status": draft,
        "occurrence_id": psql.SQL("coalesce(r.occurrence_uri, {} || r.uuid::text)").format(psql.Literal(base)),
        "license": psql.Literal(run.collection.default_license),
        "taxon_id": psql.SQL("tx.taxon_id"),
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
            values[column] = psql.SQL("NULL") if default is None else psql.Literal(str(_sql_default(default)))
    if "license" in assignments:
        values["license"] = assignments["license"]
    if run.media_files:
        values["media_count"] = psql.SQL("jsonb_array_length({})").format(EXTERNAL_MEDIA)
    if run.batch.publish and "scientific_name" in assignments:
        named = psql.SQL("{} <> ''").format(assignments["scientific_name"])
        values["status"] = psql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(named, published, draft)
        values["published_at"] = psql.SQL("CASE WHEN {} THEN now() END").format(named)
    return values


def _new_rows_from(run) -> psql.Composed:
    return psql.SQL("FROM {rows} r LEFT JOIN {taxa} tx ON tx.taxon_key = r.taxon_key").format(
        rows=psql.Identifier(run.rows), taxa=psql.Identifier(run.taxa))


def _agent_ids_sql(run) -> psql.Composable:
    """Per new record, the ORCID or Wikidata id of a collector and of a determiner its names link
    to (what specimens.mids.RELATED_JOINS reads from the links once they exist): nothing to read
    unless an agent the file names has such an id."""
    roles = agent_roles(run)
    none = psql.SQL("CROSS JOIN (SELECT NULL::text AS collector, NULL::text AS determiner) ag")
    if not roles or not sql_fetch(psql.SQL(
            "SELECT EXISTS (SELECT 1 FROM {} n JOIN specimens_agent a ON a.id = n.agent_id "
            "WHERE a.orcid IS NOT NULL OR a.wikidata_qid IS NOT NULL)").format(psql.Identifier(run.agents)))[0][0]:
        return none
    linked = psql.SQL(" UNION ALL ").join(
        psql.SQL("SELECT r.new_id AS id, {role} AS role, coalesce(x.orcid, x.wikidata_qid) AS ident FROM {rows} r "
                 "{named} JOIN specimens_agent x ON x.id = a.agent_id "
                 "WHERE r.match_id IS NULL AND {column} IS NOT NULL AND (x.orcid IS NOT NULL OR x.wikidata_qid IS NOT NULL)"
                 ).format(role=psql.Literal(role), rows=psql.Identifier(run.rows), column=_r(column),
                          named=_named_agents_join(run, column))
        for column, role in roles)
    return psql.SQL(
        "LEFT JOIN (SELECT u.id, min(u.ident) FILTER (WHERE u.role = {collector}) AS collector, "
        "min(u.ident) FILTER (WHERE u.role = {determiner}) AS determiner FROM ({linked}) u GROUP BY u.id) ag "
        "ON ag.id = s.id"
    ).format(collector=psql.Literal(SpecimenAgent.Role.COLLECTOR.value),
             determiner=psql.Literal(SpecimenAgent.Role.DETERMINER.value), linked=linked)


def _records_mids_new(run, values: dict[str, psql.Composable]) -> None:
    """Each new record's MIDS level worked out from the values the INSERT will write, before it."""
    # Typed as stored (an untyped NULL would be text); varchar without its length, as the cast would cut.
    types = {f.column: re.sub(r"^varchar\(\d+\)$", "varchar", f.db_type(connection))
             for f in Specimen._meta.concrete_fields}
    source = psql.SQL("(SELECT r.line AS import_line, {values} {rows} WHERE r.match_id IS NULL) s").format(
        values=psql.SQL(", ").join(psql.SQL("({})::{} AS {}").format(v, psql.SQL(types[c]), psql.Identifier(c))
                                   for c, v in values.items()),
        rows=_new_rows_from(run))
    related = psql.SQL("CROSS JOIN (SELECT NULL::text AS value) prep {}").format(_agent_ids_sql(run))
    kept = import_kept_columns(stage_alias="st", columns=run.columns)
    extra = psql.SQL("JOIN {} st ON st.line = s.import_line").format(psql.Identifier(run.stage)) if kept else psql.SQL("")
    connection.ensure_connection()
    as_text = connection.connection
    mids_assess_new(source=source.as_string(as_text), related_joins=related.as_string(as_text),
                    extra_from=extra.as_string(as_text), kept_columns=kept)


def _records_insert(run, values: dict[str, psql.Composable]) -> None:
    values = {**values, "mids_level": psql.SQL("m.level"), "mids_assessment_id": psql.SQL("m.aid"),
              "mids_assessed_at": psql.SQL("now()"), "mids_terms": psql.SQL("mn.new_terms")}
    insert = psql.SQL(
        "INSERT INTO specimens_specimen ({columns}) SELECT {values} {rows} "
        "LEFT JOIN {records} mn ON mn.id = r.new_id "
        "LEFT JOIN {levels} m ON m.discipline = mn.discipline AND m.signature = mn.signature WHERE r.match_id IS NULL"
    ).format(columns=psql.SQL(", ").join(map(psql.Identifier, values)), values=psql.SQL(", ").join(values.values()),
             rows=_new_rows_from(run), records=psql.Identifier(NEW_RECORDS), levels=psql.Identifier(NEW_LEVELS))
    # The new rows as inserted feed their insert events (version 1), in the same statement.
    run.inserted = sql_execute(psql.SQL("WITH s AS ({insert} RETURNING *) {events}").format(
        insert=insert, events=specimen_events_insert(label="insert", source=psql.SQL("s"))))


def _links_insert(run) -> None:
    """Current identifications, ordered collectors and determiners of the rows just inserted (ids drawn up front)."""
    assignments = dict(column_values(run, taxon=True))
    if "scientificName" in run.columns:
        value = {name: assignments.get(name, psql.SQL("''")) for name in (
            "scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status")}
        sql_execute(psql.SQL(
            "{insert} SELECT {uuid}, now(), now(), r.new_id, tx.taxon_id, {scientific_name}, {identified_by}, "
            "{date_identified}, {identification_qualifier}, {type_status}, '', true "
            "FROM {rows} r LEFT JOIN {taxa} tx ON tx.taxon_key = r.taxon_key "
            "WHERE r.match_id IS NULL AND ({scientific_name} <> '' OR tx.taxon_id IS NOT NULL)"
        ).format(insert=IDENTIFICATION_INSERT, uuid=uuid7_sql(psql.SQL("r.new_id")), rows=psql.Identifier(run.rows),
                 taxa=psql.Identifier(run.taxa), **value))
    for column, role in agent_roles(run):
        _agent_links_insert(run, source=run.rows, id_column="new_id", column=column, role=role,
                            where=psql.SQL("r.match_id IS NULL"))
