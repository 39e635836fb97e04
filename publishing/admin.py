from django.contrib import admin

from .models import Dataset, DatasetRecord, DatasetVersion, DownloadRequest


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("shortname", "title", "institution", "licence", "update_frequency", "auto_publish", "next_auto_publish_at")
    list_filter = ("auto_publish", "update_frequency", "institution")
    search_fields = ("shortname", "title")
    raw_id_fields = ("creators", "contacts", "created_by")
    filter_horizontal = ("collections",)


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    # Versions are written by the publishing task; the admin shows them and their lease.
    list_display = ("dataset", "status", "major", "minor", "records_total", "published_at", "attempts", "lease_expires_at")
    list_filter = ("status",)
    search_fields = ("dataset__shortname",)
    raw_id_fields = ("dataset", "requested_by")
    readonly_fields = ("archive_key", "eml_key", "metadata_hash", "lease_owner", "lease_expires_at", "queued_at")


@admin.register(DatasetRecord)
class DatasetRecordAdmin(admin.ModelAdmin):
    list_display = ("dataset", "specimen_id", "row_hash")
    raw_id_fields = ("dataset",)
    show_full_result_count = False  # a million rows per dataset: no COUNT(*)


@admin.register(DownloadRequest)
class DownloadRequestAdmin(admin.ModelAdmin):
    list_display = ("uuid", "format", "status", "records_total", "created_at", "expires_at")
    list_filter = ("status", "format")
    raw_id_fields = ("requested_by",)
