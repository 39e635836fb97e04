"""Bulk synthetic specimens for benchmarks and demos: `generate_specimens --count 1000000 --collection NHMUK:BOT`.

With published records among them, SpecimenSearch and its counts are rebuilt afterwards (search_rebuild).
"""

import time

from django.core.management.base import BaseCommand, CommandError

from institutions.models import Collection
from institutions.selectors import collection_get_by_full_code
from seeds.synthetic import specimens_generate_timed


class Command(BaseCommand):
    help = "Add realistic synthetic specimens (real names, places, dates) to a collection, loaded with COPY."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="number of specimens to add")
        parser.add_argument("--collection", required=True, help="INSTITUTION:COLLECTION, e.g. NHMUK:BOT")
        parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
        parser.add_argument("--publish-share", type=float, default=0.8, help="share of published records, 0 to 1")

    def handle(self, *args, count, collection, seed, publish_share, verbosity, **options):
        if not 0 <= publish_share <= 1:
            raise CommandError("--publish-share must be between 0 and 1.")
        try:
            target = collection_get_by_full_code(full_code=collection)
        except Collection.DoesNotExist as exc:
            raise CommandError(str(exc)) from None

        def progress(done, total):
            if verbosity > 1:
                self.stderr.write(f"  {done:,} / {total:,}")

        try:
            rows, seconds = specimens_generate_timed(
                collection=target, count=count, seed=seed, publish_share=publish_share, progress=progress
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"generated {rows:,} specimens in {target.full_code} in {seconds:.1f} s "
            f"({rows / seconds:,.0f} rows/s, with identifications, counts and ANALYZE)"
        )
        if publish_share > 0:
            # Written with COPY, outside the specimen services: the public search is rebuilt (set-based, one pass).
            from specimens.search import search_rebuild, search_vacuum

            started = time.perf_counter()
            written = search_rebuild()
            search_vacuum()
            self.stdout.write(f"search rebuilt: {written:,} published rows in {time.perf_counter() - started:.1f} s")
