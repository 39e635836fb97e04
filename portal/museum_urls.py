urlpatterns: list = []  # stable URIs, specimen, institution, collection and exhibition pages
