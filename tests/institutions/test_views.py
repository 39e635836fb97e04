import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


# The home and institution pages moved to portal (issue 15): tests/portal/test_pages.py.


def test_login_page_and_a_wrong_password(public_client, django_user_model):
    django_user_model.objects.create_user(username="nhm.curator", password="a-long-passphrase")

    page = public_client.get(reverse("login"))
    wrong = public_client.post(reverse("login"), {"username": "nhm.curator", "password": "nope"})
    right = public_client.post(reverse("login"), {"username": "nhm.curator", "password": "a-long-passphrase"})

    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    assert wrong.status_code == 200 and 'role="alert"' in wrong.content.decode()
    # The landing sends managers to their dashboard and everyone else, this curator too, to the work list.
    assert right.status_code == 302 and right["Location"] == reverse("digitisation:landing")
    assert public_client.get(right["Location"])["Location"] == reverse("specimens:curate_list")
