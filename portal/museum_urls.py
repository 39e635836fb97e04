from django.urls import path

from . import views

# Stable URIs, specimen, institution, collection and exhibition pages (issue 15). `/`, `/specimen/<uuid>`,
# `.html` and `/institutions/<code>/` keep their global names in collections_portal/urls.py.
urlpatterns = [
    path("specimen/<uuid:uuid>.jsonld", views.specimen_document, {"representation": "jsonld"}, name="specimen_jsonld"),
    path("specimen/<uuid:uuid>.ttl", views.specimen_document, {"representation": "ttl"}, name="specimen_ttl"),
    path("specimen/<uuid:uuid>.rdf", views.specimen_document, {"representation": "rdf"}, name="specimen_rdf"),
    path("specimen/<uuid:uuid>.bib", views.specimen_citation, {"citation_format": "bibtex"}, name="specimen_bibtex"),
    path("specimen/<uuid:uuid>.ris", views.specimen_citation, {"citation_format": "ris"}, name="specimen_ris"),
    path("institutions/<str:code>/<str:collection_code>/", views.collection_detail, name="collection_detail"),
    path("exhibitions/", views.exhibition_list, name="exhibition_list"),
    path("exhibitions/new/", views.exhibition_create_view, name="exhibition_create"),
    path("exhibitions/<slug:slug>/", views.exhibition_detail, name="exhibition_detail"),
    path("exhibitions/<slug:slug>/edit/", views.exhibition_edit_view, name="exhibition_edit"),
    path("exhibitions/<slug:slug>/items/", views.exhibition_item_add_view, name="exhibition_item_add"),
    path("exhibitions/<slug:slug>/items/<int:item_id>/", views.exhibition_item_change_view, name="exhibition_item_change"),
    path("exhibitions/<slug:slug>/items/<int:item_id>/region.jpg", views.exhibition_item_thumbnail, name="exhibition_item_thumbnail"),
    path("exhibitions/<slug:slug>/status/", views.exhibition_status_view, name="exhibition_status"),
]
