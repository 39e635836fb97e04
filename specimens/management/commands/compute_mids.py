"""python manage.py compute_mids [--collection INST:COLL]

Re-assesses the MIDS level of every specimen (of one collection) against the vendored TDWG
mappings, in one pass, and prints `assessed=N level0=N level1=N level2=N level3=N below=N`.
Run it after a new mapping release is copied into standards/mids_mappings/.
"""

import sys

from django.core.management.base import BaseCommand

from institutions.models import Collection
from specimens.mids import mids_compute


class Command(BaseCommand):
    help = "Recompute the MIDS level of every specimen, or of one collection."

    def add_arguments(self, parser):
        parser.add_argument("--collection", help="INSTITUTION:COLLECTION codes, e.g. NHMUK:BOT")

    def handle(self, *args, **options):
        collection = None
        if options.get("collection"):
            institution_code, _, code = options["collection"].partition(":")
            collection = Collection.objects.filter(institution__code=institution_code.upper(), code=code.upper()).first()
            if collection is None:
                self.stderr.write(f"error: no collection {options['collection']!r} (expected INSTITUTION:COLLECTION codes).")
                sys.exit(2)
        levels = mids_compute(collection=collection)
        counts = " ".join(f"level{n}={levels.get(n, 0)}" for n in range(4))
        self.stdout.write(f"assessed={sum(levels.values())} {counts} below={levels.get(-1, 0)}")
