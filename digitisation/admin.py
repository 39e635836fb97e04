from django.contrib import admin

from .models import Batch, BatchSpecimen


class BatchSpecimenInline(admin.TabularInline):
    model = BatchSpecimen
    extra = 0
    raw_id_fields = ("specimen", "added_by")


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "institution", "created_at")
    list_filter = ("kind", "institution")
    search_fields = ("name",)
    inlines = [BatchSpecimenInline]


@admin.register(BatchSpecimen)
class BatchSpecimenAdmin(admin.ModelAdmin):
    list_display = ("batch", "specimen", "added_at")
    raw_id_fields = ("batch", "specimen", "added_by")
    list_select_related = ("batch", "specimen")
