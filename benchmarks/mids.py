"""compute_mids over N specimens vs a bare UPDATE of the same rows setting a constant level.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/mids.py [--rows 1000000] [--repeat 3]
    make bench NAME=mids ARGS="--rows 100000"

The benchmark collection (BENCH:API, shared with api_list.py and save.py) is topped up to --rows
synthetic specimens. "Ours" is `python manage.py compute_mids --collection BENCH:API` (through
call_command): read every record's mapped terms with its institution, taxon, preparations and
agents joined, assess them, write mids_level, mids_assessment and mids_assessed_at. Before each
run the levels are cleared (untimed), so ours writes every row, as the baseline does. The
baseline is one `UPDATE specimens_specimen SET mids_level = 1 WHERE collection_id = …` with
psycopg in autocommit (the history trigger's WHEN clause is evaluated on both sides). A VACUUM
(untimed) follows every write, so neither side pays for the other's dead rows.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    _common.setup()
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    collection = _common.bench_collection(args.rows)
    db = settings.DATABASES["default"]
    conn = psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                           password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True)
    rows = conn.execute("SELECT count(*) FROM specimens_specimen WHERE collection_id = %s", [collection.pk]).fetchone()[0]

    def settle() -> None:
        conn.execute("VACUUM (ANALYZE) specimens_specimen")

    def clear() -> None:
        conn.execute("UPDATE specimens_specimen SET mids_level = NULL, mids_assessment_id = NULL WHERE collection_id = %s",
                      [collection.pk])
        settle()

    def ours() -> str:
        out = io.StringIO()
        call_command("compute_mids", "--collection", f"{collection.institution.code}:{collection.code}", stdout=out)
        return out.getvalue().strip()

    def baseline() -> int:
        return conn.execute("UPDATE specimens_specimen SET mids_level = 1 WHERE collection_id = %s", [collection.pk]).rowcount

    # Same rows on both sides: every record of the collection assessed, every record updated.
    clear()
    summary = ours()
    print(f"[bench] {summary}", flush=True)
    assert summary.startswith(f"assessed={rows} "), summary
    assert conn.execute("SELECT count(*) FROM specimens_specimen WHERE collection_id = %s AND mids_level IS NULL",
                        [collection.pk]).fetchone()[0] == 0
    distinct = conn.execute("SELECT count(DISTINCT mids_assessment_id) FROM specimens_specimen WHERE collection_id = %s",
                            [collection.pk]).fetchone()[0]
    print(f"[bench] {rows:,} specimens share {distinct:,} distinct assessments", flush=True)
    assert baseline() == rows

    ours_samples, base_samples = [], []
    for _ in range(args.repeat):
        clear()
        started = time.perf_counter()
        ours()
        ours_samples.append(time.perf_counter() - started)
        settle()
        started = time.perf_counter()
        baseline()
        base_samples.append(time.perf_counter() - started)
        settle()
        print(f"[bench] compute_mids {ours_samples[-1]:.2f} s; bare UPDATE {base_samples[-1]:.2f} s", flush=True)
    conn.close()
    ours_s, base_s = statistics.median(ours_samples), statistics.median(base_samples)
    print(f"[bench] {rows:,} rows: compute_mids {rows / ours_s:,.0f} rows/s, bare UPDATE {rows / base_s:,.0f} rows/s", flush=True)
    print(_common.result_line("mids", ours_s, base_s))


if __name__ == "__main__":
    main()
