"""python manage.py import_taxa PATH [--dry-run] [--report FILE] [--user NAME]

Imports a Darwin Core checklist (Taxon core) into the taxonomic tree. Exit status, as for
import_specimens: 0 every row imported (or already there), 1 some rows rejected (the report CSV
is written and its path printed), 2 the file itself was rejected. The last line printed is
always `created=N matched=N synonyms=N rejected=N`.
"""

import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils import timezone

from imports.checklist import taxa_import, taxa_import_report_write
from imports.services import import_user_find


class Command(BaseCommand):
    help = "Import a checklist (Darwin Core Archive with a Taxon core, or CSV/TSV with Darwin Core Taxon columns) into the taxonomic tree."

    def add_arguments(self, parser):
        parser.add_argument("path", help="DwC-A zip, DwC-A folder, or CSV/TSV file")
        parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing but the report")
        parser.add_argument("--report", help="where to write the problem report CSV (default: MEDIA_ROOT/import-reports/)")
        parser.add_argument("--user", help="username recorded as the importer in the history")

    def handle(self, *args, **options):
        code = self._run(options)
        self.stdout.flush()
        if code:
            sys.exit(code)

    def _summary(self, created=0, matched=0, synonyms=0, rejected=0) -> None:
        self.stdout.write(f"created={created} matched={matched} synonyms={synonyms} rejected={rejected}")

    def _refused(self, message: str) -> int:
        """Nothing was imported: say why, print the empty summary, exit 2."""
        self.stderr.write(f"error: {message}")
        self._summary()
        return 2

    def _run(self, options) -> int:
        try:
            user = import_user_find(username=options.get("user"))
        except ValidationError as exc:
            return self._refused(exc.messages[0])
        result = taxa_import(path=options["path"], user=user, dry_run=options["dry_run"])
        for warning in result.warnings:
            self.stdout.write(f"warning: {warning}")
        for error in result.file_errors:
            self.stderr.write(f"error: {error}")
        if result.file_rejected or result.problems:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
            report = Path(options["report"] or Path(settings.MEDIA_ROOT) / "import-reports" / f"taxa-{stamp}.csv")
            report.parent.mkdir(parents=True, exist_ok=True)
            with open(report, "w", newline="", encoding="utf-8") as out:
                taxa_import_report_write(result=result, out=out)
            self.stdout.write(f"report: {report}")
        if options["dry_run"] and not result.file_rejected:
            self.stdout.write("dry run: nothing was written; the counts say what an import would do.")
        if not result.file_rejected:
            self.stdout.write(f"updated={result.updated} rows={result.rows} seconds={result.seconds:.2f}")
        self._summary(result.created, result.matched, result.synonyms, result.rejected)
        if result.file_rejected:
            return 2
        return 1 if result.rejected else 0
