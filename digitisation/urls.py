from django.urls import path

from . import views

app_name = "digitisation"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/<slug:chart>.csv", views.dashboard_csv, name="dashboard_csv"),
    path("projects/", views.project_list, name="project_list"),
    path("batches/", views.batch_list, name="batch_list"),
    path("batches/options/", views.batch_options, name="batch_options"),
    path("batches/assign/", views.batch_assign, name="batch_assign"),
    path("batches/<uuid:uuid>/", views.batch_detail, name="batch_detail"),
    path("batches/<uuid:uuid>/log/", views.batch_log_work, name="batch_log_work"),
]
