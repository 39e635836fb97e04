"""Bulk import of a Darwin Core CSV, end to end, vs raw psycopg COPY of the same file.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_import_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/import.py [--rows 1000000] [--keep]

Generates a tab-separated file with a Darwin Core header (catalogue numbers, names from a few
thousand species with their classification, collectors, ISO dates, places, coordinates) in a
temporary folder. "ours" is `import_batch_create` + `import_batch_run` into a fresh collection:
guards, encoding scan, COPY into the staging table, set-based checks, taxa and agents, INSERT
into specimens_specimen with all its indexes and constraints, identifications and collector
links, all committed. "baseline" is psycopg COPY of the same bytes into an unindexed table of
text columns.

"floor" is the least that durable, indexed, audited writes of these records cost: a binary COPY of
the very rows our import wrote (typed, read back untimed) into a copy of specimens_specimen with
all its indexes, CHECK and foreign-key constraints and triggers, in the importer's transaction
settings (row insert events off, foreign keys checked per statement), plus the same set-based
history insert (one INSERT … SELECT into specimens_specimenevent), committed. Last line:

    RESULT name=import ours=<s> baseline=<s> ratio=<ours/baseline> floor=<s> ratio_floor=<ours/floor> rows_per_s=<n>

--parallel N deals the same rows into N files imported at the same time into N collections
(imports into different collections write concurrently): "ours" is the wall time until all are
committed, against the same single COPY of all rows (and the same single floor COPY); rows_per_s
covers all the imports together.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

COLUMNS = [
    "catalogNumber", "basisOfRecord", "institutionCode", "collectionCode", "scientificName",
    "scientificNameAuthorship", "kingdom", "family", "genus", "specificEpithet", "taxonRank", "recordedBy",
    "recordNumber", "eventDate", "country", "countryCode", "stateProvince", "locality", "decimalLatitude",
    "decimalLongitude", "geodeticDatum", "coordinateUncertaintyInMeters", "preparations", "typeStatus", "habitat",
]
COUNTRIES = [("United Kingdom", "GB", ["England", "Scotland", "Wales"]), ("France", "FR", ["Bretagne", "Provence"]),
             ("Kenya", "KE", ["Coast", "Rift Valley"]), ("Brazil", "BR", ["Amazonas", "Bahia"])]
FAMILIES = ["Asteraceae", "Poaceae", "Fabaceae", "Rosaceae", "Orchidaceae", "Lamiaceae", "Carabidae", "Apidae"]


def csv_generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    species = []
    for g in range(600):
        family = FAMILIES[g % len(FAMILIES)]
        genus = f"Genus{g:03d}ia"
        for e in range(5):
            species.append((family, genus, f"epithet{e}us", f"Author{g % 40}, {1800 + g % 200}"))
    collectors = [f"Collector{i}, A.B." for i in range(4000)]
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\t".join(COLUMNS) + "\n")
        for i in range(rows):
            family, genus, epithet, author = species[rng.randrange(len(species))]
            country, code, states = COUNTRIES[i % len(COUNTRIES)]
            who = collectors[rng.randrange(len(collectors))]
            if i % 3 == 0:
                who += " | " + collectors[rng.randrange(len(collectors))]
            year = 1850 + rng.randrange(170)
            date = f"{year}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}" if i % 10 else str(year)
            out.write("\t".join([
                f"BENCHIMP{i:09d}", "PreservedSpecimen", "BENCH", "IMP", f"{genus} {epithet} {author}", author,
                "Plantae", family, genus, epithet, "species", who, str(rng.randrange(1, 9999)), date, country, code,
                states[i % len(states)], f"Near the {rng.choice(['river', 'hill', 'wood', 'farm'])} {i % 997}",
                f"{rng.uniform(-60, 60):.5f}", f"{rng.uniform(-170, 170):.5f}", "WGS84", str(rng.choice([10, 100, 1000])),
                rng.choice(["sheet", "pinned", "spirit"]), "holotype" if i % 5000 == 0 else "", "",
            ]) + "\n")


def checkpoint(conn) -> None:
    """Each timed part starts with no dirty pages left by the one before (the baseline's 260 MB
    would otherwise be flushed, and the checkpoint it triggers taken, during our import)."""
    try:
        conn.execute("CHECKPOINT")
    except Exception as exc:  # needs superuser or pg_checkpoint; without it both parts run as they come
        print(f"[bench] no CHECKPOINT between the parts ({exc.__class__.__name__})", flush=True)


def import_services():
    """The importer's services module (moved from specimens/imports/ to the imports app)."""
    try:
        from imports import services
    except ImportError:
        from specimens.imports import services
    return services


