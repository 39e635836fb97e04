from django.contrib import admin

from .models import Exhibition, ExhibitionItem


class ExhibitionItemInline(admin.TabularInline):
    model = ExhibitionItem
    extra = 0
    raw_id_fields = ("specimen", "image")
    readonly_fields = ("thumbnail_key", "thumbnail_width", "thumbnail_height", "thumbnail_status", "thumbnail_error")


@admin.register(Exhibition)
class ExhibitionAdmin(admin.ModelAdmin):
    """A window for operators; curators compose at /exhibitions/ through the services."""

    list_display = ("title", "institution", "status", "published_at")
    list_filter = ("status", "institution")
    search_fields = ("title", "slug")
    readonly_fields = ("text",)  # written sanitised by portal.services only
    inlines = [ExhibitionItemInline]


@admin.register(ExhibitionItem)
class ExhibitionItemAdmin(admin.ModelAdmin):
    list_display = ("exhibition", "position", "specimen", "thumbnail_status")
    raw_id_fields = ("specimen", "image")
    readonly_fields = ("thumbnail_key", "thumbnail_width", "thumbnail_height", "thumbnail_status", "thumbnail_error", "caption")
