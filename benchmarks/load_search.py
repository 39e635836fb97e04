"""Load run on loopback: N concurrent visitors searching, paging, faceting and loading map grids.

    # a server on the benchmark database, with the anonymous limit raised (all visitors share 127.0.0.1):
    API_ANON_RATE=1000000/minute DATABASE_URL=… REDIS_URL=… DJANGO_SETTINGS_MODULE=collections_portal.settings.base \
      DJANGO_DEBUG=false .venv/bin/gunicorn collections_portal.wsgi -w 4 -b 127.0.0.1:8025
    .venv/bin/python benchmarks/load_search.py --url http://127.0.0.1:8025 [--users 50] [--seconds 60]

Each visitor (a thread with its own keep-alive connection) repeats a visit: a search for a word
taken from the site's own facets, the next page through the `next` cursor, one facet value
applied, the map grid at two zooms, the HTML search page. Bounded in time; prints throughput,
p50/p95 per kind of request, and every error (any status but 200, or a refused connection).
The run passes only with zero errors. Standard library only, so it needs nothing installed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
from urllib.parse import urlencode, urlsplit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8025")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    target = urlsplit(args.url)

    def connect():
        return http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)

    # Words and facet values from the site itself (the unfiltered facets).
    warm = connect()
    warm.request("GET", "/api/v1/public/specimens/?page_size=1")
    facets = json.loads(warm.getresponse().read())["facets"]
    words = [v["value"].split(":")[-1] for name in ("family", "order", "country") for v in facets.get(name, [])] or ["a"]
    families = [v["value"] for v in facets.get("family", [])] or [""]
    countries = [v["value"] for v in facets.get("country", [])] or [""]

    lock = threading.Lock()
    timings: dict[str, list[float]] = {}
    errors: list[str] = []
    stop_at = time.monotonic() + args.seconds

    def get(conn, kind: str, path: str):
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Accept": "application/json" if "/api/" in path or ".json" in path else "text/html"})
            response = conn.getresponse()
            body = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            with lock:
                errors.append(f"{kind} {path[:120]}: {exc!r}")
            return None, connect()
        elapsed = time.perf_counter() - started
        with lock:
            timings.setdefault(kind, []).append(elapsed)
            if status != 200:
                errors.append(f"{kind} {path[:120]}: HTTP {status}")
        return (body if status == 200 else None), conn

    def visitor(seed: int) -> None:
        rng = random.Random(seed)
        conn = connect()
        while time.monotonic() < stop_at:
            word = rng.choice(words)
            body, conn = get(conn, "search", "/api/v1/public/specimens/?" + urlencode({"q": word, "page_size": 20}))
            if body:
                following = json.loads(body).get("next")
                if following:
                    parts = urlsplit(following)
                    _, conn = get(conn, "next page", f"{parts.path}?{parts.query}")
            _, conn = get(conn, "facet", "/api/v1/public/specimens/?" + urlencode(
                {"family": rng.choice(families), "country": rng.choice(countries), "page_size": 20}))
            _, conn = get(conn, "grid", "/search/map.json?" + urlencode({"z": 2}))
            _, conn = get(conn, "grid", "/search/map.json?" + urlencode(
                {"q": word, "z": 6, "extent": "-11,49,3,61"}))
            _, conn = get(conn, "page", "/search/?" + urlencode({"q": word}))
        conn.close()

    threads = [threading.Thread(target=visitor, args=(n,), daemon=True) for n in range(args.users)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + 60)
    wall = time.monotonic() - started

    everything = [t for samples in timings.values() for t in samples]
    for kind, samples in sorted(timings.items()):
        samples.sort()
        print(f"[load] {kind:10s} n={len(samples):6d} p50={statistics.median(samples) * 1000:7.1f} ms "
              f"p95={samples[int(0.95 * (len(samples) - 1))] * 1000:7.1f} ms")
    for line in errors[:20]:
        print(f"[load] error: {line}")
    everything.sort()
    p95 = everything[int(0.95 * (len(everything) - 1))] if everything else float("nan")
    print(f"RESULT name=load_search users={args.users} seconds={wall:.0f} requests={len(everything)} "
          f"throughput={len(everything) / wall:.1f}/s p95={p95:.3f} errors={len(errors)}")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
