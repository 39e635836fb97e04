"""Store and record image files for processing: `ingest_images PATH... --institution CODE`."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imaging.selectors import imaging_batch_counts
from imaging.services import imaging_batch_create, imaging_batch_ingest_paths
from institutions.models import Institution


class Command(BaseCommand):
    help = "Upload image files or folders into a new imaging batch; the Celery `imaging` queue does the work."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--institution", required=True, help="institution code, e.g. NHMUK")
        parser.add_argument("--batch", default="", help="batch name (default: date and time)")
        parser.add_argument("--wait", action="store_true", help="return when every file has reached a final state")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds --wait waits at most")

    def handle(self, *args, paths, institution, batch, wait, timeout, **options):
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        inst = Institution.objects.filter(code=institution.upper()).first()
        if inst is None:
            raise CommandError(f"No institution with code {institution!r}.")
        imaging_batch = imaging_batch_create(institution=inst, name=batch)
        assets = imaging_batch_ingest_paths(batch=imaging_batch, paths=paths)
        self.stdout.write(f"batch {imaging_batch.uuid} '{imaging_batch.name}': {len(assets)} files received")
        counts = imaging_batch_counts(batch=imaging_batch)
        if wait:
            deadline = time.monotonic() + timeout
            while counts["waiting"] and time.monotonic() < deadline:
                time.sleep(0.5)
                counts = imaging_batch_counts(batch=imaging_batch)
            if counts["waiting"]:
                raise CommandError(f"{counts['waiting']} files still processing after {timeout:.0f} s")
        for asset in imaging_batch.assets.filter(status="failed").order_by("id"):
            self.stdout.write(f"rejected {asset.original_name}: {asset.error_code}: {asset.error_text}")
        self.stdout.write(f"processed={counts['processed']} linked={counts['linked']} "
                          f"unmatched={counts['unmatched']} rejected={counts['rejected']}")
