from django.urls import path

from . import views

app_name = "imports"

# Under /curate/imports/ (collections_portal/urls.py), beside the rest of the curator's workspace.
urlpatterns = [
    path("", views.import_list_view, name="import_list"),
    path("<uuid:uuid>/", views.import_detail_view, name="import_detail"),
    path("<uuid:uuid>/report.csv", views.import_report_view, name="import_report"),
    path("<uuid:uuid>/undo/", views.import_undo_view, name="import_undo"),
    path("<uuid:uuid>/undo-kept.csv", views.import_undo_kept_view, name="import_undo_kept"),
]
