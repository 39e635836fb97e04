from django.urls import path

from . import views

app_name = "institutions_api"

urlpatterns = [
    path("institutions/", views.InstitutionListApi.as_view(), name="institution_list"),
    path("institutions/<str:code>/", views.InstitutionDetailApi.as_view(), name="institution_detail"),
    path("collections/", views.CollectionListApi.as_view(), name="collection_list"),
    path("collections/<uuid:uuid>/", views.CollectionDetailApi.as_view(), name="collection_detail"),
]
