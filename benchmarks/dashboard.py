"""Dashboard requests at 1 M specimens and 10 M digitisation events vs one SELECT from the rollup.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_c REDIS_URL=redis://127.0.0.1:6379/7 \
        .venv/bin/python benchmarks/dashboard.py [--specimens 1000000] [--events 10000000] [--repeat 15]

Data (built once, topped up on a rerun): 10 institutions × 3 collections, each with an estimate;
20 digitisers per institution, each working one stage in one collection (as on a real line);
one project per institution; `--specimens` records through `manage.py generate_specimens`; then,
set-based with generate_series, 60 % of `--events` as specimen-stage transitions (each specimen
through the six stages in order, attributed to the person on that stage) and 40 % as hand-logged
and batch-level counts, over two years; weekly MIDS snapshots for two years and today's real
snapshot (`snapshots_take`, a full pass, untimed); then the rollup (`daily_stats_update`, untimed).

Timed: each dashboard page a manager opens, through Django's test client logged in (programme
manager: default six months, two years, one institution, one collection; a collection manager;
one CSV), against the baseline `SELECT sum(n) FROM digitisation_dailystat WHERE date BETWEEN …`
over the same default range. Prints every request's median and, last,
`RESULT name=dashboard ours=<median of the slowest request> baseline=<s> ratio=<x>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

INSTITUTIONS = 10
COLLECTIONS = ("HERB", "ENT", "ZOO")
PEOPLE = 20
STAGES = ("databased", "imaged", "transcribed", "georeferenced", "verified", "published")


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def build(specimens: int, events: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from digitisation.models import DigitisationEvent, MidsSnapshot, Project
    from digitisation.services import daily_stats_update, snapshots_take
    from institutions.models import CollectionMetric, Membership, Role
    from institutions.services import collection_upsert, institution_upsert
    from specimens.models import Specimen

    User = get_user_model()
    today = timezone.localdate()
    start = today - dt.timedelta(days=730)
    collections = []
    for i in range(INSTITUTIONS):
        institution = institution_upsert(code=f"DASH{i}", name=f"Dashboard Museum {i}", city="Leeds")
        for code in COLLECTIONS:
            c = collection_upsert(institution=institution, code=code, name=f"{code.title()} {i}", discipline=code.title())
            CollectionMetric.objects.get_or_create(collection=c, measurement_type="estimated_objects", derivation="reported",
                                                   measured_on=dt.date(2025, 1, 1), defaults={"value": 2_000_000})
            collections.append(c)
        Project.objects.get_or_create(institution=institution, name=f"DASH{i} programme", defaults=dict(
            start_date=start, end_date=today + dt.timedelta(days=1500), target_count=1_500_000))
        for p in range(PEOPLE):
            user, _ = User.objects.get_or_create(username=f"dash{i}.digitiser{p}")
            Membership.objects.get_or_create(user=user, institution=institution, role=Role.DIGITISER)
    manager, _ = User.objects.get_or_create(username="dash.programme")
    Membership.objects.get_or_create(user=manager, institution=None, role=Role.PROGRAMME_MANAGER)
    local, _ = User.objects.get_or_create(username="dash0.manager")
    Membership.objects.get_or_create(user=local, institution=collections[0].institution, role=Role.COLLECTION_MANAGER)

    per_collection = specimens // len(collections)
    for c in collections:
        have = Specimen.objects.filter(collection=c).count()
        if have < per_collection:
            started = time.perf_counter()
            call_command("generate_specimens", "--count", str(per_collection - have), "--collection",
                         f"{c.institution.code}:{c.code}", "--seed", str(c.pk), verbosity=0)
            log(f"{c.institution.code}:{c.code}: {per_collection - have:,} specimens in {time.perf_counter() - started:.0f} s")

    have = DigitisationEvent.objects.count()
    if have < events:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # Who works which (collection, stage): person p of an institution, slot p mod 18.
            cursor.execute("""
                CREATE TEMP TABLE slot AS
                SELECT (row_number() OVER (ORDER BY u.id) - 1)::int AS rn, c.institution_id, c.id AS collection_id, u.id AS user_id,
                       (substring(u.username from 'digitiser([0-9]+)$')::int % 18) / 3 AS stage_no,
                       (substring(u.username from 'digitiser([0-9]+)$')::int % 18) % 3 AS coll_no
                FROM auth_user u JOIN institutions_membership m ON m.user_id = u.id AND m.role = 'digitiser'
                JOIN institutions_collection c ON c.institution_id = m.institution_id
                WHERE u.username LIKE 'dash%.digitiser%'
                  AND c.code = (ARRAY['HERB','ENT','ZOO'])[1 + (substring(u.username from 'digitiser([0-9]+)$')::int % 18) % 3]
            """)
            cursor.execute("CREATE TEMP TABLE worker AS SELECT DISTINCT ON (collection_id, stage_no) * FROM slot "
                           "ORDER BY collection_id, stage_no, user_id")
            cursor.execute("ANALYZE slot; ANALYZE worker")
            transitions = int(events * 0.6)
            # Specimen-stage transitions: each specimen's stages in order, days apart, over two years.
            cursor.execute("""
                INSERT INTO digitisation_digitisationevent
                    (institution_id, collection_id, project_id, batch_id, stage, specimen_id, count, minutes, user_id,
                     occurred_at, source, note, recorded_at)
                SELECT s.institution_id, s.collection_id, p.id, NULL, (ARRAY['databased','imaged','transcribed',
                       'georeferenced','verified','published'])[k + 1], s.id, 1, NULL,
                       w.user_id,
                       %(start)s::timestamptz + ((s.id * 7919) %% 700) * interval '1 day' + k * interval '4 days'
                         + (s.id %% 480) * interval '1 minute' + interval '8 hours',
                       'auto', '', now()
                FROM (SELECT id, institution_id, collection_id FROM specimens_specimen
                      WHERE collection_id IN (SELECT collection_id FROM slot) ORDER BY id LIMIT %(specimens)s) s
                CROSS JOIN generate_series(0, 5) k
                JOIN worker w ON w.collection_id = s.collection_id AND w.stage_no = k
                JOIN digitisation_project p ON p.institution_id = s.institution_id AND p.name LIKE 'DASH%%'
                ON CONFLICT DO NOTHING
            """, {"start": start, "specimens": transitions // 6 + 1})
            log(f"{cursor.rowcount:,} specimen-stage transitions in {time.perf_counter() - started:.0f} s")
            mid = time.perf_counter()
            cursor.execute("SELECT count(*) FROM digitisation_digitisationevent")
            counts_needed = events - cursor.fetchone()[0]
            # Hand-logged and batch-level counts: a person's own stage and collection, weekdays, two years.
            cursor.execute("""
                INSERT INTO digitisation_digitisationevent
                    (institution_id, collection_id, project_id, batch_id, stage, specimen_id, count, minutes, user_id,
                     occurred_at, source, note, recorded_at)
                SELECT sl.institution_id, sl.collection_id, p.id, NULL,
                       (ARRAY['databased','imaged','transcribed','georeferenced','verified','published'])[sl.stage_no + 1],
                       NULL, 20 + (g %% 60), 30 + (g %% 90), sl.user_id,
                       %(start)s::timestamptz + (g %% 730) * interval '1 day' + (g %% 540) * interval '1 minute'
                         + interval '7 hours',
                       'manual', '', now()
                FROM generate_series(1, %(n)s) g
                JOIN slot sl ON sl.rn = g %% (SELECT count(*) FROM slot)
                JOIN digitisation_project p ON p.institution_id = sl.institution_id AND p.name LIKE 'DASH%%'
            """, {"start": start, "n": max(0, counts_needed)})
            log(f"{cursor.rowcount:,} hand-logged counts in {time.perf_counter() - mid:.0f} s")
            cursor.execute("ANALYZE digitisation_digitisationevent")
    log(f"{DigitisationEvent.objects.count():,} events")

    if not MidsSnapshot.objects.filter(date__lt=today).exists():
        with connection.cursor() as cursor:
            cursor.execute("""
                INSERT INTO digitisation_midssnapshot (date, institution_id, collection_id, level, n)
                SELECT d::date, c.institution_id, c.id, l.level,
                       (%(per)s * (0.3 + 0.7 * (d::date - %(start)s::date) / 730.0) * l.share)::bigint
                FROM generate_series(%(start)s::date + (7 - extract(isodow FROM %(start)s::date)::int), %(today)s::date - 1,
                                     interval '7 days') d
                CROSS JOIN institutions_collection c
                CROSS JOIN (VALUES (NULL::int, 0.05), (-1, 0.05), (0, 0.2), (1, 0.45), (2, 0.2), (3, 0.05)) AS l(level, share)
                WHERE c.institution_id IN (SELECT institution_id FROM institutions_membership m
                                           JOIN auth_user u ON u.id = m.user_id WHERE u.username LIKE 'dash%%')
            """, {"per": per_collection, "start": start, "today": today})
            cursor.execute("ANALYZE digitisation_midssnapshot")
    started = time.perf_counter()
    snapshots_take()
    log(f"today's snapshot (one pass over the specimens) in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    added = daily_stats_update()
    if added:
        log(f"rollup of {added:,} events in {time.perf_counter() - started:.0f} s")
    from digitisation.models import DailyStat
    log(f"{DailyStat.objects.count():,} DailyStat rows, {MidsSnapshot.objects.count():,} MidsSnapshot rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specimens", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    _common.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    build(args.specimens, args.events)
    User = get_user_model()
    today = timezone.localdate()
    programme, local = Client(), Client()
    programme.force_login(User.objects.get(username="dash.programme"))
    local.force_login(User.objects.get(username="dash0.manager"))
    dashboard = reverse("digitisation:dashboard")
    two_years = {"from": (today - dt.timedelta(days=729)).isoformat(), "to": today.isoformat()}
    requests = {
        "programme, last six months": (programme, dashboard, {}),
        "programme, two years": (programme, dashboard, two_years),
        "programme → DASH3": (programme, dashboard, {"institution": "DASH3"}),
        "programme → DASH3:ENT": (programme, dashboard, {"institution": "DASH3", "collection": "ENT"}),
        "collection manager, DASH0": (local, dashboard, {}),
        "CSV throughput-week, two years": (programme, reverse("digitisation:dashboard_csv", args=["throughput-week"]), two_years),
    }
    for name, (client, url, params) in requests.items():
        response = client.get(url, params)
        assert response.status_code == 200, (name, response.status_code)
    date_from = today - dt.timedelta(days=182)

    def baseline() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(n) FROM digitisation_dailystat WHERE date BETWEEN %s AND %s", [date_from, today])
            cursor.fetchone()

    medians = {}
    base_samples = []
    for name, (client, url, params) in requests.items():
        ours, base = _common.paired_medians(lambda: client.get(url, params), baseline, repeat=args.repeat, warmup=3)
        medians[name] = ours
        base_samples.append(base)
        log(f"{name}: {ours * 1000:.1f} ms")
    slowest = max(medians, key=medians.get)
    log(f"slowest: {slowest}")
    print(_common.result_line("dashboard", medians[slowest], statistics.median(base_samples)), flush=True)


if __name__ == "__main__":
    main()
