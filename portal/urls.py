from . import museum_urls, search_urls

app_name = "portal"

# Two route lists so search (issue 14) and the museum pages (issue 15) grow without stepping on each other.
urlpatterns = [*search_urls.urlpatterns, *museum_urls.urlpatterns]
