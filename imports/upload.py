"""Accepting a browser upload: spool it privately, record the batch, queue the import."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from institutions.models import Collection

from specimens.models import ImportBatch
from .services import import_batch_create, import_batch_enqueue
from .checklist import taxa_import_batch_create

UPLOAD_TOO_LARGE = "The file is {size} MB; the limit for one upload is {limit} MB. Split it, or import it on the command line."
UPLOAD_EMPTY = "The file is empty."
UPLOAD_WRONG_KIND = "Upload a Darwin Core Archive (.zip) or a CSV/TSV file (.csv, .tsv, .txt); '{name}' is neither."
ALLOWED_SUFFIXES = {".zip", ".csv", ".tsv", ".txt"}


def spool_root() -> Path:
    return Path(settings.IMPORT_SPOOL_DIR)


def _safe_name(name: str) -> str:
    base = Path(name).name  # never a path from the browser
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:120] or "upload"


def import_upload_accept(*, collection: Collection | None, upload, dry_run: bool, user,
                         kind: str = ImportBatch.Kind.SPECIMENS, date_order: str = "", publish: bool = False) -> ImportBatch:
    """Store the upload under a server-chosen name and queue its import; nothing is parsed here.

    `kind` says what the file holds: specimen records into `collection`, or a checklist into the
    shared taxonomic tree (no collection; PermissionDenied unless the user may import one).
    `date_order` and `publish` are the specimen import's choices (see import_batch_create).
    """
    limit = settings.IMPORT_MAX_UPLOAD_MB
    if upload.size == 0:
        raise ValidationError({"file": UPLOAD_EMPTY})
    if upload.size > limit * 1024 * 1024:
        raise ValidationError({"file": UPLOAD_TOO_LARGE.format(size=upload.size // (1024 * 1024), limit=limit)})
    name = _safe_name(upload.name)
    if Path(name).suffix.lower() not in ALLOWED_SUFFIXES:
        raise ValidationError({"file": UPLOAD_WRONG_KIND.format(name=name)})
    folder = spool_root() / uuid.uuid4().hex
    folder.mkdir(parents=True, mode=0o700)
    target = folder / name
    try:
        with open(target, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        with transaction.atomic():
            if kind == ImportBatch.Kind.TAXA:
                batch = taxa_import_batch_create(path=target, user=user, dry_run=dry_run)
            else:
                batch = import_batch_create(collection=collection, path=target, user=user, dry_run=dry_run,
                                            date_order=date_order, publish=publish)
            import_batch_enqueue(batch=batch)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no stray file when the batch was not recorded
        raise
    return batch


def import_upload_discard(*, batch: ImportBatch) -> None:
    """Remove a browser upload once its import has run (command-line files are the user's own)."""
    source = Path(batch.source_path)
    try:
        source.relative_to(spool_root())
    except ValueError:
        return
    shutil.rmtree(source.parent, ignore_errors=True)
