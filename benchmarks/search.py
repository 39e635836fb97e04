"""Public search at N published specimens: p95 of realistic searches vs the bare SQL of their result query.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_search REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/search.py [--rows 1000000] [--repeat 15]

The collection BENCH:SEARCH is topped up to --rows synthetic specimens, all published
(`generate_specimens --publish-share 1`), and SpecimenSearch is rebuilt when it lags behind
(generate_specimens writes with COPY, outside the specimen services). Then a fixed set of searches
is timed through Django's test client (the whole server side: URL, parsing, queries, JSON):

  names (a genus, a species), a misspelt species (pg_trgm correction), places (a country, a word of
  a locality), a collector, a catalogue number, facets off (no filter) and on (family + country,
  genus + has image, year range), and the map's grid at three zooms (world unfiltered, a genus at
  zoom 5, a country's box at zoom 9).

"ours" is the p95 over all those requests (each --repeat times, alternated with the baseline);
"baseline" the p95 of the same searches' bare result-page SQL (the SELECT of the rows shown, as
the page plans it: `search_page_sql`, worked out once, untimed; nothing when FacetPairCount says no
record matches), executed with psycopg, no facets, no counting, no Python. deep_ratio is the median of page
10,000 (20 a page: the cursor placed at row 199,980 once, untimed) over the median of page 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    _common.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from institutions.services import collection_upsert, institution_upsert
    from specimens.models import Specimen, SpecimenSearch
    from specimens.search import (
        cursor_encode,
        search_page_sql,
        search_params_parse,
        search_rebuild,
    )

    institution = institution_upsert(code="BENCH", name="Benchmark Museum of Natural History", city="London")
    collection = collection_upsert(institution=institution, code="SEARCH", name="Benchmark search specimens",
                                   discipline="Natural history")
    have = Specimen.objects.filter(collection=collection).count()
    if have < args.rows:
        started = time.perf_counter()
        call_command("generate_specimens", "--count", str(args.rows - have), "--collection", "BENCH:SEARCH",
                     "--publish-share", "1", "--seed", "14")
        print(f"[bench] generated {args.rows - have:,} specimens in {time.perf_counter() - started:.0f} s", flush=True)
    published = Specimen.objects.filter(status="published").count()
    if SpecimenSearch.objects.count() != published:
        started = time.perf_counter()
        written = search_rebuild()
        print(f"[bench] search_rebuild: {written:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) specimens_specimensearch")
        cursor.execute("SELECT count(*) FROM specimens_specimensearch")
        rows = cursor.fetchone()[0]

        def one(sql):
            cursor.execute(sql)
            return cursor.fetchone()

        # Realistic words taken from the data itself.
        genus = one("SELECT value FROM specimens_facetcount WHERE facet = 'scientific_name' ORDER BY n DESC OFFSET 3 LIMIT 1")[0].split()[0]
        species = one("SELECT value FROM specimens_facetcount WHERE facet = 'scientific_name' AND value LIKE '% %' "
                      "ORDER BY n DESC OFFSET 7 LIMIT 1")[0]
        family, country = one("SELECT family, country FROM specimens_specimensearch WHERE family <> '' AND country <> '' "
                              "ORDER BY specimen_id OFFSET 1234 LIMIT 1")
        place = one("SELECT split_part(place, ' ', 1) FROM specimens_specimensearch WHERE length(split_part(place, ' ', 1)) > 4 "
                    "ORDER BY specimen_id OFFSET 4321 LIMIT 1")[0].strip(",")
        collector = one("SELECT split_part(recorded_by, ' ', 2) FROM specimens_specimensearch "
                        "WHERE length(split_part(recorded_by, ' ', 2)) > 3 ORDER BY specimen_id OFFSET 777 LIMIT 1")[0].strip(",|")
        catalog = one("SELECT catalog_number FROM specimens_specimensearch ORDER BY specimen_id OFFSET 99999 LIMIT 1")[0]
        lat, lon = one("SELECT decimal_latitude, decimal_longitude FROM specimens_specimensearch "
                       "WHERE decimal_latitude IS NOT NULL ORDER BY specimen_id OFFSET 555 LIMIT 1")
    typo = species[:3] + species[4:]  # one letter dropped
    print(f"[bench] {rows:,} published rows; genus={genus!r} species={species!r} typo={typo!r} family={family!r} "
          f"country={country!r} place={place!r} collector={collector!r} catalog={catalog!r}", flush=True)

    api, grid = "/api/v1/public/specimens/", "/search/map.json"
    box = f"{float(lon) - 3},{float(lat) - 2},{float(lon) + 3},{float(lat) + 2}"
    cases = [
        ("genus", api, {"q": genus}),
        ("species", api, {"q": species}),
        ("typo", api, {"q": typo}),
        ("country word", api, {"q": country}),
        ("locality word", api, {"q": place}),
        ("collector", api, {"recorded_by": collector}),
        ("catalogue number", api, {"q": catalog}),
        ("facets off", api, {}),
        ("facets on", api, {"family": family, "country": country}),
        ("genus with images", api, {"genus": genus, "has_image": "1"}),
        ("years", api, {"year": "1950-1959", "sort": "-year"}),
        ("grid world", grid, {"z": "2"}),
        ("grid genus z5", grid, {"q": genus, "z": "5", "extent": "-30,30,30,65"}),
        ("grid box z9", grid, {"z": "9", "extent": box}),
    ]
    client = Client(HTTP_HOST="localhost")

    def request(url, query):
        response = client.get(url, query)
        assert response.status_code == 200, (url, query, response.status_code, response.content[:300])
        return response

    bare = {}
    for name, _, query in cases:
        params = search_params_parse(query)
        if name == "typo":  # what the typo is searched as, once corrected
            corrected = request(api, query).json()["corrected_to"]
            assert corrected, f"no correction for {typo!r}"
            from dataclasses import replace
            params = replace(params, names=tuple(n.lower() for n in corrected))
        bare[name] = search_page_sql(params, 20) or ("SELECT 1 WHERE false", [])  # the page's own plan

    raw = connection.connection  # psycopg connection: the bare SQL, no Django cursor wrapper

    def baseline(name):
        sql, params = bare[name]
        with raw.cursor() as cur:
            cur.execute(sql, params)
            cur.fetchall()

    ours_samples, base_samples, per_case, per_base = [], [], {}, {}
    for name, url, query in cases:  # warm-up
        request(url, query)
        baseline(name)
    for _ in range(args.repeat):
        for name, url, query in cases:
            started = time.perf_counter()
            request(url, query)
            middle = time.perf_counter()
            baseline(name)
            ended = time.perf_counter()
            ours_samples.append(middle - started)
            base_samples.append(ended - middle)
            per_case.setdefault(name, []).append(middle - started)
            per_base.setdefault(name, []).append(ended - middle)
    for name, samples in per_case.items():
        print(f"[bench] {name:18s} median {statistics.median(samples) * 1000:7.1f} ms  max {max(samples) * 1000:7.1f} ms"
              f"  (bare SQL median {statistics.median(per_base[name]) * 1000:6.1f} ms  max {max(per_base[name]) * 1000:6.1f} ms)",
              flush=True)

    # Page 10,000 vs page 1: a cursor at row 199,980 (found once with OFFSET, untimed).
    params = search_params_parse({})
    with connection.cursor() as cursor:
        cursor.execute("SELECT name_key, specimen_id FROM specimens_specimensearch ORDER BY name_key, specimen_id "
                       "OFFSET %s LIMIT 1", [min(199_979, rows - 21)])
        key = cursor.fetchone()
    deep = cursor_encode(tuple(key), params=params)
    first_s, deep_s = _common.paired_medians(lambda: request(api, {"page_size": "20"}),
                                             lambda: request(api, {"page_size": "20", "cursor": deep}),
                                             repeat=args.repeat * 2, warmup=3)
    print(f"[bench] page 1 {first_s * 1000:.1f} ms, page 10,000 {deep_s * 1000:.1f} ms", flush=True)
    ours, base = p95(ours_samples), p95(base_samples)
    print(f"{_common.result_line('search', ours, base)} deep_ratio={deep_s / first_s:.2f} rows={rows}", flush=True)


if __name__ == "__main__":
    main()
