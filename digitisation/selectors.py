from django.db.models import Count, QuerySet

from institutions.selectors import scope_filter

from .models import Batch


def batch_list_for(*, user, action: str = "view") -> QuerySet[Batch]:
    return (scope_filter(Batch.objects.select_related("institution"), user=user, action=action)
            .annotate(specimen_count=Count("members")).order_by("-created_at"))
