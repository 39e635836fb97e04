"""The signed-in user is read with their memberships in one statement (institutions.backends)."""

import pytest
from django.contrib.auth import get_user_model

from institutions.backends import MembershipModelBackend
from institutions.models import Role
from institutions.selectors import institution_scope, memberships_for

from ..factories.institutions import (
    CollectionFactory,
    InstitutionFactory,
    MembershipFactory,
    UserFactory,
)
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/specimens/"


def test_the_user_arrives_with_every_membership_and_needs_no_second_query(django_assert_num_queries):
    museum, herbarium = InstitutionFactory(code="MUS"), InstitutionFactory(code="HERB")
    user = UserFactory(username="two.hats")
    MembershipFactory(user=user, role=Role.CURATOR, institution=museum)
    MembershipFactory(user=user, role=Role.DIGITISER, institution=herbarium)
    MembershipFactory(user=UserFactory(username="someone.else"), role=Role.CURATOR, institution=herbarium)

    with django_assert_num_queries(1):
        loaded = MembershipModelBackend().get_user(user.pk)
        memberships = memberships_for(user=loaded)

    assert loaded == user and loaded.username == "two.hats" and loaded.password == user.password
    assert sorted(memberships) == sorted([(museum.pk, Role.CURATOR), (herbarium.pk, Role.DIGITISER)])
    assert institution_scope(user=loaded, action="publish") == {museum.pk}


def test_a_programme_manager_and_a_user_with_no_memberships():
    manager, nobody = UserFactory(username="pm"), UserFactory(username="nobody")
    MembershipFactory(user=manager, role=Role.PROGRAMME_MANAGER, institution=None)

    assert memberships_for(user=MembershipModelBackend().get_user(manager.pk)) == [(None, Role.PROGRAMME_MANAGER)]
    assert institution_scope(user=MembershipModelBackend().get_user(manager.pk), action="view") == "all"
    assert memberships_for(user=MembershipModelBackend().get_user(nobody.pk)) == []


def test_an_inactive_or_missing_user_is_nobody():
    gone = UserFactory(username="left", is_active=False)

    assert MembershipModelBackend().get_user(gone.pk) is None
    assert MembershipModelBackend().get_user(gone.pk + 1000) is None


def test_a_membership_granted_or_revoked_counts_from_the_next_request(client):
    museum = InstitutionFactory(code="MUS")
    draft = SpecimenFactory(collection=CollectionFactory(institution=museum), catalog_number="D1")
    user = get_user_model().objects.create_user(username="new.curator", password="a-long-passphrase")
    client.force_login(user)

    def listed():
        return [row["uuid"] for row in client.get(LIST).json()["results"]]

    assert listed() == []
    membership = MembershipFactory(user=user, role=Role.CURATOR, institution=museum)
    assert listed() == [str(draft.uuid)]
    membership.delete()
    assert listed() == []
