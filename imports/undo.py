"""Undo a finished import (DESIGN §2.2: "undo by batch id"), in one transaction.

- Records the import created that nobody has touched since (still version 1, a draft never
  published, no audit event but their insert, nothing pointing at them: no images, preparations
  or digitisation batch) are deleted with their identifications and collector links, set-based.
  Like their insert, their deletion is recorded set-based: deleted under the importer's
  BULK_IMPORT_SETTING switch (no trigger call per row), the DELETE … RETURNING feeding one
  INSERT … SELECT of their "delete" events; the batch records who, when and how many.
- Records the import changed are put back to their state before it, read from the audit trail
  (the event just before the import's own), with the identifications and collector links the
  import replaced, unless they were changed again since. The restore is itself audited
  (action "import_undo").
- Every other record the import wrote is left as it is and listed with the reason (ImportUndoKept).

Big batches are undone by the bulk worker (imports.tasks.import_batch_undo_task); the batch's
undo_status column says where it is, so a redelivered task finds the work done.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from functools import partial

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models.fields.related import ForeignObjectRel
from django.utils import timezone
from django.utils.formats import date_format
from psycopg import sql as psql

from institutions.selectors import ALL, institution_scope
from specimens.history import specimen_events_insert
from specimens.models import BULK_IMPORT_SETTING, ImportBatch, ImportUndoKept, Specimen
from specimens.search import search_import_undo_refresh

from .batches import collection_write_lock, import_batch_set, spreadsheet_safe
from .sql import sql_execute, sql_fetch

logger = logging.getLogger(__name__)

UNDO_NOT_ALLOWED = "Only a curator or collection manager of {institution} can undo its imports."
UNDO_CHECKLIST = (
    "A checklist import cannot be undone: its names joined the taxonomic tree that every institution shares, "
    "and records may already use them. Correct or remove names in the tree itself."
)
UNDO_DRY_RUN = "A dry run changed nothing, so there is nothing to undo."
UNDO_NOT_FINISHED = "Only a finished import can be undone; this one is {status}."
UNDO_ALREADY_DONE = "This import was already undone on {when} by {who}."
UNDO_IN_PROGRESS = "This import is already being undone."
UNDO_RACE = "Records of this import changed while it was being undone, so nothing was undone. Try again."
UNDO_FAILED = "The undo stopped unexpectedly, so nothing was undone: {error}"

# Batches that wrote more rows than this are undone by the bulk worker, not in the request.
UNDO_INLINE_MAX_ROWS = 2_000

# Never copied back from the audit trail: who the record is and who owns it, and the workflow
# state (the import never changes it, and a restore must never un-publish a record).
RESTORE_SKIPPED_COLUMNS = {
    "id", "uuid", "created_at", "created_by_id", "occurrence_id", "collection_id", "institution_id",
    "version", "updated_at", "status", "published_at", "withdrawn_at", "withdrawn_reason", "media", "media_count",
}
# Reverse relations that keep an imported record: (related_name → reason). Identifications and
# collector links are the import's own rows, deleted with the record.
OWN_CHILDREN = {"identifications", "agent_links"}
RELATION_REASONS = {
    "image_assets": ImportUndoKept.Reason.IMAGES,
    "batch_memberships": ImportUndoKept.Reason.DIGITISATION_BATCH,
    "preparation_items": ImportUndoKept.Reason.PREPARATIONS,
}


@dataclass(frozen=True)
class ImportUndoPlan:
    """What an undo does (before) or did (after): records deleted, put back, and kept by reason."""

    delete: int = 0
    restore: int = 0
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def kept_total(self) -> int:
        return sum(self.kept.values())

    def kept_labelled(self) -> list[tuple[str, int]]:
        labels = dict(ImportUndoKept.Reason.choices)
        return [(labels.get(reason, reason), count) for reason, count in sorted(self.kept.items(), key=lambda kv: -kv[1])]


# --- who and when -------------------------------------------------------------------------------


def import_batch_undo_permitted(*, batch: ImportBatch, user) -> bool:
    """The right to import into the batch's institution plus the right to delete its records:
    curators, collection managers and administrators (a digitiser may import, not undo)."""
    for action in ("create", "delete"):
        scope = institution_scope(user=user, action=action)
        if scope != ALL and batch.institution_id not in scope:
            return False
    return True


def import_batch_undo_check(*, batch: ImportBatch, user) -> None:
    """Raise PermissionDenied or ValidationError (a plain sentence) if `user` may not undo `batch` now."""
    if batch.kind == ImportBatch.Kind.TAXA:
        raise ValidationError(UNDO_CHECKLIST)
    if not import_batch_undo_permitted(batch=batch, user=user):
        raise PermissionDenied(UNDO_NOT_ALLOWED.format(institution=batch.institution.code))
    if batch.dry_run:
        raise ValidationError(UNDO_DRY_RUN)
    if batch.status != ImportBatch.Status.DONE:
        raise ValidationError(UNDO_NOT_FINISHED.format(status=batch.get_status_display().lower()))
    if batch.undo_status == ImportBatch.UndoStatus.DONE:
        who = batch.undone_by.username if batch.undone_by else "someone"
        raise ValidationError(UNDO_ALREADY_DONE.format(when=date_format(timezone.localtime(batch.undone_at), "j M Y H:i"), who=who))
    if batch.undo_status == ImportBatch.UndoStatus.QUEUED:
        raise ValidationError(UNDO_IN_PROGRESS)


def import_batch_undo_offered(*, batch: ImportBatch, user) -> bool:
    try:
        import_batch_undo_check(batch=batch, user=user)
    except (PermissionDenied, ValidationError):
        return False
    return True


# --- entry points -------------------------------------------------------------------------------


def import_batch_undo_preview(*, batch: ImportBatch, user) -> ImportUndoPlan:
    """What an undo would do now, for the confirmation page; changes nothing."""
    import_batch_undo_check(batch=batch, user=user)
    with transaction.atomic():
        plan = _Undo(batch).plan()
        transaction.set_rollback(True)  # the work tables go with it
    return plan


def import_batch_undo(*, batch: ImportBatch, user) -> ImportBatch:
    """Undo `batch` for `user`: at once when it is small, else queued for the bulk worker.

    Raises PermissionDenied or ValidationError (already undone, a dry run, not finished).
    """
    from imports.tasks import import_batch_undo_task  # the tasks module imports this one lazily

    try:
        with transaction.atomic():
            batch = _locked(batch.pk)
            import_batch_undo_check(batch=batch, user=user)
            if batch.inserted_count + batch.updated_count <= UNDO_INLINE_MAX_ROWS:
                _Undo(batch).apply(user=user)
            else:
                import_batch_set(batch, undo_status=ImportBatch.UndoStatus.QUEUED, undone_by=user,
                     undo_requested_at=timezone.now(), undo_error="")
                transaction.on_commit(partial(import_batch_undo_task.delay, batch.pk))
    except DatabaseError as exc:  # e.g. a restored catalogue number taken since: all rolled back
        logger.exception("undo of import batch %s failed", batch.pk)
        raise ValidationError(UNDO_FAILED.format(error=exc)) from exc
    return batch


def import_batch_undo_run(*, batch_id: int) -> ImportBatch | None:
    """The worker's side: apply a queued undo once. A redelivered task finds it done and returns."""
    with transaction.atomic():
        batch = _locked(batch_id)
        if batch is None or batch.undo_status != ImportBatch.UndoStatus.QUEUED:
            return batch
        user = batch.undone_by
        try:
            with transaction.atomic():
                if user is None or not import_batch_undo_permitted(batch=batch, user=user):
                    raise PermissionDenied(UNDO_NOT_ALLOWED.format(institution=batch.institution.code))
                if batch.kind == ImportBatch.Kind.TAXA:
                    raise ValidationError(UNDO_CHECKLIST)
                _Undo(batch).apply(user=user)
        except (PermissionDenied, ValidationError) as exc:
            import_batch_set(batch, undo_status=ImportBatch.UndoStatus.FAILED,
                 undo_error=" ".join(getattr(exc, "messages", None) or [str(exc)]))
        except Exception as exc:  # recorded for the curator, who may try again; the log keeps the traceback
            logger.exception("undo of import batch %s failed", batch.pk)
            import_batch_set(batch, undo_status=ImportBatch.UndoStatus.FAILED, undo_error=UNDO_FAILED.format(error=exc))
    return batch


