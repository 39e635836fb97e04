"""Taxon paths: each distinct classification the file names, [(rank, name, authorship), …], found or
created in the shared tree set-based, level by level."""

from __future__ import annotations

import uuid

from django.db import connection
from django.utils import timezone

from specimens.services import HIGHER as HIGHER_COLUMNS
from specimens.services import taxon_path_segment

from .sql import sql_fetch


def taxa_ensure_paths(paths: list[list[tuple[str, str, str]]]) -> dict[tuple, int]:
    """Each path [(rank, name, authorship), …] → its leaf taxon id, creating missing nodes, provisional
    (a specimen import's names stay out of the public tree until a record using them is published).

    Level by level: one query finds the existing children of the level's parents, one draws ids
    for the missing ones, one COPY inserts them (paths known up front). A leaf name found exactly
    once elsewhere in the tree is matched rather than duplicated under a different parent.
    """
    result: dict[tuple, int] = {}
    leaves = {path[-1][1] for path in paths}
    found_leaf: dict[tuple[str, str], list[int]] = {}
    if leaves:
        for taxon_id, name, authorship in sql_fetch(
            "SELECT id, name, authorship FROM specimens_taxon WHERE name = ANY(%s) AND accepted_id IS NULL", [list(leaves)]
        ):
            found_leaf.setdefault((name, authorship), []).append(taxon_id)
    todo = []
    for path in paths:
        rank, name, authorship = path[-1]
        hits = found_leaf.get((name, authorship)) or ([] if authorship else None)
        if hits is None:  # no authorship given: any single accepted node of that name
            hits = [i for (n, _), ids in found_leaf.items() if n == name for i in ids]
        if len(hits) == 1:
            result[tuple(path)] = hits[0]
        else:
            todo.append(path)
    node_of: dict[tuple, tuple[int, str, int, dict]] = {}  # prefix → (id, path, depth, higher names)
    depth = 0
    while True:
        wanted = {tuple(path[: depth + 1]) for path in todo if len(path) > depth}
        if not wanted:
            break
        parent_ids = {prefix: (node_of[prefix[:-1]][0] if depth else None) for prefix in wanted}
        existing = {}
        roots = [p for p in wanted if depth == 0]
        if roots:
            rows = sql_fetch(
                "SELECT id, name, authorship, path, depth, kingdom, phylum, class_name, \"order\", family, genus "
                "FROM specimens_taxon WHERE parent_id IS NULL AND name = ANY(%s)", [list({p[-1][1] for p in roots})]
            )
            for row in rows:
                existing.setdefault((None, row[1], row[2]), row)
        else:
            rows = sql_fetch(
                "SELECT t.id, t.name, t.authorship, t.path, t.depth, t.kingdom, t.phylum, t.class_name, t.\"order\", "
                "t.family, t.genus, t.parent_id FROM specimens_taxon t WHERE t.parent_id = ANY(%s)",
                [list({pid for pid in parent_ids.values()})],
            )
            for row in rows:
                existing.setdefault((row[11], row[1], row[2]), row[:11])
        missing = []
        for prefix in wanted:
            rank, name, authorship = prefix[-1]
            parent_id = parent_ids[prefix]
            row = existing.get((parent_id, name, authorship))
            if row is None and not authorship:
                row = next((r for (pid, n, _), r in existing.items() if pid == parent_id and n == name), None)
            if row is not None:
                node_of[prefix] = (row[0], row[3], row[4], dict(zip(HIGHER_COLUMNS.values(), row[5:11])))
            else:
                missing.append(prefix)
        groups: dict[tuple, list[tuple]] = {}
        for prefix in sorted(missing):
            groups.setdefault((parent_ids[prefix], prefix[-1][1], prefix[-1][2]), []).append(prefix)
        missing = [members[0] for members in groups.values()]
        if missing:
            ids = [i for (i,) in sql_fetch(
                "SELECT nextval(pg_get_serial_sequence('specimens_taxon', 'id')) FROM generate_series(1, %s)", [len(missing)]
            )]
            now = timezone.now()
            with connection.cursor() as cursor:
                with cursor.copy(
                    'COPY specimens_taxon (id, uuid, created_at, updated_at, parent_id, path, depth, name, authorship, rank, '
                    'name_id, vernacular_name, kingdom, phylum, class_name, "order", family, genus, is_provisional) FROM STDIN'
                ) as copy:
                    for taxon_id, prefix in zip(ids, missing):
                        rank, name, authorship = prefix[-1]
                        if depth:
                            parent_id, parent_path, parent_depth, higher = node_of[prefix[:-1]]
                        else:
                            parent_id, parent_path, parent_depth, higher = None, "", -1, dict.fromkeys(HIGHER_COLUMNS.values(), "")
                        higher = dict(higher)
                        if rank in HIGHER_COLUMNS:
                            higher[HIGHER_COLUMNS[rank]] = name
                        path_text = parent_path + taxon_path_segment(taxon_id)
                        copy.write_row((  # provisional: out of the public tree until a record using it is published
                            taxon_id, uuid.uuid4(), now, now, parent_id, path_text, parent_depth + 1, name, authorship,
                            rank, "", "", *(higher[c] for c in HIGHER_COLUMNS.values()), True,
                        ))
                        for member in groups[(parent_id, name, authorship)]:
                            node_of[member] = (taxon_id, path_text, parent_depth + 1, higher)
        depth += 1
    for path in todo:
        result[tuple(path)] = node_of[tuple(path)][0]
    return result
