"""New taxa, written one way: `taxa_insert` draws the ids and COPYs the rows, each node's path and
higher-rank copies computed from its parent; `taxa_ensure` finds or creates whole classification
paths with it, set-based, level by level. The specimen import, the checklist import, the synthetic
data and `taxon_ensure_path` (scripts, demo data, tests) all write taxa through these two.

A path is [(rank, name, authorship), …] from the root down; only the leaf carries an authorship.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone
from psycopg import sql

from .dwc import HIGHER_COLUMNS, HIGHER_RANKS, columns_sql
from .models import TAXON_PATH_STEP

TaxonPath = list[tuple[str, str, str]]
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"

# Every column a new taxon is written with; the rest take their database defaults.
TAXON_INSERT_COLUMNS = (
    "id", "uuid", "created_at", "updated_at", "parent_id", "path", "depth", "name", "authorship", "rank",
    "name_id", "vernacular_name", *HIGHER_COLUMNS, "accepted_id", "is_provisional",
)
_HIGHER_SELECT = columns_sql(HIGHER_COLUMNS, alias="t")


@dataclass
class TaxonPlace:
    """Where a node sits: its id, materialised path, depth and the higher ranks it copies."""

    id: int | None
    path: str = ""
    depth: int = -1
    higher: dict[str, str] = field(default_factory=lambda: dict.fromkeys(HIGHER_COLUMNS, ""))


ROOT = TaxonPlace(id=None)


@dataclass
class NewTaxon:
    parent: TaxonPlace
    rank: str
    name: str
    authorship: str = ""
    name_id: str = ""
    vernacular_name: str = ""
    accepted_id: int | None = None
    provisional: bool = False


def taxon_path_segment(number: int) -> str:
    """A taxon id as its fixed-width base-36 step of the materialised path."""
    digits = ""
    while True:
        number, rem = divmod(number, 36)
        digits = _B36[rem] + digits
        if not number:
            break
    return digits.rjust(TAXON_PATH_STEP, "0")


def taxon_ids_draw(count: int) -> list[int]:
    """`count` ids from the taxon sequence, so paths are known before the rows are written."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('specimens_taxon', 'id')) FROM generate_series(1, %s)",
                       [count])
        return [taxon_id for (taxon_id,) in cursor.fetchall()]


def taxa_insert(taxa: list[NewTaxon], *, ids: list[int] | None = None) -> list[TaxonPlace]:
    """Write `taxa` with one COPY (ids drawn here unless given) and return where each now sits.

    The caller holds the transaction; the history triggers record each row under its pghistory
    context. A parent must exist already, or be written earlier in the same list.
    """
    ids = ids if ids is not None else taxon_ids_draw(len(taxa))
    now = timezone.now()
    places = []
    statement = sql.SQL("COPY specimens_taxon ({}) FROM STDIN").format(columns_sql(TAXON_INSERT_COLUMNS))
    with connection.cursor() as cursor:
        # A COPY passes by pghistory's cursor wrapper: this statement attaches the caller's history
        # context (user, action) to the transaction, so the new taxa's insert events carry it.
        cursor.execute("SET LOCAL pghistory.writer = 'taxa_insert'")
        copy_statement = statement.as_string(cursor.connection)
    with connection.cursor() as cursor, cursor.copy(copy_statement) as copy:
        for taxon_id, taxon in zip(ids, taxa, strict=True):
            parent = taxon.parent
            higher = dict(parent.higher)
            if taxon.rank in HIGHER_RANKS:
                higher[HIGHER_RANKS[taxon.rank]] = taxon.name
            place = TaxonPlace(id=taxon_id, path=parent.path + taxon_path_segment(taxon_id), depth=parent.depth + 1,
                               higher=higher)
            copy.write_row((
                taxon_id, uuid.uuid4(), now, now, parent.id, place.path, place.depth, taxon.name, taxon.authorship,
                taxon.rank, taxon.name_id, taxon.vernacular_name, *(higher[c] for c in HIGHER_COLUMNS),
                taxon.accepted_id, taxon.provisional,
            ))
            places.append(place)
    return places


