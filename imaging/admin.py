from django.contrib import admin

from .models import Derivative, ImageAsset, ImagingBatch


@admin.register(ImagingBatch)
class ImagingBatchAdmin(admin.ModelAdmin):
    list_display = ("name", "institution", "created_by", "created_at")
    list_filter = ("institution",)
    search_fields = ("name",)
    readonly_fields = ("uuid", "created_at", "updated_at")


class DerivativeInline(admin.TabularInline):
    model = Derivative
    extra = 0
    readonly_fields = ("spec", "key", "bytes", "width", "height", "created_at")
    can_delete = False


@admin.register(ImageAsset)
class ImageAssetAdmin(admin.ModelAdmin):
    """A window only: pipeline state changes go through imaging.services."""

    list_display = ("original_name", "institution", "batch", "status", "error_code", "specimen", "order", "attempts")
    list_filter = ("status", "error_code", "institution")
    search_fields = ("original_name", "sha256", "specimen__catalog_number")
    raw_id_fields = ("batch", "specimen", "duplicate_of")
    readonly_fields = [f.name for f in ImageAsset._meta.fields if f.name not in ("kind", "licence", "rights_holder")]
    inlines = [DerivativeInline]


@admin.register(Derivative)
class DerivativeAdmin(admin.ModelAdmin):
    list_display = ("asset", "spec", "key", "bytes")
    list_filter = ("spec",)
    raw_id_fields = ("asset",)
