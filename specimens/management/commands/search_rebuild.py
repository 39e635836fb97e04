"""`search_rebuild`: SpecimenSearch, FacetCount and GridCount again from the specimens.

Needed after rows were written outside the specimen services (generate_specimens, a raw SQL fix)
or after compute_mids re-assessed levels; the services and the importer keep it current otherwise.
"""

import time

from django.core.management.base import BaseCommand

from specimens.search import search_rebuild


class Command(BaseCommand):
    help = "Rebuild the public search table and its facet and map counts from the published specimens."

    def handle(self, *args, **options):
        started = time.perf_counter()
        written = search_rebuild()
        self.stdout.write(f"search rows={written} seconds={time.perf_counter() - started:.1f}")
