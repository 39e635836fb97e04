"""`manage.py export_collection_metrics --format latimer|csv [--output FILE]`: every collection's counts."""

import csv
import json
import sys

from django.core.management.base import BaseCommand
from django.utils import timezone

from digitisation.latimer import CSV_COLUMNS, csv_row, latimer_document
from digitisation.selectors import collection_metrics_report
from digitisation.views import csv_safe


class Command(BaseCommand):
    help = ("Write estimated objects, digitised and imaged records and records by MIDS level for every collection, "
            "as Latimer Core JSON or CSV (figures from the latest nightly snapshot).")

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["latimer", "csv"], default="latimer")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, format, output, **options):
        rows = collection_metrics_report()
        out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
        try:
            if format == "latimer":
                json.dump(latimer_document(rows, generated_at=timezone.now()), out, indent=2, ensure_ascii=False)
                out.write("\n")
            else:
                writer = csv.writer(out, lineterminator="\r\n")
                writer.writerow(CSV_COLUMNS)
                for row in rows:
                    writer.writerow([csv_safe(v) for v in csv_row(row)])
        finally:
            if output:
                out.close()
        if output:
            self.stderr.write(f"wrote {len(rows)} collections to {output}")
