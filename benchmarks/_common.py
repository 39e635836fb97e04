"""Shared set-up for benchmarks: the database DATABASE_URL names, migrated; timing; the RESULT line.

Benchmarks import this module first. It creates the database if it is missing (the server must
be running), configures Django with production-like base settings (DEBUG off) and migrates.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup() -> None:
    """Django configured on DATABASE_URL / REDIS_URL, migrations applied."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            sys.exit(f"{name} is not set: run `make bench NAME=<name>` or set it, e.g. "
                     "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_bench REDIS_URL=redis://127.0.0.1:6379/9")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_portal.settings.base")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    # Keep throttling on (its cache round trips are part of a real request) but never hit the limit.
    os.environ.setdefault("API_ANON_RATE", "100000000/minute")
    os.environ.setdefault("API_USER_RATE", "100000000/minute")
    from collections_portal.launcher import postgres_ensure_database

    postgres_ensure_database(os.environ["DATABASE_URL"])  # the launcher's own check: creates it if missing

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def median_seconds(func, *, repeat: int, warmup: int = 20) -> float:
    """Median wall time of `func()` over `repeat` runs after `warmup` untimed runs."""
    return paired_medians(func, lambda: None, repeat=repeat, warmup=warmup)[0]


def paired_medians(ours, baseline, *, repeat: int, warmup: int = 20) -> tuple[float, float]:
    """Medians of `ours()` and `baseline()` timed alternately, so load from other processes
    on the machine falls on both sides alike."""
    for _ in range(warmup):
        ours()
        baseline()
    ours_samples, baseline_samples = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        ours()
        middle = time.perf_counter()
        baseline()
        ours_samples.append(middle - started)
        baseline_samples.append(time.perf_counter() - middle)
    return statistics.median(ours_samples), statistics.median(baseline_samples)


def result_line(name: str, ours: float, baseline: float) -> str:
    """The last line every benchmark prints; docs/BENCHMARKS.md records it."""
    return f"RESULT name={name} ours={ours:.6f} baseline={baseline:.6f} ratio={ours / baseline:.2f}"


def bench_collection(rows: int):
    """BENCH:API topped up to `rows` synthetic specimens (only the missing ones are generated)."""
    from institutions.services import collection_upsert, institution_upsert
    from specimens.models import Specimen
    from seeds.synthetic import specimens_generate_timed

    institution = institution_upsert(code="BENCH", name="Benchmark Museum of Natural History", city="London")
    collection = collection_upsert(institution=institution, code="API", name="Benchmark specimens",
                                   discipline="Natural history", barcode_pattern=r"^BENCH\d{9}$")
    have = Specimen.objects.filter(collection=collection).count()
    if have < rows:
        added, seconds = specimens_generate_timed(collection=collection, count=rows - have, seed=1)
        print(f"[bench] generated {added:,} specimens in {seconds:.1f} s ({added / seconds:,.0f} rows/s)", flush=True)
    print(f"[bench] {Specimen.objects.count():,} specimens in the database, {max(have, rows):,} in BENCH:API", flush=True)
    return collection
