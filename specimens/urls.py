from django.urls import path

from . import views

app_name = "specimens"

urlpatterns = [
    path("", views.specimen_list, name="curate_list"),
    path("bulk/", views.specimen_bulk_view, name="curate_bulk"),
    path("taxa/autocomplete/", views.taxon_autocomplete, name="taxon_autocomplete"),
    path("taxa/<uuid:uuid>/accept/", views.taxon_accept_view, name="taxon_accept"),
    path("agents/autocomplete/", views.agent_autocomplete, name="agent_autocomplete"),
    path("specimens/new/", views.specimen_create_view, name="curate_create"),
    path("specimens/<uuid:uuid>/", views.specimen_detail, name="curate_detail"),
    path("specimens/<uuid:uuid>/edit/", views.specimen_edit, name="curate_edit"),
    path("specimens/<uuid:uuid>/history/", views.specimen_history_view, name="curate_history"),
    path("specimens/<uuid:uuid>/revert/", views.specimen_revert_view, name="curate_revert"),
    path("specimens/<uuid:uuid>/submit/", views.specimen_submit_view, name="curate_submit"),
    path("specimens/<uuid:uuid>/publish/", views.specimen_publish_view, name="curate_publish"),
    path("specimens/<uuid:uuid>/withdraw/", views.specimen_withdraw_view, name="curate_withdraw"),
    path("specimens/<uuid:uuid>/delete/", views.specimen_delete_view, name="curate_delete"),
    path("specimens/<uuid:uuid>/preparations/", views.preparation_add_view, name="curate_preparation_add"),
    path("specimens/<uuid:uuid>/identifications/", views.identification_add_view, name="curate_identification_add"),
]
