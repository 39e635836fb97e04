from django.urls import path

from . import views

app_name = "specimens"

urlpatterns = [
    path("", views.specimen_list, name="curate_list"),
    path("specimens/new/", views.specimen_create_view, name="curate_create"),
    path("specimens/<uuid:uuid>/", views.specimen_detail, name="curate_detail"),
    path("specimens/<uuid:uuid>/edit/", views.specimen_edit, name="curate_edit"),
    path("specimens/<uuid:uuid>/publish/", views.specimen_publish_view, name="curate_publish"),
    path("specimens/<uuid:uuid>/withdraw/", views.specimen_withdraw_view, name="curate_withdraw"),
    path("specimens/<uuid:uuid>/delete/", views.specimen_delete_view, name="curate_delete"),
]
