"""Checklist import (Taxon core) of 100,000 taxa, end to end, vs raw psycopg COPY of the same file.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_taxa_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/taxa_import.py [--taxa 100000] [--repeat 3] [--keep]

Generates a tab-separated checklist with Darwin Core Taxon columns in a temporary folder: a
kingdom, 10 phyla, 50 classes, 300 orders, 2,000 families, 12,000 genera, then species (one in
nine of them a synonym with acceptedNameUsageID) up to --taxa rows, each row linked to its
parent by parentNameUsageID, with authorship, scientificNameID URIs and some vernacular
names, in shuffled order (children before parents). Each repetition uses a kingdom of its own,
so every run builds a new subtree of a growing tree. "ours" is `taxa_import`: encoding scan,
reading, ordering, then the tree ensured level by level, name ids and synonyms linked, its
history events written, all committed. "baseline" is psycopg COPY of the same bytes into an
unindexed table of text columns. Also printed: a second import of the same file (every taxon
matched, nothing written). Last line: RESULT name=taxa_import ours=<s> baseline=<s> ratio=….
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

COLUMNS = ["taxonID", "parentNameUsageID", "acceptedNameUsageID", "taxonomicStatus", "scientificName",
           "scientificNameAuthorship", "taxonRank", "scientificNameID", "vernacularName"]
LEVELS = [("phylum", 10), ("class", 50), ("order", 300), ("family", 2_000), ("genus", 12_000)]


def checklist_generate(path: Path, taxa: int, tag: str, seed: int = 11) -> int:
    rng = random.Random(seed)
    rows = []

    def add(taxon_id, parent, accepted, status, name, author, rank):
        vernacular = f"common {name.lower()}" if len(rows) % 7 == 0 else ""
        rows.append([taxon_id, parent, accepted, status, f"{name} {author}", author, rank,
                     f"https://names.example.org/{tag}/{taxon_id}", vernacular])

    add(f"{tag}-k", "", "", "accepted", f"Regnum{tag}", "Linnaeus, 1758", "kingdom")
    parents = [f"{tag}-k"]
    for rank, count in LEVELS:
        level = []
        for i in range(count):
            taxon_id = f"{tag}-{rank[0]}{i}"
            parent = parents[i % len(parents)]
            add(taxon_id, parent, "", "accepted", f"{rank.title()}{tag}{i}{'idae' if rank == 'family' else ''}",
                f"Author{i % 97}, {1758 + i % 250}", rank)
            level.append(taxon_id)
        parents = level
    genera = parents
    species = 0
    while len(rows) < taxa:
        genus_index = species % len(genera)
        genus = f"Genus{tag}{genus_index}"
        epithet = f"epithet{species // len(genera)}a"
        taxon_id = f"{tag}-s{species}"
        if species % 9 == 8:  # a synonym of the previous species, beside it
            add(taxon_id, genera[genus_index], f"{tag}-s{species - 1}", "synonym", f"{genus} {epithet}x",
                f"Synonymist{species % 31}, 1900", "species")
        else:
            add(taxon_id, genera[genus_index], "", "accepted", f"{genus} {epithet}", f"Author{species % 89}, 1850",
                "species")
        species += 1
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            out.write("\t".join(row) + "\n")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taxa", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the imported taxa (default: delete them after)")
    args = parser.parse_args()
    _common.setup()
    import psycopg
    from django.conf import settings
    from django.db import connection

    from imports.checklist import taxa_import
    from specimens.models import Taxon

    db = settings.DATABASES["default"]
    connect = {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None,
               "password": db["PASSWORD"] or None, "dbname": db["NAME"], "autocommit": True}
    ours_samples, baseline_samples, again_samples = [], [], []
    run_tag = str(int(time.time()))[-6:]
    with tempfile.TemporaryDirectory(prefix="bench-taxa-") as folder:
        for repetition in range(args.repeat):
            tag = f"B{run_tag}r{repetition}"
            path = Path(folder) / f"{tag}.txt"
            rows = checklist_generate(path, args.taxa, tag)
            before = Taxon.objects.count()

            with psycopg.connect(**connect) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_taxa_baseline")
                conn.execute(f"CREATE TABLE bench_taxa_baseline ({', '.join(f'{chr(34)}{c}{chr(34)} text' for c in COLUMNS)})")
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cursor:
                    with cursor.copy("COPY bench_taxa_baseline FROM STDIN (FORMAT csv, DELIMITER E'\\t', HEADER true, "
                                     "QUOTE E'\\x01')") as copy, open(path, "rb") as handle:
                        while chunk := handle.read(4 * 1024**2):
                            copy.write(chunk)
                baseline_samples.append(time.perf_counter() - started)
                conn.execute("DROP TABLE bench_taxa_baseline")

            started = time.perf_counter()
            result = taxa_import(path=path)
            ours_samples.append(time.perf_counter() - started)
            started = time.perf_counter()
            again = taxa_import(path=path)
            again_samples.append(time.perf_counter() - started)
            print(f"[bench] {rows:,} rows: created={result.created:,} synonyms={result.synonyms:,} "
                  f"rejected={result.rejected} in {ours_samples[-1]:.2f} s ({rows / ours_samples[-1]:,.0f} taxa/s); "
                  f"again: created={again.created} matched={again.matched:,} in {again_samples[-1]:.2f} s; "
                  f"COPY {baseline_samples[-1]:.2f} s; tree {before:,} → {Taxon.objects.count():,}", flush=True)
            if result.file_errors or result.rejected or result.created != rows or again.created or again.matched != rows:
                sys.exit(f"the import did not do what it should ({result.file_errors}); the figure would be meaningless")
            if not args.keep:
                root = Taxon.objects.get(parent=None, name=f"Regnum{tag}")
                with connection.cursor() as cursor:  # plain SQL: the benchmark rows need no history
                    cursor.execute("SET session_replication_role = replica")
                    cursor.execute("DELETE FROM specimens_taxon WHERE path LIKE %s", [root.path + "%"])
                    cursor.execute("SET session_replication_role = DEFAULT")
    ours, baseline = statistics.median(ours_samples), statistics.median(baseline_samples)
    print(f"[bench] median: ours {ours:.2f} s ({args.taxa / ours:,.0f} taxa/s), second import "
          f"{statistics.median(again_samples):.2f} s, COPY {baseline:.2f} s", flush=True)
    print(_common.result_line("taxa_import", ours, baseline))


if __name__ == "__main__":
    main()
