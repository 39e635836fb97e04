"""The permission matrix: role × own/other institution × action, in the API and in the curator pages.

The expected outcome of every cell comes from MATRIX below, written from the rules in
DESIGN.md §3 "Roles" (not from the code under test):

- digitisers, curators and collection managers read and create at their own institution;
- digitisers edit drafts only and cannot publish or delete;
- programme managers read every institution and write nothing;
- superusers do everything everywhere;
- another institution's draft is invisible (404); its published record is readable by all,
  writable by none of the other institution's staff (403);
- anonymous callers read published records through the API; curator pages send them to login.

Each case builds one specimen; an allowed action must change the database, a refused one must
leave it (rows and audit events) exactly as it was.
"""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from specimens.models import Specimen

from .factories.institutions import CollectionFactory
from .factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

# --- the table -----------------------------------------------------------------------------------

OK = "ok"  # allowed: success status, database changed
FORBID = "403"  # visible but not allowed
HIDDEN = "404"  # not visible to this caller at all
NOT_OFFERED = "not-offered"  # create in another institution's collection: API 403; the page form
#                              does not offer that collection, so it answers 400 "select a valid choice"
ANON = "anon"  # anonymous write: API 401/403, page → login
ANON_HIDDEN = "anon-hidden"  # anonymous read of a draft: API 404, page → login
ANON_PUBLIC = "anon-public"  # anonymous read of a published record: API 200, page → login

CASES = ("view_draft", "view_published", "create", "edit_draft", "edit_published", "publish_draft", "delete_draft")

# role, where → outcome per case, in the order of CASES
MATRIX = {
    #                                 view     view      create        edit     edit      publish  delete
    #                                 draft    publ.                   draft    publ.     draft    draft
    ("anonymous", "own"):             (ANON_HIDDEN, ANON_PUBLIC, ANON, ANON, ANON, ANON, ANON),
    ("anonymous", "other"):           (ANON_HIDDEN, ANON_PUBLIC, ANON, ANON, ANON, ANON, ANON),
    ("digitiser", "own"):             (OK, OK, OK, OK, FORBID, FORBID, FORBID),
    ("digitiser", "other"):           (HIDDEN, OK, NOT_OFFERED, HIDDEN, FORBID, HIDDEN, HIDDEN),
    ("curator", "own"):               (OK, OK, OK, OK, OK, OK, OK),
    ("curator", "other"):             (HIDDEN, OK, NOT_OFFERED, HIDDEN, FORBID, HIDDEN, HIDDEN),
    ("collection_manager", "own"):    (OK, OK, OK, OK, OK, OK, OK),
    ("collection_manager", "other"):  (HIDDEN, OK, NOT_OFFERED, HIDDEN, FORBID, HIDDEN, HIDDEN),
    ("programme_manager", "own"):     (OK, OK, FORBID, FORBID, FORBID, FORBID, FORBID),
    ("programme_manager", "other"):   (OK, OK, FORBID, FORBID, FORBID, FORBID, FORBID),
    ("admin", "own"):                 (OK, OK, OK, OK, OK, OK, OK),
    ("admin", "other"):               (OK, OK, OK, OK, OK, OK, OK),
}

API_SUCCESS = {"view": 200, "create": 201, "edit": 200, "publish": 200, "delete": 204}
PAGE_SUCCESS = {"view": 200, "create": 302, "edit": 302, "publish": 302, "delete": 302}


def expected_api(outcome: str, action: str) -> set[int]:
    return {
        OK: {API_SUCCESS[action]}, FORBID: {403}, HIDDEN: {404}, NOT_OFFERED: {403},
        ANON: {401, 403}, ANON_HIDDEN: {404}, ANON_PUBLIC: {200},
    }[outcome]


def expected_page(outcome: str, action: str) -> set[int]:
    return {
        OK: {PAGE_SUCCESS[action]}, FORBID: {403}, HIDDEN: {404}, NOT_OFFERED: {400},
        ANON: {302}, ANON_HIDDEN: {302}, ANON_PUBLIC: {302},
    }[outcome]


MATRIX_PARAMS = [
    pytest.param(role, where, case, MATRIX[role, where][i], id=f"{role}-{where}-{case}")
    for (role, where) in MATRIX
    for i, case in enumerate(CASES)
]


def test_matrix_covers_every_role_institution_and_action():
    roles = {role for role, _ in MATRIX}
    assert roles == {"anonymous", "digitiser", "curator", "collection_manager", "programme_manager", "admin"}
    assert all(len(row) == len(CASES) for row in MATRIX.values())
    assert {case.split("_")[0] for case in CASES} == {"view", "create", "edit", "publish", "delete"}


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def setup_case(institution, other_institution, client_for):
    def make(role, where, case):
        client = client_for(None if role == "anonymous" else role, institution)
        home = institution if where == "own" else other_institution
        collection = CollectionFactory(institution=home, code="BOT")
        if where == "other":  # staff always have a collection of their own to offer in the form
            CollectionFactory(institution=institution, code="ZOO")
        specimen = None
        if case != "create":
            published = case.endswith("published")
            specimen = SpecimenFactory(
                collection=collection, catalog_number="E00000001",
                status=Specimen.Status.PUBLISHED if published else Specimen.Status.DRAFT,
                published_at=timezone.now() if published else None,
            )
        return client, collection, specimen

    return make


def db_state(specimen):
    """What an action may change: the rows, the audited history, and the specimen's own fields."""
    from specimens.models import SpecimenEvent

    row = None
    if specimen is not None:
        row = Specimen.objects.filter(pk=specimen.pk).values("version", "status", "locality").first()
    return {"specimens": Specimen.objects.count(), "events": SpecimenEvent.objects.count(), "row": row}


