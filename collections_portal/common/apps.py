from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "collections_portal.common"
    label = "common"
