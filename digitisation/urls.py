from django.urls import path

from . import views

app_name = "digitisation"

urlpatterns = [
    path("batches/", views.batch_list, name="batch_list"),
    path("batches/options/", views.batch_options, name="batch_options"),
    path("batches/assign/", views.batch_assign, name="batch_assign"),
    path("batches/<uuid:uuid>/", views.batch_detail, name="batch_detail"),
]
