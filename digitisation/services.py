"""Every write to digitisation batches."""

import pghistory
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Batch, BatchSpecimen

BATCH_NAME_TAKEN = "{institution} already has a batch called '{name}'."
BATCH_OTHER_INSTITUTION = "Only {institution}'s records can go into this batch; {n} selected record(s) belong elsewhere."


@transaction.atomic
def batch_create(*, institution, name: str, kind: str = Batch.Kind.TRAY, user=None) -> Batch:
    name = " ".join((name or "").split())
    if Batch.objects.filter(institution=institution, name=name).exists():
        raise ValidationError({"name": BATCH_NAME_TAKEN.format(institution=institution.code, name=name)})
    batch = Batch(institution=institution, name=name, kind=kind, created_by=user)
    batch.full_clean(validate_constraints=False)
    with pghistory.context(user=getattr(user, "pk", None), action="batch_create"):
        batch.save()
    return batch


@transaction.atomic
def batch_assign_specimens(*, batch: Batch, specimens, user=None) -> int:
    """Add the selected records to the batch, set-based; ones already in it are left alone.

    Every added membership is an audit row (who, when, which batch). Returns how many were added.
    """
    foreign = specimens.exclude(institution_id=batch.institution_id).count()
    if foreign:
        raise ValidationError({"batch": BATCH_OTHER_INSTITUTION.format(institution=batch.institution.code, n=foreign)})
    existing = set(BatchSpecimen.objects.filter(batch=batch).values_list("specimen_id", flat=True))
    new = [BatchSpecimen(batch=batch, specimen_id=pk, added_by=user)
           for pk in specimens.values_list("pk", flat=True) if pk not in existing]
    with pghistory.context(user=getattr(user, "pk", None), action="batch_assign_specimens", source="bulk"):
        BatchSpecimen.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
