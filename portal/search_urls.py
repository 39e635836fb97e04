urlpatterns: list = []  # public search, map and the public search API
