"""DwC-A export of N published specimens vs the same COPY (SELECT …) TO STDOUT written to plain files.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_e REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/export.py [--rows 1000000] [--repeat 3]

The collection BENCH:EXPORT is topped up to --rows synthetic specimens, all published. "Ours" is
`python manage.py export_dwca --collection BENCH:EXPORT --out …` in a child process (Django's start
included): the Occurrence core, identification, multimedia and MIDS files, each streamed from its
COPY (SELECT … through the public read model) TO STDOUT into a zip at deflate level 1, plus
meta.xml and eml.xml, after the check for records missing GBIF's required terms. The baseline
runs the very same four COPY statements with psycopg in this process and writes their bytes to
plain files, uncompressed. peak_rss_mb is the largest resident set of the exporting child
(getrusage of waited children), which must stay flat whatever N.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
    from django.db import connection

    from institutions.services import collection_upsert, institution_upsert
    from publishing.export import RecordScope, archive_files, copy_tsv
    from publishing.models import Licence
    from seeds.synthetic import specimens_generate_timed
    from specimens.models import Specimen

    institution = institution_upsert(code="BENCH", name="Benchmark Museum of Natural History", city="London")
    collection = collection_upsert(institution=institution, code="EXPORT", name="Benchmark export specimens",
                                   discipline="Natural history", barcode_pattern=r"^BENCHX\d{9}$")
    published = Specimen.objects.filter(collection=collection, status=Specimen.Status.PUBLISHED)
    have = published.count()
    if have < args.rows:
        added, seconds = specimens_generate_timed(collection=collection, count=args.rows - have, seed=7, publish_share=1.0)
        print(f"[bench] generated {added:,} published specimens in {seconds:.1f} s", flush=True)
    rows = published.count()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) specimens_specimen")
    print(f"[bench] {rows:,} published specimens in BENCH:EXPORT", flush=True)

    scope = RecordScope(collection_ids=[collection.pk])
    statements = [copy_tsv(query(scope)) for _, query in archive_files(image_licence=Licence.CC_BY.value)]
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    out = work / "export.zip"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}

    def ours() -> None:
        done = subprocess.run([sys.executable, "manage.py", "export_dwca", "--collection", "BENCH:EXPORT", "--out", str(out)],
                              cwd=_common.ROOT, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 1):
            sys.exit(f"export_dwca failed ({done.returncode}): {done.stderr[-2000:]}")
        line = done.stdout.strip().splitlines()[-1]
        assert line.startswith(f"occurrence={rows} "), line
        print(f"[bench] ours: {line} ({out.stat().st_size / 1e6:,.0f} MB zip)", flush=True)

    def baseline() -> None:
        written = 0
        with connection.cursor() as cursor:
            for index, statement in enumerate(statements):
                with open(work / f"plain-{index}.txt", "wb") as plain, cursor.cursor.copy(statement) as copy:
                    for chunk in copy:
                        plain.write(chunk)
                written += (work / f"plain-{index}.txt").stat().st_size
        print(f"[bench] baseline: {written / 1e6:,.0f} MB plain text", flush=True)

    ours_samples, base_samples = [], []
    for _ in range(args.repeat):  # alternated, so load from others on the machine falls on both
        started = time.perf_counter()
        ours()
        middle = time.perf_counter()
        baseline()
        ours_samples.append(middle - started)
        base_samples.append(time.perf_counter() - middle)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    ours_s, base_s = statistics.median(ours_samples), statistics.median(base_samples)
    print(f"[bench] rows={rows} ours samples={['%.1f' % s for s in ours_samples]} baseline samples="
          f"{['%.1f' % s for s in base_samples]}", flush=True)
    print(_common.result_line("export", ours_s, base_s) + f" peak_rss_mb={peak_rss_mb:.0f}", flush=True)


if __name__ == "__main__":
    main()
