"""Rows rejected per archive, and why: a dry run of every archive under shared/testdata/dwca.

    DATABASE_URL=postgresql://…/scratch python benchmarks/import_rejections.py [PATH …]

Prints one line per archive (`RESULT archive=… status=… rows=… imported=… rejected=… warnings=…`)
and its most common reasons; nothing is kept (everything runs in a transaction rolled back at the
end). The figures are recorded in docs/IMPORTS.md.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_portal.settings.test")
django.setup()

from django.db import transaction  # noqa: E402

from institutions.models import Collection, Institution  # noqa: E402
from imports.services import import_batch_create, import_batch_run  # noqa: E402
from specimens.models import ImportRowError  # noqa: E402

TESTDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "dwca"
ARCHIVES = [
    "python-dwca-reader/gbif-results.zip",
    "python-dwca-reader/dwca-utf8-eol-test.zip",
    "python-dwca-reader/dwca-malformed-descriptor",
    "gbif-dwca-io/checklist_980.zip",
    "gbif-pipelines-validator/dwca/Archive.zip",
    "gbif-pipelines-validator/dwca/dwca-occurrence-broken",
    "gbif-pipelines-validator/dwca/dwca-occurrence-schema",
    "gbif-pipelines-validator/dwca/dwca-meta-broken",
    "gbif-pipelines-validator/dwca/dwca-ref-integrity-issue",
    "gbif-pipelines-validator/dwca/dwca-eml-content-issue",
    "nhm-data-importer/10_gbif_records.zip",
]


def _reason(message: str) -> str:
    """A message with its quoted values blanked, so rows with the same problem count together."""
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'…'", message))[:110]


class Rollback(Exception):
    pass


def measure(paths: list[Path]) -> None:
    try:
        with transaction.atomic():
            institution = Institution.objects.create(code="MEASURE", name="Measurement")
            collection = Collection.objects.create(institution=institution, code="ALL", name="All")
            for path in paths:
                batch = import_batch_run(batch_id=import_batch_create(collection=collection, path=path, dry_run=True).pk)
                errors = Counter(_reason(m) for m in ImportRowError.objects.filter(
                    batch=batch, severity="error").values_list("message", flat=True))
                warned = Counter(_reason(m) for m in ImportRowError.objects.filter(
                    batch=batch, severity="warning").values_list("message", flat=True))
                warnings = sum(warned.values())
                print(f"RESULT archive={path.relative_to(TESTDATA) if path.is_relative_to(TESTDATA) else path} "
                      f"status={batch.status} rows={batch.rows_total} imported={batch.inserted_count} "
                      f"rejected={batch.rejected_count} row_warnings={warnings}")
                for message in batch.file_errors:
                    print(f"    file error: {message}")
                for reason, count in errors.most_common(3):
                    print(f"    {count} × {reason}")
                for reason, count in warned.most_common(2):
                    print(f"    warning {count} × {reason}")
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    measure([Path(p) for p in sys.argv[1:]] or [TESTDATA / a for a in ARCHIVES])
