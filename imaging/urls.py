from django.urls import path

from . import views

app_name = "imaging"

urlpatterns = [
    path("iiif/3/<uuid:uuid>", views.iiif_base, name="iiif_base"),
    path("iiif/3/<uuid:uuid>/info.json", views.iiif_info, name="iiif_info"),
    path("iiif/3/<uuid:uuid>/<str:region>/<str:size>/<str:rotation>/<str:filename>", views.iiif_image, name="iiif_image"),
    path("iiif/specimen/<uuid:uuid>/manifest.json", views.specimen_manifest, name="specimen_manifest"),
    path("api/v1/specimens/<uuid:uuid>/media/", views.specimen_media, name="specimen_media"),
    path("imaging/batches/", views.batch_list, name="batch_list"),
    path("imaging/unmatched/", views.unmatched_list, name="unmatched_list"),
    path("imaging/unmatched/<uuid:uuid>/link/", views.unmatched_link, name="unmatched_link"),
    path("imaging/batches/<uuid:uuid>/", views.batch_detail, name="batch_detail"),
    path("imaging/batches/<uuid:uuid>/rows/", views.batch_rows, name="batch_rows"),
    path("imaging/batches/<uuid:uuid>/upload/", views.batch_upload, name="batch_upload"),
    path("imaging/batches/<uuid:uuid>/retry/", views.batch_retry, name="batch_retry"),
]
