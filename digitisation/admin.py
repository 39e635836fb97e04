from django.contrib import admin

from .models import Batch, BatchSpecimen, DailyStat, DigitisationEvent, MidsSnapshot, Project, RecordSnapshot, Watermark, WeeklyStat


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


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "institution", "collection", "start_date", "end_date", "target_count", "target_mids_level")
    list_filter = ("institution",)
    raw_id_fields = ("collection", "created_by")


@admin.register(DigitisationEvent)
class DigitisationEventAdmin(admin.ModelAdmin):
    """Events are facts: written by the rollup job and the quick form, corrected by a new event."""

    list_display = ("occurred_at", "institution", "stage", "count", "source", "user", "batch")
    list_filter = ("source", "stage")
    raw_id_fields = ("institution", "collection", "project", "batch", "specimen", "user")
    list_select_related = ("institution", "user", "batch")
    show_full_result_count = False  # ten million rows: no COUNT(*) per page

    def has_change_permission(self, request, obj=None):
        return False


class RollupAdmin(admin.ModelAdmin):
    """Rollups are rebuilt from the events (daily_stats_rebuild, snapshots_take), never edited."""

    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DailyStat)
class DailyStatAdmin(RollupAdmin):
    list_display = ("date", "institution", "collection", "project", "stage", "user", "n")
    raw_id_fields = ("institution", "collection", "project", "user")


@admin.register(WeeklyStat)
class WeeklyStatAdmin(RollupAdmin):
    list_display = ("week", "institution", "collection", "project", "stage", "n")
    raw_id_fields = ("institution", "collection", "project")


@admin.register(MidsSnapshot)
class MidsSnapshotAdmin(RollupAdmin):
    list_display = ("date", "institution", "collection", "level", "n")
    raw_id_fields = ("institution", "collection")


@admin.register(RecordSnapshot)
class RecordSnapshotAdmin(RollupAdmin):
    list_display = ("date", "institution", "collection", "measure", "key", "n")
    raw_id_fields = ("institution", "collection")


@admin.register(Watermark)
class WatermarkAdmin(RollupAdmin):
    list_display = ("name", "position", "pending_position", "pending_xmax", "updated_at")
