from django.contrib import admin

from .models import Collection, CollectionMetric, Institution, Membership


class CollectionInline(admin.TabularInline):
    model = Collection
    extra = 0
    fields = ("code", "name", "discipline", "mids_discipline")
    show_change_link = True


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "country", "ror_id")
    search_fields = ("code", "name", "city")
    inlines = [CollectionInline]


class CollectionMetricInline(admin.TabularInline):
    model = CollectionMetric
    extra = 0


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "name", "discipline", "mids_discipline")
    list_filter = ("mids_discipline", "institution")
    search_fields = ("code", "name", "institution__code")
    list_select_related = ("institution",)
    inlines = [CollectionMetricInline]


@admin.register(CollectionMetric)
class CollectionMetricAdmin(admin.ModelAdmin):
    list_display = ("collection", "measurement_type", "derivation", "value", "measured_on", "source")
    list_filter = ("measurement_type", "derivation")
    list_select_related = ("collection__institution",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "institution")
    list_filter = ("role", "institution")
    autocomplete_fields = ("user", "institution")
    list_select_related = ("user", "institution")
