from django.urls import path

from . import api, views_search

# public search, map and the public search API
urlpatterns: list = [
    path("search/", views_search.search, name="search"),
    path("search/map.json", views_search.search_map_data, name="search_map_data"),
    path("api/v1/public/specimens/", api.PublicSpecimenSearchApi.as_view(), name="public_specimen_search"),
]
