from django.urls import path

from . import views

app_name = "specimens_api"

urlpatterns = [
    path("specimens/", views.SpecimenListCreateApi.as_view(), name="specimen_list"),
    path("specimens/<uuid:uuid>/", views.SpecimenDetailApi.as_view(), name="specimen_detail"),
    path("specimens/<uuid:uuid>/publish/", views.SpecimenPublishApi.as_view(), name="specimen_publish"),
    path("specimens/<uuid:uuid>/submit/", views.SpecimenSubmitApi.as_view(), name="specimen_submit"),
    path("specimens/<uuid:uuid>/withdraw/", views.SpecimenWithdrawApi.as_view(), name="specimen_withdraw"),
    path("taxa/", views.TaxonListApi.as_view(), name="taxon_list"),
    path("taxa/<uuid:uuid>/", views.TaxonDetailApi.as_view(), name="taxon_detail"),
]
