"""The taxon tree at 400,000 nodes: insert, move a subtree, all descendants.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_taxa REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/taxa.py [--nodes 400000]

A synthetic tree (1 kingdom, 20 phyla, 200 classes, 2,000 orders, 20,000 families, then genera
and species to reach --nodes) is loaded once with COPY, paths computed as the services compute
them. Then, each a median of repeated runs:
- insert: `taxon_create` of a new species under a genus (the service: one id from the sequence,
  one INSERT, its audit event);
- move: `taxon_move` of a family with its ~20 descendants to another order (one UPDATE of the
  subtree's paths), and back;
- descendants: the ids of every taxon under an order (~200 rows) through `taxon_descendants`.
Nested sets would renumber about half of the 400k rows on every insert or move. The baseline is
the same reads and writes in raw SQL with psycopg (no ORM, no audit context), so the ratio shows
what our service layer costs, and the absolute times show the tree stays fast at this size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

LEVELS = [("phylum", 20), ("class", 10), ("order", 10), ("family", 10), ("genus", 5)]


def build(nodes: int) -> None:
    from django.db import connection

    from specimens.dwc import HIGHER_COLUMNS
    from specimens.models import Taxon
    from specimens.services import taxon_create, taxon_path_segment

    HIGHER_SQL = ", ".join(f'"{c}"' for c in HIGHER_COLUMNS)  # noqa: N806

    if Taxon.objects.count() >= nodes:
        return
    with connection.cursor() as cursor:  # a database of its own (see README): start the tree afresh
        cursor.execute("TRUNCATE specimens_taxon RESTART IDENTITY CASCADE")
    root = taxon_create(name="Benchmarkia", rank="kingdom")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('specimens_taxon', 'id'), 10)")
    rows, next_id, frontier = [], 11, [(root.pk, root.path, 0)]
    for rank, fan in LEVELS:
        new_frontier = []
        for parent_id, parent_path, depth in frontier:
            for i in range(fan):
                path = parent_path + taxon_path_segment(next_id)
                rows.append((next_id, parent_id, path, depth + 1, f"{rank.title()}{next_id}", rank))
                new_frontier.append((next_id, path, depth + 1))
                next_id += 1
        frontier = new_frontier
    genera = frontier
    per_genus = max(1, -(-(nodes - len(rows) - 1) // len(genera)))  # round up: at least --nodes
    for genus_id, genus_path, depth in genera:
        for _ in range(per_genus):
            rows.append((next_id, genus_id, genus_path + taxon_path_segment(next_id), depth + 1, f"Species{next_id} benchmarkensis", "species"))
            next_id += 1
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE specimens_taxon DISABLE TRIGGER USER")  # bulk load: no audit rows
        with cursor.connection.cursor().copy(
            "COPY specimens_taxon (id, parent_id, path, depth, name, rank, uuid, created_at, updated_at, authorship, "
            f"name_id, vernacular_name, {HIGHER_SQL}) FROM STDIN"
        ) as copy:
            import uuid as uuidlib

            kingdom = tuple("Benchmarkia" if c == "kingdom" else "" for c in HIGHER_COLUMNS)
            for row in rows:
                copy.write_row((*row, uuidlib.uuid4(), "now", "now", "", "", "", *kingdom))
        cursor.execute("ALTER TABLE specimens_taxon ENABLE TRIGGER USER")
        cursor.execute("SELECT setval(pg_get_serial_sequence('specimens_taxon', 'id'), %s)", [next_id])
        cursor.execute("ANALYZE specimens_taxon")
    print(f"[bench] built a tree of {Taxon.objects.count():,} taxa", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=400_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    _common.setup()
    import psycopg
    from django.conf import settings

    from specimens.dwc import HIGHER_COLUMNS
    from specimens.models import Taxon
    from specimens.selectors import taxon_descendants

    HIGHER_SQL = ", ".join(f'"{c}"' for c in HIGHER_COLUMNS)  # noqa: N806
    from specimens.services import taxon_create, taxon_move

    build(args.nodes)
    order = Taxon.objects.filter(rank="order").order_by("id")[5]
    family = Taxon.objects.filter(rank="family").exclude(path__startswith=order.path).order_by("id")[3]
    home = family.parent
    genus = Taxon.objects.filter(rank="genus").order_by("id")[7]
    counter = {"n": 0}

    def ours_insert():
        counter["n"] += 1
        taxon_create(name=f"Novum{counter['n']} benchmarkense", rank="species", parent=genus)

    def ours_move():
        taxon_move(taxon=family, new_parent=order)
        taxon_move(taxon=family, new_parent=home)

    def ours_descendants():
        return list(taxon_descendants(taxon=order).values_list("id", flat=True))

    db = settings.DATABASES["default"]
    conn = psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                           password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True)

    def sql_insert():
        counter["n"] += 1
        conn.execute(
            "INSERT INTO specimens_taxon (id, parent_id, path, depth, name, rank, uuid, created_at, updated_at, authorship, "
            f"name_id, vernacular_name, {HIGHER_SQL}) "
            "SELECT n, %s, %s || lpad(to_hex(n), 7, '0'), %s, %s, 'species', gen_random_uuid(), now(), now(), '', '', '', "
            f"{', '.join(chr(39) * 2 for _ in HIGHER_COLUMNS)} FROM nextval(pg_get_serial_sequence('specimens_taxon', 'id')) AS n",
            [genus.pk, genus.path, genus.depth + 1, f"Crudum{counter['n']} benchmarkense"])

    def sql_move():
        for target in (order, home):
            fresh = conn.execute("SELECT path, depth FROM specimens_taxon WHERE id = %s", [family.pk]).fetchone()
            new_prefix = target.path + fresh[0][-7:]
            conn.execute("UPDATE specimens_taxon SET path = %s || substr(path, %s), depth = depth + %s WHERE path LIKE %s",
                         [new_prefix, len(fresh[0]) + 1, target.depth + 1 - fresh[1], fresh[0] + "%"])
            conn.execute("UPDATE specimens_taxon SET parent_id = %s WHERE id = %s", [target.pk, family.pk])

    def sql_descendants():
        return conn.execute("SELECT id FROM specimens_taxon WHERE path LIKE %s", [order.path + "%"]).fetchall()

    assert len(ours_descendants()) == len(sql_descendants())
    results = {}
    for label, ours, base in (("insert", ours_insert, sql_insert), ("move", ours_move, sql_move),
                              ("descendants", ours_descendants, sql_descendants)):
        o, b = _common.median_seconds(ours, repeat=args.repeat, warmup=5), _common.median_seconds(base, repeat=args.repeat, warmup=5)
        results[label] = (o, b)
        print(f"[bench] {label:<12} ours {o * 1000:7.2f} ms   sql {b * 1000:7.2f} ms   ratio {o / b:5.2f}", flush=True)
    conn.close()
    print(f"[bench] {Taxon.objects.count():,} taxa; {len(ours_descendants())} under the order", flush=True)
    print(_common.result_line("taxa", sum(o for o, _ in results.values()), sum(b for _, b in results.values())))


if __name__ == "__main__":
    main()