def _fetch(statement: sql.Composable, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection), params)
        return cursor.fetchall()


def taxa_ensure(paths: list[TaxonPath], *, provisional: bool = True, match_leaf_anywhere: bool = True) -> dict[tuple, int]:
    """Each path → its leaf taxon id, creating the missing nodes (provisional by default: a name a
    specimen write brings in stays out of the public tree until a record using it is published).

    Level by level: one query finds the existing children of the level's parents, one draws ids
    for the missing ones, one COPY inserts them. With `match_leaf_anywhere`, a leaf name found
    exactly once elsewhere in the tree (accepted) is matched rather than duplicated under a
    different parent. A node without authorship matches an existing one of the same name.
    """
    result: dict[tuple, int] = {}
    todo = []
    found_leaf: dict[tuple[str, str], list[int]] = {}
    leaves = {path[-1][1] for path in paths} if match_leaf_anywhere else set()
    if leaves:
        for taxon_id, name, authorship in _fetch(sql.SQL(
                "SELECT id, name, authorship FROM specimens_taxon WHERE name = ANY(%s) AND accepted_id IS NULL"),
                [list(leaves)]):
            found_leaf.setdefault((name, authorship), []).append(taxon_id)
    for path in paths:
        if not match_leaf_anywhere:
            todo.append(path)
            continue
        _rank, name, authorship = path[-1]
        hits = found_leaf.get((name, authorship)) or ([] if authorship else None)
        if hits is None:  # no authorship given: any single accepted node of that name
            hits = [i for (n, _), ids in found_leaf.items() if n == name for i in ids]
        if len(hits) == 1:
            result[tuple(path)] = hits[0]
        else:
            todo.append(path)
    place_of: dict[tuple, TaxonPlace] = {}
    select = sql.SQL("SELECT t.id, t.name, t.authorship, t.path, t.depth, {higher}, t.parent_id FROM specimens_taxon t ")
    select = select.format(higher=_HIGHER_SELECT)
    depth = 0
    while True:
        wanted = {tuple(path[: depth + 1]) for path in todo if len(path) > depth}
        if not wanted:
            break
        parent_ids = {prefix: (place_of[prefix[:-1]].id if depth else None) for prefix in wanted}
        if depth == 0:
            rows = _fetch(select + sql.SQL("WHERE t.parent_id IS NULL AND t.name = ANY(%s)"),
                          [list({p[-1][1] for p in wanted})])
        else:
            rows = _fetch(select + sql.SQL("WHERE t.parent_id = ANY(%s)"), [list(set(parent_ids.values()))])
        existing: dict[tuple, tuple] = {}
        for row in rows:
            existing.setdefault((row[-1], row[1], row[2]), row)
        missing = []
        for prefix in wanted:
            _rank, name, authorship = prefix[-1]
            parent_id = parent_ids[prefix]
            row = existing.get((parent_id, name, authorship))
            if row is None and not authorship:
                row = next((r for (pid, n, _), r in existing.items() if pid == parent_id and n == name), None)
            if row is not None:
                place_of[prefix] = TaxonPlace(id=row[0], path=row[3], depth=row[4],
                                              higher=dict(zip(HIGHER_COLUMNS, row[5:-1])))
            else:
                missing.append(prefix)
        groups: dict[tuple, list[tuple]] = {}
        for prefix in sorted(missing):
            groups.setdefault((parent_ids[prefix], prefix[-1][1], prefix[-1][2]), []).append(prefix)
        firsts = [members[0] for members in groups.values()]
        new = [NewTaxon(parent=place_of[p[:-1]] if depth else ROOT, rank=p[-1][0], name=p[-1][1], authorship=p[-1][2],
                        provisional=provisional) for p in firsts]
        for prefix, place in zip(firsts, taxa_insert(new)):
            for member in groups[(parent_ids[prefix], prefix[-1][1], prefix[-1][2])]:
                place_of[member] = place
        depth += 1
    for path in todo:
        result[tuple(path)] = place_of[tuple(path)].id
    return result
