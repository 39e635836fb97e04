"""Synthetic digitisation activity for the demo and screenshots: `generate_activity [--weeks 52]`.

Adds, for the seeded institutions: one funded project each, trays with their sizes, a year of
hand-logged daily counts per person and stage (the quick form's kind of event), and weekly MIDS and
record-status snapshots that grow with them. Run after `load_demo`; running it again adds nothing.
Everything it writes is synthetic and says so (project names end in "(demo)").
"""

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from digitisation.models import DEFAULT_STAGES, Batch, Project
from digitisation.services import _events_lock_shared, daily_stats_rebuild, daily_stats_update
from institutions.models import Institution, Membership, Role

# Institution code → (people, sheets per person-day at the databasing stage): DESIGN §6 rates.
ACTIVE = {"NHMUK": (6, 420), "K": (4, 380), "E": (3, 330), "NMW": (2, 260), "OUMNH": (2, 450),
          "MANCH": (2, 300), "NMS": (2, 280), "CGE": (1, 350)}
# Later stages run behind databasing: share of the databased rate each reaches.
STAGE_SHARE = {"databased": 1.0, "imaged": 0.85, "transcribed": 0.6, "georeferenced": 0.35, "verified": 0.3, "published": 0.25}
FAILING_ELEMENTS = ["GeographicalLocalityID", "CollectingAgentID", "CollectingNumber", "MediaID", "IdentifiedAsID",
                    "CollectingDate", "Media"]

_EVENTS_SQL = """
INSERT INTO digitisation_digitisationevent
    (institution_id, collection_id, project_id, batch_id, stage, specimen_id, count, minutes, user_id,
     occurred_at, source, note, recorded_at)
SELECT %(institution)s, %(collection)s, %(project)s, NULL, %(stage)s, NULL,
       GREATEST(1, round(%(rate)s * (0.55 + 0.9 * random()) * LEAST(1.0, 0.6 + d.i / 120.0)))::int,
       round(360 + 120 * random())::int, %(user)s, d.day + time '16:30', 'manual', 'demo activity', now()
FROM (SELECT day::date AS day, row_number() OVER () AS i
      FROM generate_series(%(start)s::date, %(end)s::date, interval '1 day') AS day) d
WHERE extract(isodow FROM d.day) < 6 AND random() > 0.12  -- weekdays, with leave and sick days
"""


