"""`manage.py rollups_refresh [--rebuild FROM TO] [--snapshots]`: what the beat jobs do, by hand.

Without options: facts above the watermarks → events → DailyStat/WeeklyStat (the 5-minute job).
--rebuild 2026-01-01 2026-03-31: recompute the rollups of those days (whole weeks) from the events,
while writers go on. --snapshots: today's MIDS/status/failing-element snapshot (the nightly pass).
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from digitisation.services import daily_stats_rebuild, rollups_refresh, snapshots_take


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Bring the digitisation rollups up to date, rebuild a date range, or take today's snapshot."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", nargs=2, metavar=("FROM", "TO"), help="rebuild DailyStat/WeeklyStat for these days")
        parser.add_argument("--snapshots", action="store_true", help="take today's MIDS and record snapshots (reads every specimen)")

    def handle(self, *args, rebuild, snapshots, **options):
        result = rollups_refresh()
        self.stdout.write(f"events from lower tables: {result['ingested']:,}; events rolled up: {result['rolled_up']:,}")
        if rebuild:
            try:
                rows = daily_stats_rebuild(date_from=_day(rebuild[0]), date_to=_day(rebuild[1]))
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"rebuilt {rows:,} daily rows for {rebuild[0]} to {rebuild[1]} (whole weeks)")
        if snapshots:
            snapshots_take()
            self.stdout.write("snapshots taken")
