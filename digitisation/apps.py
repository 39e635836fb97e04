from django.apps import AppConfig


class DigitisationConfig(AppConfig):
    name = "digitisation"
