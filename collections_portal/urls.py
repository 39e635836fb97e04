from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import views as portal_views

api_v1 = [
    path("", include("institutions.api.urls")),
    path("", include("specimens.api.urls")),
]

urlpatterns = [
    # The museum's front door and the stable URI keep their short global names (issue 15 moved them into portal).
    path("", portal_views.home, name="home"),
    path("institutions/<str:code>/", portal_views.institution_detail, name="institution_detail"),
    path("specimen/<uuid:uuid>", portal_views.specimen_stable_uri, name="specimen_uri"),
    path("specimen/<uuid:uuid>.html", portal_views.specimen_public_page, name="specimen_page"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("curate/imports/", include("imports.urls")),
    path("curate/", include("specimens.urls")),
    path("publishing/", include("publishing.urls")),
    path("", include("portal.urls")),
    path("manage/", include("digitisation.urls")),
    path("", include("imaging.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api_docs"),
]
