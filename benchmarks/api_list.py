"""API list of 100 specimens vs the raw SQL that fetches the same 100 rows.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/api_list.py [--rows 1000000] [--repeat 300]

A benchmark collection (BENCH:API) is topped up to --rows synthetic specimens (only the missing
ones are generated, so reruns start in seconds). Three requests are timed through Django's test
client, the full stack minus the socket: `GET /api/v1/specimens/?page_size=100` as an anonymous
visitor, the same as a curator of the benchmark institution, and a deep page (half-way down the
table) reached through a `next` cursor. The baseline of each is the same SELECT (same columns,
joins, WHERE, ORDER BY, LIMIT) run with psycopg on its own connection and fetched into tuples.
Medians of --repeat runs after a warm-up, API and SQL timed alternately. Last line: RESULT with the summed medians,
plus page_sql (the statement the API itself runs, read model included, timed the same way on the
raw connection) and ratio_page_sql, which leaves out what the read model's SQL adds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

PAGE = 100
BASE_SQL = (
    "SELECT s.id, s.uuid, s.occurrence_id, s.catalog_number, s.scientific_name, s.basis_of_record, s.status, "
    "s.event_date, s.year, s.country_code, s.locality_sensitivity, s.decimal_latitude, s.decimal_longitude, "
    "s.mids_level, s.media_count, s.updated_at, s.institution_id, i.code, c.code "
    "FROM specimens_specimen s "
    "JOIN institutions_institution i ON i.id = s.institution_id "
    "JOIN institutions_collection c ON c.id = s.collection_id "
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="specimens in the benchmark collection")
    parser.add_argument("--repeat", type=int, default=300, help="timed runs per measurement")
    args = parser.parse_args()

    _common.setup()
    import psycopg
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core import signing
    from django.test import Client

    from collections_portal.common.pagination import CURSOR_SALT
    from institutions.models import Role
    from institutions.services import membership_grant
    from specimens.models import Specimen

    collection = _common.bench_collection(args.rows)
    institution = collection.institution

    user, _ = get_user_model().objects.get_or_create(username="bench.curator")
    membership_grant(user=user, role=Role.CURATOR, institution=institution)
    anonymous, curator = Client(HTTP_HOST="localhost"), Client(HTTP_HOST="localhost")
    curator.force_login(user)

    url = f"/api/v1/specimens/?page_size={PAGE}"
    first = anonymous.get(url)
    assert first.status_code == 200, first.content[:500]
    next_link = first.json()["next"]
    assert next_link and anonymous.get(next_link).status_code == 200
    # A deep page: the cursor a client holds after walking half of the table.
    published = Specimen.objects.filter(status="published").order_by("-id").values_list("id", flat=True)
    total = Specimen.objects.count()
    middle = published[total * 4 // 10]  # about half-way down the published rows
    deep_url = f"{url}&cursor={signing.dumps(middle, salt=CURSOR_SALT, compress=True)}"

    db = settings.DATABASES["default"]
    raw = psycopg.connect(dbname=db["NAME"], user=db["USER"], password=db.get("PASSWORD") or None,
                          host=db["HOST"] or None, port=db.get("PORT") or None, autocommit=True)
    scenarios = [
        ("anonymous first page", anonymous, url,
         BASE_SQL + "WHERE s.status = 'published' ORDER BY s.id DESC LIMIT %s", [PAGE + 1]),
        ("curator first page", curator, url,
         BASE_SQL + "WHERE (s.institution_id = ANY(%s) OR s.status = 'published') ORDER BY s.id DESC LIMIT %s",
         [[institution.pk], PAGE + 1]),
        ("anonymous deep page", anonymous, deep_url,
         BASE_SQL + "WHERE s.status = 'published' AND s.id < %s ORDER BY s.id DESC LIMIT %s", [middle, PAGE + 1]),
    ]
    from django.db import connection

    def page_statement(client, path):
        """The statement the API itself runs for the page (the read model's SQL included)."""
        seen = []

        def grab(execute, sql, params, many, context):
            seen.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(grab):
            client.get(path)
        return next((sql, params) for sql, params in reversed(seen) if "FROM specimens_specimen s" in sql)

    ours_total = baseline_total = same_total = 0.0
    for label, client, path, sql, params in scenarios:
        # Same rows both ways, or the comparison means nothing.
        api_uuids = [row["uuid"] for row in client.get(path).json()["results"]]
        sql_uuids = [str(row[1]) for row in raw.execute(sql, params).fetchall()][:PAGE]
        assert api_uuids == sql_uuids, f"{label}: the API and the SQL return different rows"

        def request(client=client, path=path):
            response = client.get(path)
            if response.status_code != 200:
                raise AssertionError(f"{label}: HTTP {response.status_code}")

        def query(sql=sql, params=params):
            raw.execute(sql, params).fetchall()

        ours, baseline = _common.paired_medians(request, query, repeat=args.repeat)
        ours_total += ours
        baseline_total += baseline
        # A second baseline, reported beside the first: the page's own statement on the raw
        # connection, so the ratio splits into what Django costs and what the read model's SQL costs.
        page_sql, page_params = page_statement(client, path)

        def same_query(page_sql=page_sql, page_params=page_params):
            raw.execute(page_sql, page_params).fetchall()

        ours_again, same = _common.paired_medians(request, same_query, repeat=args.repeat)
        same_total += same
        print(f"[bench] {label:<22} api {ours * 1000:7.2f} ms   sql {baseline * 1000:6.2f} ms   "
              f"ratio {ours / baseline:5.2f}   the page's own SQL {same * 1000:6.2f} ms "
              f"(api {ours_again * 1000:.2f} ms, ratio {ours_again / same:5.2f})", flush=True)
    raw.close()
    print(f"{_common.result_line('api_list', ours_total, baseline_total)} page_sql={same_total:.6f} "
          f"ratio_page_sql={ours_total / same_total:.2f}")


if __name__ == "__main__":
    main()
