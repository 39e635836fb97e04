from django.urls import path

from . import views

app_name = "publishing"

urlpatterns = [
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/<slug:shortname>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<slug:shortname>/dwca.zip", views.dataset_dwca, name="dataset_dwca"),
    path("datasets/<slug:shortname>/eml.xml", views.dataset_eml, name="dataset_eml"),
    path("rss.xml", views.rss, name="rss"),
    path("manage/", views.manage_list, name="manage_list"),
    path("manage/new/", views.dataset_edit, name="dataset_create"),
    path("manage/republish/", views.datasets_republish, name="datasets_republish"),
    path("manage/<slug:shortname>/edit/", views.dataset_edit, name="dataset_edit"),
    path("manage/<slug:shortname>/publish/", views.dataset_publish, name="dataset_publish"),
    path("manage/versions/<uuid:uuid>/", views.version_detail, name="version_detail"),
    path("downloads/", views.download_create, name="download_create"),
    path("downloads/<uuid:uuid>/", views.download_detail, name="download_detail"),
    path("downloads/<uuid:uuid>/file", views.download_file, name="download_file"),
]
