"""python manage.py import_specimens PATH --collection INST:COLL [--dry-run] [--report FILE] [--user NAME]
    [--date-order dmy|mdy] [--publish --user NAME]

Exit status: 0 every row imported (or unchanged), 1 some rows rejected (the report CSV is
written and its path printed), 2 the file itself was rejected (or --publish was refused: nothing is
written then). The last line printed is always
`imported=N updated=N rejected=N`.
"""

import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from imports.batches import import_batch_report_write
from imports.run import import_batch_run
from imports.services import import_batch_create, import_publish_refusal, import_user_find
from institutions.models import Collection
from specimens.models import ImportBatch


class Command(BaseCommand):
    help = "Import specimens from a Darwin Core Archive (zip or folder) or a CSV/TSV file with Darwin Core columns."

    def add_arguments(self, parser):
        parser.add_argument("path", help="DwC-A zip, DwC-A folder, or CSV/TSV file")
        parser.add_argument("--collection", required=True, help="INSTITUTION:COLLECTION codes, e.g. NHMUK:BOT")
        parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing but the report")
        parser.add_argument("--report", help="where to write the problem report CSV (default: MEDIA_ROOT/import-reports/)")
        parser.add_argument("--user", help="username recorded as the importer in the history")
        parser.add_argument("--publish", action="store_true",
                            help="publish the records written (needs --user: a curator or manager of the institution)")
        parser.add_argument("--date-order", choices=["dmy", "mdy"], default="",
                            help="how to read slash dates such as 6/7/2009 when the file does not show the order")

    def handle(self, *args, **options):
        code = self._run(options)
        self.stdout.flush()
        if code:
            sys.exit(code)

    def _summary(self, inserted=0, updated=0, rejected=0) -> None:
        self.stdout.write(f"imported={inserted} updated={updated} rejected={rejected}")

    def _refused(self, message: str) -> int:
        """Nothing was imported: say why, print the empty summary, exit 2."""
        self.stderr.write(f"error: {message}")
        self._summary()
        return 2

    def _run(self, options) -> int:
        institution_code, _, collection_code = options["collection"].partition(":")
        collection = Collection.objects.select_related("institution").filter(
            institution__code=institution_code, code=collection_code
        ).first()
        if collection is None:
            return self._refused(f"no collection {options['collection']!r} (expected INSTITUTION:COLLECTION codes).")
        try:
            user = import_user_find(username=options.get("user"))
        except ValidationError as exc:
            return self._refused(exc.messages[0])
        if options.get("publish") and (refusal := import_publish_refusal(user=user, collection=collection)):
            return self._refused(refusal)
        batch = import_batch_create(collection=collection, path=options["path"], user=user, dry_run=options["dry_run"],
                                    date_order=options.get("date_order") or "", publish=options.get("publish", False))
        batch = import_batch_run(batch_id=batch.pk)
        for warning in batch.file_warnings:
            self.stdout.write(f"warning: {warning}")
        for error in batch.file_errors:
            self.stderr.write(f"error: {error}")
        rejected_file = batch.status in (ImportBatch.Status.REJECTED, ImportBatch.Status.FAILED)
        if batch.rejected_count or rejected_file or batch.row_errors.exists():
            report = Path(options["report"] or Path(settings.MEDIA_ROOT) / "import-reports" / f"{batch.uuid}.csv")
            report.parent.mkdir(parents=True, exist_ok=True)
            with open(report, "w", newline="", encoding="utf-8") as out:
                import_batch_report_write(batch=batch, out=out)
            self.stdout.write(f"report: {report}")
        if options["dry_run"] and not rejected_file:
            self.stdout.write("dry run: nothing was written; the counts say what an import would do.")
        if not rejected_file:
            self.stdout.write(f"unchanged={batch.unchanged_count} rows={batch.rows_total} batch={batch.uuid}")
        self._summary(batch.inserted_count, batch.updated_count, batch.rejected_count)
        if rejected_file:
            return 2
        return 1 if batch.rejected_count else 0
