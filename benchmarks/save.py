"""A curator's specimen save at 1 M specimens vs a bare UPDATE of the same row.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/save.py [--rows 1000000] [--repeat 200]

The benchmark collection (BENCH:API, shared with api_list.py) is topped up to --rows synthetic
specimens. "Ours" is the whole browser path: a logged-in curator POSTs the edit form
(`/curate/specimens/<uuid>/edit/`) through Django's test client; the view parses the form, the
service locks the row, checks the version, validates (catalogue number uniqueness, date,
coordinates), saves, writes the pghistory audit event and the redirect is returned. The
baseline is one `UPDATE specimens_specimen SET locality = …, version = version + 1 WHERE id = …`
with psycopg in autocommit (the audit trigger still fires: it is part of the table). Medians of
--repeat saves after a warm-up, alternating between two localities so every save changes data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    _common.setup()
    import psycopg
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from institutions.models import Role
    from institutions.services import membership_grant
    from specimens.forms import SpecimenForm
    from specimens.models import Specimen

    collection = _common.bench_collection(args.rows)
    institution = collection.institution

    curator, _ = get_user_model().objects.get_or_create(username="bench.saver")
    membership_grant(user=curator, role=Role.CURATOR, institution=institution)
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(curator)

    # A record in the middle of the table, with a name the taxonomy knows.
    specimen = (Specimen.objects.filter(collection=collection).exclude(scientific_name="")
                .order_by("id")[args.rows // 2: args.rows // 2 + 1].get())
    url = f"/curate/specimens/{specimen.uuid}/edit/"
    form = SpecimenForm(instance=specimen)
    base = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    localities = ["Wicken Fen, Cambridgeshire", "Wicken Fen, Cambs."]
    state = {"n": 0}

    def ours() -> None:
        state["n"] += 1
        version = Specimen.objects.filter(pk=specimen.pk).values_list("version", flat=True).get()
        response = client.post(url, {**base, "locality": localities[state["n"] % 2], "version": version})
        if response.status_code != 302:
            raise SystemExit(f"save failed with {response.status_code}: {response.content[:2000]!r}")

    db = settings.DATABASES["default"]
    conn = psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                           password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True)

    def baseline() -> None:
        state["n"] += 1
        conn.execute("UPDATE specimens_specimen SET locality = %s, version = version + 1, updated_at = now() WHERE id = %s",
                     [localities[state["n"] % 2], specimen.pk])

    ours_s = _common.median_seconds(ours, repeat=args.repeat)
    # The version lookup in `ours` is the test's, not the view's: time it to subtract it.
    lookup_s = _common.median_seconds(
        lambda: Specimen.objects.filter(pk=specimen.pk).values_list("version", flat=True).get(), repeat=args.repeat)
    base_s = _common.median_seconds(baseline, repeat=args.repeat)
    conn.close()
    ours_s = max(ours_s - lookup_s, 1e-9)
    print(f"[bench] form save (whole request) median {ours_s * 1000:.2f} ms; bare UPDATE {base_s * 1000:.2f} ms", flush=True)
    print(_common.result_line("save", ours_s, base_s))


if __name__ == "__main__":
    main()
