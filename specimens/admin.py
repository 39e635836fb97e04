from django.contrib import admin

from .models import (
    Agent, FacetCount, FacetPairCount, GridCount, Identification, ImportBatch, ImportRowError, ImportUndoKept,
    MidsAssessment, Preparation, Specimen, SpecimenAgent, SpecimenSearch, Taxon,
)


class IdentificationInline(admin.TabularInline):
    model = Identification
    extra = 0
    raw_id_fields = ("taxon",)


class PreparationInline(admin.TabularInline):
    model = Preparation
    extra = 0
    exclude = ("institution",)


@admin.register(Specimen)
class SpecimenAdmin(admin.ModelAdmin):
    """An operator's window. Curators edit in /curate/, where the rules and history labels apply."""

    list_display = ("catalog_number", "scientific_name", "collection", "status", "mids_level", "updated_at")
    list_filter = ("status", "basis_of_record", "institution")
    search_fields = ("=catalog_number", "scientific_name", "=occurrence_id")
    list_select_related = ("collection__institution",)
    raw_id_fields = ("taxon", "created_by")
    readonly_fields = ("uuid", "occurrence_id", "version", "catalog_number_normalised", "event_date_start",
                       "event_date_end", "institution", "created_at", "updated_at")
    inlines = [IdentificationInline, PreparationInline]
    show_full_result_count = False  # no COUNT(*) over millions of rows

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("collection__institution")


@admin.register(Taxon)
class TaxonAdmin(admin.ModelAdmin):
    list_display = ("name", "authorship", "rank", "family", "depth", "locality_sensitivity", "effective_sensitivity",
                    "is_provisional")
    list_filter = ("rank", "locality_sensitivity", "is_provisional")
    search_fields = ("name",)
    raw_id_fields = ("parent", "accepted")
    readonly_fields = ("path", "depth", "effective_sensitivity", "is_provisional")  # accepted through taxon_accept
    show_full_result_count = False
    actions = ["accept_names"]

    @admin.action(description="Accept the selected provisional names into the public tree")
    def accept_names(self, request, queryset):
        from .services import taxa_make_public

        count = taxa_make_public(taxa=queryset, user=request.user, action="taxon_accept")
        self.message_user(request, f"{count} name(s) joined the public tree (with their provisional ancestors).")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "locality_sensitivity" in form.changed_data:  # descendants inherit it: the service updates the subtree
            from .services import taxon_sensitivity_set

            taxon_sensitivity_set(taxon=obj, level=obj.locality_sensitivity, user=request.user)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "agent_type", "orcid", "wikidata_qid")
    search_fields = ("name", "orcid")
    exclude = ("name_key",)


@admin.register(SpecimenAgent)
class SpecimenAgentAdmin(admin.ModelAdmin):
    list_display = ("specimen", "agent", "role", "order")
    raw_id_fields = ("specimen", "agent")


@admin.register(Identification)
class IdentificationAdmin(admin.ModelAdmin):
    list_display = ("specimen", "verbatim_identification", "is_current", "created_at")
    raw_id_fields = ("specimen", "taxon")
    list_select_related = ("specimen",)


@admin.register(MidsAssessment)
class MidsAssessmentAdmin(admin.ModelAdmin):
    """Read-only: outcomes are written by specimens.mids, shared by every record that has them."""

    list_display = ("id", "mapping_set", "level", "blocking", "created_at")
    list_filter = ("mapping_set", "level")

    readonly_fields = ("mapping_set", "mapping_version", "states_key", "level", "elements", "blocking", "failing")

    def has_delete_permission(self, request, obj=None):
        return False  # records point at it without a foreign-key constraint


@admin.register(Preparation)
class PreparationAdmin(admin.ModelAdmin):
    list_display = ("specimen", "preparation_type", "count", "barcode")
    raw_id_fields = ("specimen",)
    list_select_related = ("specimen",)


class ImportRowErrorInline(admin.TabularInline):
    model = ImportRowError
    extra = 0
    can_delete = False
    readonly_fields = ("line", "column", "value", "message")
    max_num = 0  # read-only: rows are written by the importer only


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ("file_name", "kind", "collection", "status", "dry_run", "inserted_count", "updated_count", "rejected_count", "created_at")
    list_filter = ("kind", "status", "dry_run", "undo_status", "institution")
    list_select_related = ("collection__institution",)
    readonly_fields = [f.name for f in ImportBatch._meta.fields]
    inlines = [ImportRowErrorInline]


@admin.register(ImportRowError)
class ImportRowErrorAdmin(admin.ModelAdmin):
    list_display = ("batch", "line", "column", "message")
    raw_id_fields = ("batch",)
    list_select_related = ("batch",)


@admin.register(ImportUndoKept)
class ImportUndoKeptAdmin(admin.ModelAdmin):
    """Written by the undo of an import (imports.undo)."""

    list_display = ("batch", "catalog_number", "kind", "reason")
    list_filter = ("reason", "kind")
    raw_id_fields = ("batch",)
    list_select_related = ("batch",)
    search_fields = ("catalog_number",)


class SearchReadOnlyAdmin(admin.ModelAdmin):
    """A window only: specimens.search writes these rows (`manage.py search_rebuild` redoes them)."""

    def has_add_permission(self, request):
        return request.method in ("GET", "HEAD")  # the form may be looked at, never saved

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SpecimenSearch)
class SpecimenSearchAdmin(SearchReadOnlyAdmin):
    list_display = ("specimen_id", "collection_code", "catalog_number", "scientific_name", "country", "mids_level")
    search_fields = ("=catalog_number_normalised",)
    show_full_result_count = False  # no COUNT(*) over millions
    exclude = ("document",)


@admin.register(FacetCount)
class FacetCountAdmin(SearchReadOnlyAdmin):
    list_display = ("facet", "value", "n")
    list_filter = ("facet",)


@admin.register(FacetPairCount)
class FacetPairCountAdmin(SearchReadOnlyAdmin):
    list_display = ("dimension", "dimension_value", "facet", "value", "n")
    list_filter = ("dimension", "facet")
    show_full_result_count = False  # a row per pair of values: millions at 10 M specimens


@admin.register(GridCount)
class GridCountAdmin(SearchReadOnlyAdmin):
    list_display = ("level", "west", "south", "size", "n")
    list_filter = ("level",)
