"""Starting a bulk import of specimens from a Darwin Core Archive or a CSV/TSV file (DESIGN §2.2 path 2).

file → guards + meta.xml (standards) → COPY into an UNLOGGED all-text staging table (parsed by
PostgreSQL when the file is regular, else by the tolerant Python reader) → one typed, matched
table built set-based → every check as SQL, problems written to ImportRowError → (dry run
stops) → one transaction: taxa and agents ensured set-based, UPDATE … FROM for changed matches,
INSERT … SELECT for new rows (their insert events, each record's version 1, written set-based
by one more INSERT … SELECT instead of row by row; updates are tracked row by row). Each row
ends once: inserted, updated, unchanged or rejected. The steps live in load, rows, checks and
write; imports.run runs them.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from institutions.models import Collection
from institutions.selectors import ALL, institution_scope
from specimens.models import ImportBatch

from .batches import import_batches_enqueue
from .run import import_batch_run  # noqa: F401 — the door, for callers that create a batch and run it in place

IMPORT_USER_UNKNOWN = "no user {username!r}."
IMPORT_PUBLISH_NEEDS_USER = (
    "Publishing on import needs --user NAME: the curator or collection manager who publishes these records."
)
IMPORT_PUBLISH_NOT_ALLOWED = (
    "{user} may not publish records of {institution}: only its curators and collection managers can publish on import."
)


def import_user_find(*, username: str | None):
    """The user an import is recorded under (the commands' --user NAME), or None when no name is
    given; ValidationError (IMPORT_USER_UNKNOWN) when nobody has that name."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError(IMPORT_USER_UNKNOWN.format(username=username))
    return user


def import_publish_refusal(*, user, collection: Collection) -> str | None:
    """Why `user` may not publish the records an import writes into `collection`, or None: the
    publish rule of the record page (institutions.selectors, action "publish")."""
    if user is None:
        return IMPORT_PUBLISH_NEEDS_USER
    scope = institution_scope(user=user, action="publish")
    if scope != ALL and collection.institution_id not in scope:
        return IMPORT_PUBLISH_NOT_ALLOWED.format(user=user.get_username(), institution=collection.institution.name)
    return None


def import_batch_create(*, collection: Collection, path: str | Path, user=None, dry_run: bool = False,
                        date_order: str = "", publish: bool = False) -> ImportBatch:
    """`date_order` ("dmy", "mdy" or ""): how slash dates are read when the file does not show it.
    `publish`: the records written are published (ValidationError unless `user` may publish there)."""
    if publish and (refusal := import_publish_refusal(user=user, collection=collection)):
        raise ValidationError({"publish": refusal})
    path = Path(path)
    batch = ImportBatch(
        collection=collection, institution_id=collection.institution_id, created_by=user,
        file_name=path.name[:255], source_path=str(path), dry_run=dry_run, date_order=date_order or "",
        publish=publish,
    )
    batch.full_clean()
    batch.save()
    return batch


def import_batch_enqueue(*, batch: ImportBatch) -> None:
    """Queue the batch for the `bulk` worker once the creating transaction has committed."""
    import_batches_enqueue(batch_ids=[batch.pk])