def import_batch_undo_kept_write(*, batch: ImportBatch, out: io.TextIOBase) -> int:
    """The records an undo left as they were, one CSV line each, with the reason."""
    writer = csv.writer(out)
    writer.writerow(["catalogNumber", "record", "import", "reason"])
    kinds, reasons = dict(ImportUndoKept.Kind.choices), dict(ImportUndoKept.Reason.choices)
    rows = ImportUndoKept.objects.filter(batch=batch).order_by("catalog_number", "id").values_list(
        "catalog_number", "specimen_uuid", "kind", "reason"
    )
    count = 0
    for catalog_number, specimen_uuid, kind, reason in rows.iterator(chunk_size=5000):
        writer.writerow([spreadsheet_safe(catalog_number), specimen_uuid, kinds[kind], reasons[reason]])
        count += 1
    return count


# --- the work -----------------------------------------------------------------------------------


def _locked(batch_id: int) -> ImportBatch | None:
    return (ImportBatch.objects.select_for_update(of=("self",)).select_related("institution", "undone_by")
            .filter(pk=batch_id).first())


def _relation_checks() -> list[tuple[str, psql.Composable]]:
    """(reason, SQL condition on s) per table that points at specimens, other than the record's own children."""
    from pghistory.models import Event

    checks = []
    for rel in Specimen._meta.related_objects:
        if not isinstance(rel, ForeignObjectRel) or rel.many_to_many or issubclass(rel.related_model, Event):
            continue
        if rel.related_name in OWN_CHILDREN:
            continue
        table, column = rel.related_model._meta.db_table, rel.field.column
        reason = RELATION_REASONS.get(rel.related_name, ImportUndoKept.Reason.LINKED)
        checks.append((reason.value, psql.SQL("EXISTS (SELECT 1 FROM {} x WHERE {} = s.id)").format(
            psql.Identifier(table), psql.Identifier("x", column))))
    order = [r.value for r in (*RELATION_REASONS.values(), ImportUndoKept.Reason.LINKED)]
    return sorted(checks, key=lambda check: order.index(check[0]))