class Command(BaseCommand):
    help = "Generate a year of synthetic digitisation activity (projects, trays, daily counts, MIDS snapshots) for the demo."

    def add_arguments(self, parser):
        parser.add_argument("--weeks", type=int, default=52)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, weeks, seed, **options):
        random.seed(seed)
        today = timezone.localdate()
        start = today - dt.timedelta(weeks=weeks)
        if Project.objects.filter(name__endswith="(demo)").exists():
            self.stdout.write("demo activity already there; nothing added")
            return
        User = get_user_model()
        made = {"projects": 0, "events": 0}
        with transaction.atomic(), connection.cursor() as cursor:
            _events_lock_shared(cursor)
            for code, (people, rate) in ACTIVE.items():
                institution = Institution.objects.filter(code=code).first()
                if institution is None:
                    continue
                collections = list(institution.collections.order_by("code"))
                collection = max(collections, key=lambda c: c.metrics.filter(measurement_type="estimated_objects").count())
                target = rate * people * 220 * 3  # three working years of the planned rate
                project = Project.objects.create(
                    institution=institution, name=f"{institution.code} mass digitisation (demo)", start_date=start,
                    end_date=start + dt.timedelta(days=3 * 365), target_count=target, target_mids_level=1,
                    pert_optimistic=int(rate * people * 5 * 1.2), pert_most_likely=rate * people * 5,
                    pert_pessimistic=int(rate * people * 5 * 0.7),
                )
                made["projects"] += 1
                trays = [Batch.objects.get_or_create(institution=institution, name=f"Tray {n:03d} (demo)",
                                                     defaults={"project": project, "size": random.choice([300, 350, 400, 450])})[0]
                         for n in range(1, 5)]
                staff = []
                for n in range(1, people + 1):
                    user, _ = User.objects.get_or_create(username=f"{code.lower()}.digitiser{n}",
                                                         defaults={"first_name": f"Digitiser {n}", "last_name": code})
                    Membership.objects.get_or_create(user=user, institution=institution, role=Role.DIGITISER)
                    staff.append(user)
                for i, user in enumerate(staff):
                    # Each person works two adjacent stages; everyone databases at first.
                    for stage in {DEFAULT_STAGES[0], DEFAULT_STAGES[i % len(DEFAULT_STAGES)]}:
                        for c in ([collection] if i % 2 == 0 else collections[:2]):
                            cursor.execute(_EVENTS_SQL, {
                                "institution": institution.pk, "collection": c.pk, "project": project.pk,
                                "stage": stage, "rate": rate * STAGE_SHARE[stage] / (1 if c == collection else 3),
                                "user": user.pk, "start": start, "end": today - dt.timedelta(days=1),
                            })
                            made["events"] += cursor.rowcount
                # Trays at different points of the line: the first finished, the last just databased.
                for t, tray in enumerate(trays):
                    for k, stage in enumerate(DEFAULT_STAGES[: len(DEFAULT_STAGES) - 2 * t + 1 if t else None]):
                        day = today - dt.timedelta(days=(len(trays) - t) * 7 - 2 * k)
                        for part in (0.6, 0.4):
                            cursor.execute("""
                                INSERT INTO digitisation_digitisationevent (institution_id, collection_id, project_id, batch_id,
                                    stage, specimen_id, count, minutes, user_id, occurred_at, source, note, recorded_at)
                                VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s, %s, 'manual', 'demo activity', now())""",
                                [institution.pk, collection.pk, project.pk, tray.pk, stage, int(tray.size * part),
                                 int(tray.size * part), staff[k % len(staff)].pk,
                                 timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=int(part < 0.5)), dt.time(15)))])
            self.snapshots(cursor, start, today)
        daily_stats_update()
        daily_stats_rebuild(date_from=start, date_to=today)
        self.stdout.write(f"demo activity: {made['projects']} projects, {made['events']:,} hand-logged daily counts "
                          f"over {weeks} weeks, weekly MIDS and status snapshots (synthetic)")

    def snapshots(self, cursor, start, today):
        """Weekly synthetic snapshots per active collection: levels and statuses grow with the work done."""
        cursor.execute("""
            WITH weeks AS (SELECT (d::date - extract(isodow FROM d)::int %% 7) AS day
                           FROM generate_series(%(start)s::date + 6, %(today)s::date, interval '7 days') d
                           UNION SELECT %(today)s::date),
            done AS (
                SELECT w.day, e.institution_id, e.collection_id, sum(e.count) AS n
                FROM weeks w JOIN digitisation_digitisationevent e
                  ON e.stage = 'databased' AND e.source = 'manual' AND e.note = 'demo activity' AND e.occurred_at::date <= w.day
                GROUP BY 1, 2, 3)
            INSERT INTO digitisation_midssnapshot (date, institution_id, collection_id, level, n)
            SELECT d.day, d.institution_id, d.collection_id, l.level,
                   round(d.n * CASE l.level WHEN 0 THEN 0.18 - 0.08 * p.t WHEN 1 THEN 0.52 WHEN 2 THEN 0.22 + 0.06 * p.t
                                            WHEN 3 THEN 0.03 + 0.02 * p.t ELSE 0.05 END)::bigint
            FROM done d
            CROSS JOIN LATERAL (SELECT (d.day - %(start)s::date) / GREATEST(1.0, %(today)s::date - %(start)s::date) AS t) p
            CROSS JOIN (VALUES (-1), (0), (1), (2), (3)) AS l(level)
            ON CONFLICT DO NOTHING""", {"start": start, "today": today})
        cursor.execute("""
            INSERT INTO digitisation_recordsnapshot (date, institution_id, collection_id, measure, key, n)
            SELECT s.date, s.institution_id, s.collection_id, 'status', k.key, round(sum(s.n) * k.share)::bigint
            FROM digitisation_midssnapshot s
            CROSS JOIN (VALUES ('draft', 0.45), ('in_review', 0.12), ('published', 0.42), ('withdrawn', 0.01)) AS k(key, share)
            WHERE s.date = %(today)s GROUP BY 1, 2, 3, k.key, k.share
            ON CONFLICT DO NOTHING""", {"today": today})
        for i, element in enumerate(FAILING_ELEMENTS):
            cursor.execute("""
                INSERT INTO digitisation_recordsnapshot (date, institution_id, collection_id, measure, key, n)
                SELECT s.date, s.institution_id, s.collection_id, 'failing', %(element)s,
                       round(sum(s.n) * %(share)s)::bigint
                FROM digitisation_midssnapshot s WHERE s.date = %(today)s GROUP BY 1, 2, 3
                ON CONFLICT DO NOTHING""", {"today": today, "element": element, "share": 0.6 / (i + 1.5)})
