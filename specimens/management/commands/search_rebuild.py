"""`search_rebuild`: SpecimenSearch, FacetCount and GridCount again from the specimens.

Needed after rows were written outside the specimen services (a raw SQL fix, a restored dump);
the services, the importer, compute_mids and generate_specimens keep it current otherwise.
"""

import time

from django.core.management.base import BaseCommand

from specimens.search import search_rebuild, search_vacuum


class Command(BaseCommand):
    help = "Rebuild the public search table and its facet and map counts from the published specimens."

    def handle(self, *args, **options):
        started = time.perf_counter()
        written = search_rebuild()
        rebuilt = time.perf_counter()
        search_vacuum()
        self.stdout.write(f"search rows={written} seconds={rebuilt - started:.1f} "
                          f"vacuum_seconds={time.perf_counter() - rebuilt:.1f}")