def _restored_columns() -> list[str]:
    from django.apps import apps

    event_columns = {f.column for f in apps.get_model("specimens", "SpecimenEvent")._meta.concrete_fields}
    return [f.column for f in Specimen._meta.concrete_fields
            if f.column in event_columns and f.column not in RESTORE_SKIPPED_COLUMNS]


class _Undo:
    """One undo: two work tables classify the rows (plan), then a fixed set of statements acts on
    them (apply). The number of statements never depends on the number of rows."""

    def __init__(self, batch: ImportBatch):
        self.batch = batch
        self.inserted = f"import_undo_inserted_{batch.pk}"  # the work tables' names
        self.updated = f"import_undo_updated_{batch.pk}"
        self.inserted_table, self.updated_table = psql.Identifier(self.inserted), psql.Identifier(self.updated)
        self.contexts: list[str] = []

    sql = staticmethod(sql_execute)
    fetch = staticmethod(sql_fetch)

    # -- plan
    def plan(self) -> ImportUndoPlan:
        self.sql("SET LOCAL work_mem = '256MB'")
        self.sql("SET LOCAL jit = off")  # wide one-off statements: compiling costs more than it saves
        # The import's audit context(s): its updates, and the identifications and links it replaced.
        self.contexts = [str(c) for (c,) in self.fetch(
            "SELECT id FROM pghistory_context WHERE metadata ? 'import_batch' AND metadata ->> 'import_batch' = %s",
            [str(self.batch.uuid)],
        )]
        self._classify_updated()
        self._classify_inserted()
        counts = dict(self.fetch(
            psql.SQL("SELECT coalesce(reason, %s), count(*) FROM {} GROUP BY 1 "
                     "UNION ALL SELECT coalesce(reason, %s), count(*) FROM {} GROUP BY 1").format(
                self.inserted_table, self.updated_table),
            ["-delete", "-restore"],
        ))
        return ImportUndoPlan(delete=counts.pop("-delete", 0), restore=counts.pop("-restore", 0), kept=counts)

    def _classify_updated(self) -> None:
        """Records the import updated: put back from the event before its own, unless changed since."""
        self.sql(psql.SQL("DROP TABLE IF EXISTS {}").format(self.updated_table))
        self.sql(psql.SQL(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS "
            "WITH b AS (SELECT pgh_obj_id AS id, max(pgh_id) FILTER (WHERE pgh_label = 'update') AS import_event, "
            "  max(pgh_id) FILTER (WHERE pgh_label = 'before_import') AS snapshot_event "
            "  FROM specimens_specimenevent WHERE pgh_context_id = ANY(%s::uuid[]) GROUP BY pgh_obj_id), "
            "r AS (SELECT b.id, b.import_event, ie.version AS import_version, ie.uuid, "
            "  coalesce(s.catalog_number, ie.catalog_number) AS catalog_number, s.id IS NOT NULL AS present, s.version, "
            "  coalesce(b.snapshot_event, (SELECT max(p.pgh_id) FROM specimens_specimenevent p "
            "    WHERE p.pgh_obj_id = b.id AND p.pgh_id < b.import_event)) AS before_event, "
            "  (SELECT max(l.pgh_id) FROM specimens_specimenevent l WHERE l.pgh_obj_id = b.id) AS latest_event "
            "  FROM b JOIN specimens_specimenevent ie ON ie.pgh_id = b.import_event "
            "  LEFT JOIN specimens_specimen s ON s.id = b.id) "
            "SELECT r.*, CASE WHEN NOT r.present THEN %s "
            "  WHEN r.latest_event <> r.import_event OR r.version <> r.import_version THEN %s "
            "  WHEN r.before_event IS NULL THEN %s END AS reason FROM r").format(self.updated_table),
            [self.contexts, ImportUndoKept.Reason.DELETED.value, ImportUndoKept.Reason.CHANGED_AFTER.value,
             ImportUndoKept.Reason.NO_HISTORY.value],
        )
        self.sql(psql.SQL("ANALYZE {}").format(self.updated_table))

    def _classify_inserted(self) -> None:
        """Records the import inserted: still stamped with it, or stamped by a later import since
        (their audit events carry this batch). Deleted unless something keeps them."""
        b = int(self.batch.pk)
        reasons = [
            ("published", psql.SQL("s.status IN ('published', 'withdrawn') OR s.published_at IS NOT NULL")),
            ("reimported", psql.SQL("s.import_batch_id IS DISTINCT FROM {}").format(psql.Literal(b))),
            # Our own images keep a record; media links its import brought (external_media) do not.
            ("images", psql.SQL("s.media <> '[]'::jsonb")),
            *_relation_checks(),
            # Every inserted record has its insert event (version 1); any other event is a change.
            ("edited", psql.SQL(
                "s.version <> 1 OR s.status <> 'draft' OR EXISTS "
                "(SELECT 1 FROM specimens_specimenevent e WHERE e.pgh_obj_id = s.id AND e.pgh_label <> 'insert')")),
        ]
        case = psql.SQL(" ").join(psql.SQL("WHEN {} THEN {}").format(condition, psql.Literal(reason))
                                  for reason, condition in reasons)
        self.sql(psql.SQL("DROP TABLE IF EXISTS {}").format(self.inserted_table))
        self.sql(psql.SQL(
            "CREATE TEMP TABLE {inserted} ON COMMIT DROP AS "
            "SELECT s.id, s.uuid, s.catalog_number, CASE {case} END AS reason FROM specimens_specimen s "
            "WHERE s.id IN (SELECT x.id FROM specimens_specimen x WHERE x.import_batch_id = %s AND x.institution_id = %s "
            "  UNION SELECT e.pgh_obj_id FROM specimens_specimenevent e WHERE e.import_batch_id = %s) "
            "AND NOT EXISTS (SELECT 1 FROM {updated} u WHERE u.id = s.id)").format(
                inserted=self.inserted_table, case=case, updated=self.updated_table),
            [b, self.batch.institution_id, b],
        )
        self.sql(psql.SQL("ANALYZE {}").format(self.inserted_table))

    # -- apply
    def apply(self, *, user) -> ImportUndoPlan:
        batch = self.batch
        # Imports write a collection's rows under this lock: the plan stays true while we act.
        collection_write_lock(batch.collection_id)
        self.sql("SET CONSTRAINTS ALL IMMEDIATE")  # checked per statement, not queued for COMMIT
        plan = self.plan()
        context = {"user": getattr(user, "pk", None), "source": "import", "action": "import_undo",
                   "undone_import_batch": str(batch.uuid)}
        with pghistory.context(**context):
            self._restore(plan)
            self._delete(plan)
            search_import_undo_refresh(updated_table=self.updated)  # put-back records, as the public sees them
            ImportUndoKept.objects.filter(batch=batch).delete()
            self.sql(psql.SQL(
                "INSERT INTO specimens_importundokept (batch_id, kind, specimen_uuid, catalog_number, reason) "
                "SELECT %s, 'inserted', uuid, catalog_number, reason FROM {} WHERE reason IS NOT NULL "
                "UNION ALL SELECT %s, 'updated', uuid, catalog_number, reason FROM {} WHERE reason IS NOT NULL").format(
                    self.inserted_table, self.updated_table),
                [batch.pk, batch.pk],
            )
            # The one record of the deletion: this update of the batch, audited with the context above.
            import_batch_set(batch, undo_status=ImportBatch.UndoStatus.DONE, undone_by=user, undone_at=timezone.now(),
                 undo_requested_at=batch.undo_requested_at or timezone.now(), undo_error="",
                 undo_deleted_count=plan.delete, undo_restored_count=plan.restore, undo_kept_count=plan.kept_total)
        self.sql(psql.SQL("DROP TABLE IF EXISTS {}, {}").format(self.inserted_table, self.updated_table))
        return plan

    def _restore(self, plan: ImportUndoPlan) -> None:
        """Put the updated records back, their identifications and collector links first."""
        if not plan.restore:
            return
        restored = psql.SQL("(SELECT id FROM {} WHERE reason IS NULL)").format(self.updated_table)
        ctx = [self.contexts]
        # Identifications: the import's new current one goes, the one it retired is current again.
        self.sql(psql.SQL(
            "DELETE FROM specimens_identification x USING specimens_identificationevent e "
            "WHERE e.pgh_context_id = ANY(%s::uuid[]) AND e.pgh_label = 'insert' AND x.id = e.pgh_obj_id "
            "AND e.specimen_id IN {}").format(restored), ctx,
        )
        self.sql(psql.SQL(
            "UPDATE specimens_identification x SET is_current = true, updated_at = now() FROM specimens_identificationevent e "
            "WHERE e.pgh_context_id = ANY(%s::uuid[]) AND e.pgh_label = 'update' AND NOT e.is_current "
            "AND x.id = e.pgh_obj_id AND NOT x.is_current AND e.specimen_id IN {}").format(restored), ctx,
        )
        # Collector links: the import's go, the ones it removed come back (same ids).
        self.sql(psql.SQL(
            "DELETE FROM specimens_specimenagent x USING specimens_specimenagentevent e "
            "WHERE e.pgh_context_id = ANY(%s::uuid[]) AND e.pgh_label = 'insert' AND x.id = e.pgh_obj_id "
            "AND e.specimen_id IN {}").format(restored), ctx,
        )
        self.sql(psql.SQL(
            'INSERT INTO specimens_specimenagent (id, specimen_id, agent_id, role, "order") '
            'SELECT e.id, e.specimen_id, e.agent_id, e.role, e."order" FROM specimens_specimenagentevent e '
            "JOIN specimens_agent a ON a.id = e.agent_id "
            "WHERE e.pgh_context_id = ANY(%s::uuid[]) AND e.pgh_label = 'delete' AND e.specimen_id IN {} "
            "ON CONFLICT DO NOTHING").format(restored), ctx,
        )
        sets = psql.SQL(", ").join(psql.SQL("{} = {}").format(psql.Identifier(c), psql.Identifier("p", c))
                                   for c in _restored_columns())
        restored_rows = self.sql(psql.SQL(
            "UPDATE specimens_specimen t SET {sets}, version = t.version + 1, updated_at = now() "
            "FROM {updated} u JOIN specimens_specimenevent p ON p.pgh_id = u.before_event "
            "WHERE t.id = u.id AND u.reason IS NULL AND t.version = u.version").format(
                sets=sets, updated=self.updated_table)
        )
        if restored_rows != plan.restore:
            raise ValidationError(UNDO_RACE)

    def _delete(self, plan: ImportUndoPlan) -> None:
        """Delete the untouched inserted records and their own rows, without a row event each."""
        if not plan.delete:
            return
        doomed = psql.SQL("(SELECT id FROM {} WHERE reason IS NULL)").format(self.inserted_table)
        self.sql("SELECT set_config(%s, 'on', true)", [BULK_IMPORT_SETTING])
        self.sql(psql.SQL("DELETE FROM specimens_specimenagent WHERE specimen_id IN {}").format(doomed))
        self.sql(psql.SQL("DELETE FROM specimens_identification WHERE specimen_id IN {}").format(doomed))
        # The rules again, in the statement itself: a record changed since the plan is not deleted.
        # Each deleted row's last version becomes its delete event, as the trigger would record it.
        deleted = self.sql(psql.SQL("WITH s AS ({delete} RETURNING *) {events}").format(
            delete=psql.SQL(
                "DELETE FROM specimens_specimen s WHERE s.id IN {} AND s.import_batch_id = %s AND s.version = 1 "
                "AND s.status = 'draft' AND s.published_at IS NULL AND s.media = '[]'::jsonb").format(doomed),
            events=specimen_events_insert(label="delete", source=psql.SQL("s"))),
            [self.batch.pk],
        )
        self.sql("SELECT set_config(%s, 'off', true)", [BULK_IMPORT_SETTING])
        if deleted != plan.delete:
            raise ValidationError(UNDO_RACE)