def floor_table_create(cursor, table: str) -> None:
    """A copy of specimens_specimen with its defaults, CHECKs, indexes, foreign keys and triggers."""
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute(f"CREATE TABLE {table} (LIKE specimens_specimen INCLUDING ALL)")
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = 'specimens_specimen'::regclass AND contype = 'f'")
    for name, definition in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name[:50]}_floor" {definition}')
    cursor.execute("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                   "WHERE tgrelid = 'specimens_specimen'::regclass AND NOT tgisinternal")
    for name, definition in cursor.fetchall():
        definition = definition.replace(f"TRIGGER {name} ", f"TRIGGER {name}_floor ", 1)
        cursor.execute(definition.replace(" ON public.specimens_specimen ", f" ON public.{table} ", 1))


def floor_measure(*, batch_ids: list[int], folder: Path, checkpoint_dsn: str, parallel: int = 1) -> float:
    """Seconds for the floor: COPY of our imported rows into the copy table, plus their history insert.

    With parallel N the rows are dealt into N parts, each copied and audited in its own transaction
    on its own connection at the same time: what the machine's cores allow N writers at most.
    """
    import pghistory
    import psycopg
    from django.db import connection, transaction
    from psycopg import sql as psql

    from specimens.history import specimen_events_write
    from specimens.models import BULK_IMPORT_SETTING

    table = "bench_import_floor"
    dumps = [folder / f"floor{n}.bin" for n in range(parallel)]
    with connection.cursor() as cursor:
        floor_table_create(cursor, table)
        for n, dump in enumerate(dumps):
            with open(dump, "wb") as out, cursor.cursor.copy(psql.SQL(
                    "COPY (SELECT * FROM specimens_specimen WHERE import_batch_id = ANY({}) AND mod(id, {}) = {} ORDER BY id) "
                    "TO STDOUT (FORMAT binary)").format(psql.Literal(batch_ids), psql.Literal(parallel), psql.Literal(n))) as copy:
                for data in copy:
                    out.write(data)
    with psycopg.connect(checkpoint_dsn, autocommit=True) as conn:
        checkpoint(conn)
    action = f"bench_import_floor_{int(time.time())}"

    def write(part: int) -> int:
        dump = dumps[part]
        try:
            with transaction.atomic(), pghistory.context(source="import", action=action):
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as the importer: checked per statement
                    cursor.execute("SELECT set_config(%s, 'on', true)", [BULK_IMPORT_SETTING])
                    with cursor.cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy, open(dump, "rb") as handle:
                        while chunk := handle.read(4 * 1024**2):
                            copy.write(chunk)
                    # This part's rows only: another part may have committed its own already.
                    return specimen_events_write(label="insert", source=psql.SQL(
                        f"(SELECT * FROM {table} WHERE mod(id, {parallel}) = {part}) s"))
        finally:
            if parallel > 1:
                connection.close()

    started = time.perf_counter()
    if parallel == 1:
        written = write(0)
    else:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            written = sum(pool.map(write, range(parallel)))
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:  # the floor's events and table go; ours stay until the clean-up
        cursor.execute("DELETE FROM specimens_specimenevent WHERE pgh_context_id IN "
                       "(SELECT id FROM pghistory_context WHERE metadata->>'action' = %s)", [action])
        cursor.execute("DELETE FROM pghistory_context WHERE metadata->>'action' = %s", [action])
        cursor.execute(f"DROP TABLE {table}")
    print(f"[bench] floor: COPY of {written:,} typed rows into a copy of the specimen table + history insert "
          f"in {seconds:.2f} s ({parallel} at once, {written / seconds:,.0f} rows/s)", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the imported rows (default: delete them after)")
    parser.add_argument("--steps", action="store_true", help="print the importer's timing of every SQL step")
    parser.add_argument("--parallel", type=int, default=1,
                        help="split the rows over N files imported at the same time into N collections")
    args = parser.parse_args()
    if args.steps:
        import logging

        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[step] %(message)s"))
        for name in ("imports", "specimens.imports"):  # the pipeline's modules, after and before the move
            steps = logging.getLogger(name)
            steps.addHandler(handler)
            steps.setLevel(logging.DEBUG)
            steps.propagate = False

    _common.setup()
    import psycopg
    from django.conf import settings
    from django.db import connection

    from institutions.services import collection_upsert, institution_upsert
    services = import_services()
    import_batch_create, import_batch_run = services.import_batch_create, services.import_batch_run

    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = Path(folder) / "specimens.txt"
        started = time.perf_counter()
        csv_generate(path, args.rows)
        print(f"[bench] generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)

        # Baseline: raw COPY of the same bytes into an unindexed table of text columns.
        db = settings.DATABASES["default"]
        dsn = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        columns = ", ".join(f'"{c}" text' for c in COLUMNS)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_import_baseline")
            conn.execute(f"CREATE TABLE bench_import_baseline ({columns})")
            checkpoint(conn)
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor:
                with cursor.copy("COPY bench_import_baseline FROM STDIN (FORMAT csv, DELIMITER E'\\t', HEADER true, "
                                 "QUOTE E'\\x01')") as copy, open(path, "rb") as handle:
                    while chunk := handle.read(4 * 1024**2):
                        copy.write(chunk)
            baseline = time.perf_counter() - started
            copied = conn.execute("SELECT count(*) FROM bench_import_baseline").fetchone()[0]
            conn.execute("DROP TABLE bench_import_baseline")
        print(f"[bench] baseline COPY: {copied:,} rows in {baseline:.2f} s", flush=True)

        institution = institution_upsert(code="BENCH", name="Benchmark Museum of Natural History", city="London")
        stamp = int(time.time())
        parts = [path]
        if args.parallel > 1:  # the same rows, dealt round-robin into N files with the same header
            parts = [Path(folder) / f"part{n}.txt" for n in range(args.parallel)]
            outs = [open(p, "w", encoding="utf-8") for p in parts]
            with open(path, encoding="utf-8") as source:
                header = source.readline()
                for out in outs:
                    out.write(header)
                for i, line in enumerate(source):
                    outs[i % args.parallel].write(line)
            for out in outs:
                out.close()
        collections = [collection_upsert(institution=institution, code=f"IMP{stamp}{n}", name=f"Import benchmark {n}",
                                         discipline="Botany") for n in range(len(parts))]
        batches = [import_batch_create(collection=c, path=p) for c, p in zip(collections, parts)]

        def timed(execute, sql, params, many, context):
            """--steps: every statement of 0.5 s or more through Django's cursors (the importer's own
            SQL kit logs its statements itself)."""
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                seconds = time.perf_counter() - started
                if seconds >= 0.5:
                    print(f"[sql] {seconds:.3f} s {' '.join(str(sql).split())[:140]}", flush=True)

        def run(batch_id):
            try:
                if not args.steps:
                    return import_batch_run(batch_id=batch_id)
                with connection.execute_wrapper(timed):
                    return import_batch_run(batch_id=batch_id)
            finally:
                connection.close()  # each thread has its own connection

        with psycopg.connect(dsn, autocommit=True) as conn:
            checkpoint(conn)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            done = list(pool.map(run, [b.pk for b in batches]))
        ours = time.perf_counter() - started
        inserted = sum(b.inserted_count for b in done)
        print(f"[bench] ours: {len(done)} import(s) status={sorted({b.status for b in done})} inserted={inserted:,} "
              f"in {ours:.2f} s ({inserted / ours:,.0f} rows/s) {[b.file_errors for b in done if b.file_errors]}", flush=True)
        if inserted != args.rows:
            sys.exit("the import did not insert every row; the figure would be meaningless")
        floor = floor_measure(batch_ids=[b.pk for b in done], folder=Path(folder), checkpoint_dsn=dsn,
                              parallel=args.parallel)

    if not args.keep:
        with connection.cursor() as cursor:  # plain SQL: the benchmark rows need no history
            ids = [c.pk for c in collections]
            cursor.execute("ANALYZE specimens_specimen")  # else the IN (…) below may be planned as a nested loop
            cursor.execute("SET session_replication_role = replica")
            for table in ("specimens_specimenagent", "specimens_identification"):
                cursor.execute(f"DELETE FROM {table} WHERE specimen_id IN "
                               "(SELECT id FROM specimens_specimen WHERE collection_id = ANY(%s))", [ids])
            cursor.execute("DELETE FROM specimens_specimen WHERE collection_id = ANY(%s)", [ids])
            cursor.execute("SET session_replication_role = DEFAULT")
    print(f"{_common.result_line('import', ours, baseline)} floor={floor:.6f} ratio_floor={ours / floor:.2f} "
          f"rows_per_s={inserted / ours:.0f} floor_rows_per_s={inserted / floor:.0f}")


if __name__ == "__main__":
    main()