def assert_effect(action, allowed, before, after, specimen):
    if not allowed or action == "view":
        assert after == before, "a refused action (or a read) must leave the database as it was"
        return
    if action == "create":
        assert after["specimens"] == before["specimens"] + 1
        assert Specimen.objects.filter(catalog_number="NEW-0001").count() == 1
    elif action == "edit":
        assert after["row"]["locality"] == "Kew Gardens, Richmond"
        assert after["row"]["version"] == before["row"]["version"] + 1
    elif action == "publish":
        assert after["row"]["status"] == Specimen.Status.PUBLISHED
    elif action == "delete":
        assert after["row"] is None
        assert after["specimens"] == before["specimens"] - 1
    assert after["events"] > before["events"], "every allowed write leaves an audit event"


def form_data(specimen=None, **overrides) -> dict:
    """Every editable field as a browser would send it (empty strings for empty values)."""
    from specimens.services import SPECIMEN_EDITABLE_FIELDS

    data = {}
    for name in SPECIMEN_EDITABLE_FIELDS:
        value = getattr(specimen, name) if specimen is not None else Specimen._meta.get_field(name).get_default()
        data[name] = "" if value is None else str(value)
    data.update(overrides)
    return data


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role, where, case, outcome", MATRIX_PARAMS)
def test_api_permission_matrix(setup_case, role, where, case, outcome):
    client, collection, specimen = setup_case(role, where, case)
    action = case.split("_")[0]
    before = db_state(specimen)

    if action == "view":
        response = client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid]))
    elif action == "create":
        response = client.post(
            reverse("specimens_api:specimen_list"),
            data=json.dumps({"collection": f"{collection.institution.code}:{collection.code}", "catalog_number": "NEW-0001"}),
            content_type="application/json",
        )
    elif action == "edit":
        response = client.patch(
            reverse("specimens_api:specimen_detail", args=[specimen.uuid]),
            data=json.dumps({"version": specimen.version, "locality": "Kew Gardens, Richmond"}),
            content_type="application/json",
        )
    elif action == "publish":
        response = client.post(reverse("specimens_api:specimen_publish", args=[specimen.uuid]))
    else:
        response = client.delete(reverse("specimens_api:specimen_detail", args=[specimen.uuid]))

    assert response.status_code in expected_api(outcome, action), response.content[:300]
    if action == "view" and response.status_code == 200:
        assert response.json()["uuid"] == str(specimen.uuid)
    assert_effect(action, outcome == OK, before, db_state(specimen), specimen)


# --- the curator pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("role, where, case, outcome", MATRIX_PARAMS)
def test_page_permission_matrix(setup_case, role, where, case, outcome):
    client, collection, specimen = setup_case(role, where, case)
    action = case.split("_")[0]
    before = db_state(specimen)

    if action == "view":
        response = client.get(reverse("specimens:curate_detail", args=[specimen.uuid]))
    elif action == "create":
        response = client.post(
            reverse("specimens:curate_create"), data=form_data(catalog_number="NEW-0001", collection=collection.pk)
        )
    elif action == "edit":
        response = client.post(
            reverse("specimens:curate_edit", args=[specimen.uuid]),
            data=form_data(specimen, locality="Kew Gardens, Richmond", version=specimen.version),
        )
    elif action == "publish":
        response = client.post(reverse("specimens:curate_publish", args=[specimen.uuid]))
    else:
        response = client.post(reverse("specimens:curate_delete", args=[specimen.uuid]))

    assert response.status_code in expected_page(outcome, action), response.content[:300]
    if outcome.startswith("anon"):
        assert response["Location"].startswith(reverse("login"))
    elif response.status_code == 302:
        assert not response["Location"].startswith(reverse("login"))
    if action == "view" and response.status_code == 200:
        assert specimen.catalog_number in response.content.decode()
    assert_effect(action, outcome == OK, before, db_state(specimen), specimen)


@pytest.mark.parametrize("role, allowed", [("digitiser", False), ("curator", True), ("collection_manager", True),
                                           ("programme_manager", False)])
def test_withdraw_is_a_publish_right(client_for, institution, role, allowed):
    specimen = SpecimenFactory(collection__institution=institution, status=Specimen.Status.PUBLISHED,
                               published_at=timezone.now())
    client = client_for(role, institution)

    response = client.post(reverse("specimens_api:specimen_withdraw", args=[specimen.uuid]),
                           data=json.dumps({"reason": "Misidentified duplicate"}), content_type="application/json")

    specimen.refresh_from_db()
    if allowed:
        assert response.status_code == 200
        assert specimen.status == Specimen.Status.WITHDRAWN
    else:
        assert response.status_code == 403
        assert specimen.status == Specimen.Status.PUBLISHED


def test_every_specimen_url_is_in_the_matrix():
    """A new specimen write URL must be added to the matrix (or to this list with its reason)."""
    from django.urls import get_resolver

    covered = {
        "specimens_api:specimen_list", "specimens_api:specimen_detail", "specimens_api:specimen_publish",
        "specimens:curate_list", "specimens:curate_create", "specimens:curate_detail", "specimens:curate_edit",
        "specimens:curate_publish", "specimens:curate_delete",
        # covered by their own tests below or in tests/specimens/
        "specimens_api:specimen_withdraw", "specimens_api:specimen_submit", "specimens:curate_withdraw",
        "specimens_api:taxon_list", "specimens_api:taxon_detail",
    }
    def walk(patterns, namespace=None):
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif entry.name and namespace in ("specimens", "specimens_api"):
                yield f"{namespace}:{entry.name}"

    names = set(walk(get_resolver().url_patterns))
    assert {"specimens_api:specimen_publish", "specimens:curate_delete"} <= names, "URL walk found nothing"
    assert names <= covered, f"URLs missing from the permission matrix: {sorted(names - covered)}"
