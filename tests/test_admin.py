import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"institutions", "specimens", "digitisation", "imaging", "publishing"}


def _our_models():
    return [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]


def test_every_model_of_our_apps_is_in_the_admin():
    from django.apps import apps

    registered = set(admin.site._registry)
    missing = [
        m._meta.label for app in OUR_APPS if app in {c.label for c in apps.get_app_configs()}
        for m in apps.get_app_config(app).get_models()
        if m not in registered and not m._meta.label.endswith("Event")  # audit rows: pghistory's own admin
    ]
    assert missing == []


@pytest.mark.parametrize("page", ["changelist", "add"])
def test_each_admin_page_renders_for_an_administrator(admin_client, page):
    SpecimenFactory()  # something to list
    for model in _our_models():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}")
        response = admin_client.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
