"""The public museum pages vs the SQL underneath them, and the recount they avoid.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_f REDIS_URL=redis://127.0.0.1:6379/10 \
        .venv/bin/python benchmarks/museum.py [--rows 1000000] [--repeat 100]

BENCH:API is topped up to --rows published synthetic specimens (shared with api_list). Timed
through Django's test client (the full stack minus the socket), anonymous:

- ours: the home page (every institution's collections with metrics, published counts from the
  cache the beat refreshes, newest specimens with images, exhibitions), one specimen page (deep
  zoom, taxonomy, related specimens, identifications) and its Turtle document (rdflib);
- baseline: the rows those pages need, fetched with psycopg on its own connection: the
  collection metric query, the specimen row with its collection, institution and taxon.

Also printed: `recount`, the GROUP BY over the specimen table that a page without the cached
counts would run on every request (it grows with the table; the pages above do not).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

METRICS_SQL = (
    "SELECT c.id, c.code, c.name, i.code, i.name, "
    "(SELECT value FROM institutions_collectionmetric m WHERE m.collection_id = c.id AND m.measurement_type = "
    "'estimated_objects' ORDER BY measured_on DESC LIMIT 1) "
    "FROM institutions_collection c JOIN institutions_institution i ON i.id = c.institution_id ORDER BY i.code, c.code"
)
SPECIMEN_SQL = (
    "SELECT s.*, c.code, i.code, t.name FROM specimens_specimen s JOIN institutions_collection c ON c.id = s.collection_id "
    "JOIN institutions_institution i ON i.id = s.institution_id LEFT JOIN specimens_taxon t ON t.id = s.taxon_id "
    "WHERE s.uuid = %s"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()

    _common.setup()
    import psycopg
    from django.conf import settings
    from django.test import Client

    from portal.selectors import published_counts_compute
    from portal.services import published_counts_refresh
    from specimens.models import Specimen

    collection = _common.bench_collection(args.rows)
    Specimen.objects.filter(collection=collection).exclude(status="published").update(status="published")
    specimen = Specimen.objects.filter(collection=collection).order_by("id")[args.rows // 2:args.rows // 2 + 1].get()
    published_counts_refresh()
    client = Client(HTTP_HOST="localhost")
    db = settings.DATABASES["default"]
    conn = psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
                           dbname=db["NAME"], autocommit=True)

    pages = ("/", f"/specimen/{specimen.uuid}.html", f"/specimen/{specimen.uuid}.ttl")
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    def ours():
        for path in pages:
            client.get(path)

    def baseline():
        with conn.cursor() as cursor:
            cursor.execute(METRICS_SQL)
            cursor.fetchall()
            cursor.execute(SPECIMEN_SQL, [specimen.uuid])
            cursor.fetchall()

    ours_s, baseline_s = _common.paired_medians(ours, baseline, repeat=args.repeat, warmup=10)
    started = time.perf_counter()
    counts = published_counts_compute()
    recount = time.perf_counter() - started
    print(f"[bench] {sum(counts.values()):,} published rows; recount (GROUP BY per request, avoided) {recount:.3f} s", flush=True)
    print(f"[bench] home + specimen page + Turtle {ours_s * 1000:.1f} ms; their rows by SQL {baseline_s * 1000:.1f} ms", flush=True)
    print(_common.result_line("museum", ours_s, baseline_s) + f" recount={recount:.6f} rows={args.rows}")


if __name__ == "__main__":
    main()
