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

WRITE_MATRIX (at the end) holds every write path — form, API, bulk, import, restore, undo, manual
image link — × role × draft/published record to the one rule, specimen_states_editable: a
digitiser changes drafts only, by any path.
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


# --- the other curator pages: each takes its outcome from the MATRIX column of its action ---------

# url name → (HTTP method, the MATRIX case whose column decides the outcome)
EXTRA_PAGES = {
    "curate_history": ("get", "view_draft"),
    "curate_submit": ("post", "edit_draft"),
    "curate_revert": ("post", "edit_draft"),
    "curate_preparation_add": ("post", "edit_draft"),
    "curate_identification_add": ("post", "edit_draft"),
    "curate_bulk": ("post", "publish_draft"),
}
EXTRA_SUCCESS = {"curate_history": 200, "curate_submit": 302, "curate_revert": 302, "curate_preparation_add": 200,
                 "curate_identification_add": 200, "curate_bulk": 302}
EXTRA_PARAMS = [
    pytest.param(role, where, name, MATRIX[role, where][CASES.index(case)], id=f"{role}-{where}-{name}")
    for (role, where) in MATRIX
    for name, (_, case) in EXTRA_PAGES.items()
]


def extra_state(specimen):
    from specimens.models import Identification, Preparation

    row = Specimen.objects.filter(pk=specimen.pk).values("version", "status", "locality", "scientific_name").first()
    return {"row": row, "preparations": Preparation.objects.filter(specimen_id=specimen.pk).count(),
            "identifications": Identification.objects.filter(specimen_id=specimen.pk).count()}


@pytest.mark.parametrize("role, where, name, outcome", EXTRA_PARAMS)
def test_other_curator_pages_follow_the_matrix(setup_case, role, where, name, outcome):
    from specimens.services import taxon_create

    client, _collection, specimen = setup_case(role, where, "edit_draft")
    method, _ = EXTRA_PAGES[name]
    data = {}
    if name == "curate_revert":  # an edit to undo: the insert event is version 1, the row is now version 2
        from django.apps import apps

        Specimen.objects.filter(pk=specimen.pk).update(locality="Wrong place", version=2)
        insert = apps.get_model("specimens", "SpecimenEvent").objects.get(pgh_obj_id=specimen.pk, pgh_label="insert")
        data = {"event": insert.pgh_id, "version": 2}
    elif name == "curate_preparation_add":
        data = {"preparation_type": "sheet", "count": 1}
    elif name == "curate_identification_add":
        taxon_create(name="Taraxacum officinale", rank="species")
        data = {"scientific_name": "Taraxacum officinale"}
    elif name == "curate_bulk":
        data = {"bulk_action": "publish", "selected": [str(specimen.uuid)]}
    url = reverse(f"specimens:{name}", args=[] if name == "curate_bulk" else [specimen.uuid])
    before = extra_state(specimen)

    response = getattr(client, method)(url, data=data)

    if outcome == OK:
        expected = {EXTRA_SUCCESS[name]}
    elif outcome.startswith("anon"):
        expected = {302}
    elif name == "curate_bulk":
        expected = {403}  # bulk selections are filtered by scope: nothing of theirs is selectable
    else:
        expected = {FORBID: {403}, HIDDEN: {404}}[outcome]
    assert response.status_code in expected, response.content[:300]
    if outcome.startswith("anon"):
        assert response["Location"].startswith(reverse("login"))
    after = extra_state(specimen)
    if outcome != OK or name == "curate_history":
        assert after == before
    elif name == "curate_submit":
        assert after["row"]["status"] == Specimen.Status.IN_REVIEW
    elif name == "curate_revert":
        assert after["row"]["locality"] == "" and after["row"]["version"] == 3
    elif name == "curate_preparation_add":
        assert after["preparations"] == before["preparations"] + 1
    elif name == "curate_identification_add":
        assert after["identifications"] == before["identifications"] + 1
        assert after["row"]["scientific_name"] == "Taraxacum officinale"
    elif name == "curate_bulk":
        assert after["row"]["status"] == Specimen.Status.PUBLISHED


@pytest.mark.parametrize("name", ["taxon_autocomplete", "agent_autocomplete"])
def test_autocomplete_is_for_staff_only(client_for, institution, name):
    url = reverse(f"specimens:{name}")

    assert client_for(None).get(url, {"q": "Be"}).status_code == 302
    assert client_for("digitiser", institution).get(url, {"q": "Be"}).status_code == 200
    assert client_for("programme_manager").get(url, {"q": "Be"}).status_code == 200


def test_every_specimen_url_is_in_the_matrix():
    """A new specimen write URL must be added to the matrix (or to this list with its reason)."""
    from django.urls import get_resolver

    covered = {
        "specimens_api:specimen_list", "specimens_api:specimen_detail", "specimens_api:specimen_publish",
        "specimens:curate_list", "specimens:curate_create", "specimens:curate_detail", "specimens:curate_edit",
        "specimens:curate_publish", "specimens:curate_delete",
        *(f"specimens:{name}" for name in EXTRA_PAGES),
        "specimens:taxon_autocomplete", "specimens:agent_autocomplete",
        # covered by their own tests above or in tests/specimens/
        "specimens_api:specimen_withdraw", "specimens_api:specimen_submit", "specimens:curate_withdraw",
        "specimens_api:taxon_list", "specimens_api:taxon_detail",
        "imports:import_list", "imports:import_detail", "imports:import_report",
        # tests/importer/test_undo.py
        "imports:import_undo", "imports:import_undo_kept",
        # tests/test_write_rules.py
        "specimens:taxon_accept",
    }
    def walk(patterns, namespace=None):
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif entry.name and namespace in ("specimens", "specimens_api", "imports"):
                yield f"{namespace}:{entry.name}"

    names = set(walk(get_resolver().url_patterns))
    assert {"specimens_api:specimen_publish", "specimens:curate_delete"} <= names, "URL walk found nothing"
    assert names <= covered, f"URLs missing from the permission matrix: {sorted(names - covered)}"


IMPORT_PAGES = ["import_detail", "import_report"]


@pytest.mark.parametrize("role, own, expected", [
    (None, True, 302), ("digitiser", True, 200), ("curator", True, 200), ("collection_manager", True, 200),
    ("programme_manager", False, 200), ("admin", False, 200),
    ("digitiser", False, 404), ("curator", False, 404), ("collection_manager", False, 404),
])
@pytest.mark.parametrize("name", IMPORT_PAGES)
def test_import_batches_are_seen_by_their_institution_only(client_for, institution, other_institution, role, own, expected, name):
    from imports.services import import_batch_create

    from .factories.institutions import CollectionFactory

    batch = import_batch_create(collection=CollectionFactory(institution=institution), path="/nonexistent/file.csv")
    client = client_for(role, institution if own else other_institution)

    response = client.get(reverse(f"imports:{name}", args=[batch.uuid]))

    assert response.status_code == expected


@pytest.mark.parametrize("role, expected", [
    (None, 302), ("programme_manager", 403), ("digitiser", 302), ("curator", 302),
])
def test_only_roles_that_create_records_may_upload_an_import(client_for, institution, role, expected, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from specimens.models import ImportBatch

    from .factories.institutions import CollectionFactory

    collection = CollectionFactory(institution=institution)
    client = client_for(role, institution)
    upload = SimpleUploadedFile("rows.csv", b"catalogNumber,scientificName\nX1,Bellis perennis\n", content_type="text/csv")

    response = client.post(reverse("imports:import_list"), {"collection": collection.pk, "file": upload})

    assert response.status_code == expected
    if role in ("digitiser", "curator"):
        assert response["Location"].startswith("/curate/imports/")
        assert ImportBatch.objects.filter(collection=collection, created_by=client.user).count() == 1
    else:
        assert ImportBatch.objects.count() == 0


@pytest.mark.parametrize("role, expected", [
    (None, 302), ("programme_manager", 403), ("digitiser", 400), ("curator", 302), ("collection_manager", 302),
])
def test_only_curators_and_managers_may_upload_a_checklist(client_for, institution, role, expected):
    """The tree is shared by every institution: a digitiser's form does not offer the choice."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from specimens.models import ImportBatch

    from .factories.institutions import CollectionFactory

    CollectionFactory(institution=institution)
    client = client_for(role, institution)
    upload = SimpleUploadedFile("names.csv", b"taxonID,scientificName\nt1,Bellis perennis\n", content_type="text/csv")

    response = client.post(reverse("imports:import_list"), {"kind": "taxa", "file": upload})

    assert response.status_code == expected
    if role in ("curator", "collection_manager"):
        assert ImportBatch.objects.filter(kind="taxa", collection=None, institution=institution,
                                          created_by=client.user).count() == 1
    else:
        assert ImportBatch.objects.count() == 0


# --- every WRITE path × role × record state: one rule (specimens.selectors.specimen_states_editable) ---

# A digitiser changes drafts only, by any path; curators and collection managers change records in
# any state; programme managers, other institutions' staff and anonymous callers change nothing.
# Bulk edits and undo are curator tools (a digitiser has neither); the automatic barcode pipeline
# is not a user's write and keeps linking images to records in any state.
WRITE_PATHS = ("form", "api", "bulk", "import", "restore", "undo", "image_link")
NO = "refused"
WRITE_ROLES = ("anonymous", "digitiser", "curator", "collection_manager", "programme_manager", "other_curator")
WRITE_MATRIX = {
    #                                   form  api  bulk  import restore undo image_link
    ("anonymous", "draft"):             (NO,  NO,  NO,   NO,    NO,     NO,  NO),
    ("anonymous", "published"):         (NO,  NO,  NO,   NO,    NO,     NO,  NO),
    ("digitiser", "draft"):             (OK,  OK,  NO,   OK,    OK,     NO,  OK),
    ("digitiser", "published"):         (NO,  NO,  NO,   NO,    NO,     NO,  NO),
    ("curator", "draft"):               (OK,  OK,  OK,   OK,    OK,     OK,  OK),
    ("curator", "published"):           (OK,  OK,  OK,   OK,    OK,     OK,  OK),
    ("collection_manager", "draft"):    (OK,  OK,  OK,   OK,    OK,     OK,  OK),
    ("collection_manager", "published"): (OK, OK,  OK,   OK,    OK,     OK,  OK),
    ("programme_manager", "draft"):     (NO,  NO,  NO,   NO,    NO,     NO,  NO),
    ("programme_manager", "published"): (NO,  NO,  NO,   NO,    NO,     NO,  NO),
    ("other_curator", "draft"):         (NO,  NO,  NO,   NO,    NO,     NO,  NO),
    ("other_curator", "published"):     (NO,  NO,  NO,   NO,    NO,     NO,  NO),
}
WRITE_PARAMS = [
    pytest.param(role, state, path, WRITE_MATRIX[role, state][i], id=f"{role}-{state}-{path}")
    for (role, state) in WRITE_MATRIX
    for i, path in enumerate(WRITE_PATHS)
]
NEW_LOCALITY = "Kew Gardens, Richmond"


def test_write_matrix_covers_every_role_state_and_path():
    assert {role for role, _ in WRITE_MATRIX} == set(WRITE_ROLES)
    assert {state for _, state in WRITE_MATRIX} == {"draft", "published"}
    assert all(len(row) == len(WRITE_PATHS) for row in WRITE_MATRIX.values())
    assert len(WRITE_PARAMS) == 84


def _csv_upload(rows: list[dict], name="rows.csv"):
    import csv
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile(name, out.getvalue().encode(), content_type="text/csv")


@pytest.fixture
def write_case(institution, other_institution, client_for, user_with_role, tmp_path):
    """(client, specimen, act): the record at the caller's own institution (another's for other_curator),
    prepared for `path`; act() performs the write as the browser or API client would."""
    from imaging.models import ImageAsset
    from imaging.services import imaging_batch_create
    from imports.services import import_batch_create, import_batch_run
    from imports.tasks import specimen_import_task

    def make(role, state, path):
        collection = CollectionFactory(institution=institution, code="BOT")
        if role == "other_curator":
            CollectionFactory(institution=other_institution, code="ZOO")  # a collection of their own to offer
            client = client_for("curator", other_institution)
        else:
            client = client_for(None if role == "anonymous" else role, institution)
        published = state == "published"
        specimen = SpecimenFactory(
            collection=collection, catalog_number="E00000001", locality="Old place",
            status=Specimen.Status.PUBLISHED if published else Specimen.Status.DRAFT,
            published_at=timezone.now() if published else None,
        )
        detail = reverse("specimens_api:specimen_detail", args=[specimen.uuid])

        if path == "form":
            def act():
                return client.post(reverse("specimens:curate_edit", args=[specimen.uuid]),
                                   data=form_data(specimen, locality=NEW_LOCALITY, version=specimen.version))
        elif path == "api":
            def act():
                return client.patch(detail, data=json.dumps({"version": specimen.version, "locality": NEW_LOCALITY}),
                                    content_type="application/json")
        elif path == "bulk":
            def act():
                return client.post(reverse("specimens:curate_bulk"), {
                    "bulk_action": "set_field", "field": "locality", "value": NEW_LOCALITY, "selected": [str(specimen.uuid)]})
        elif path == "import":
            def act():
                from specimens.models import ImportBatch

                response = client.post(reverse("imports:import_list"), {
                    "kind": "specimens", "collection": collection.pk,
                    "file": _csv_upload([{"catalogNumber": specimen.catalog_number, "locality": NEW_LOCALITY}])})
                for batch in ImportBatch.objects.all():  # what the bulk worker would run, as the uploader
                    specimen_import_task(batch.pk)
                return response
        elif path == "restore":  # revert to the insert event, undoing a later edit
            from django.apps import apps

            Specimen.objects.filter(pk=specimen.pk).update(locality="Wrong place", version=2)
            insert = apps.get_model("specimens", "SpecimenEvent").objects.get(pgh_obj_id=specimen.pk, pgh_label="insert")

            def act():
                return client.post(reverse("specimens:curate_revert", args=[specimen.uuid]), {"event": insert.pgh_id, "version": 2})
        elif path == "undo":  # a curator's import changed the record; the caller undoes it
            source = tmp_path / "curator.csv"
            source.write_text(f"catalogNumber,locality\n{specimen.catalog_number},Imported place\n")
            batch = import_batch_run(batch_id=import_batch_create(
                collection=collection, path=source, user=user_with_role("curator", institution)).pk)
            assert batch.updated_count == 1

            def act():
                return client.post(reverse("imports:import_undo", args=[batch.uuid]))
        else:  # image_link: an image the pipeline could not place, linked by hand
            asset = ImageAsset.objects.create(
                batch=imaging_batch_create(institution=institution, name="Tray 1"), institution=institution,
                original_name="IMG_0042.jpg", sha256="ab" * 32, status=ImageAsset.Status.NEEDS_ATTENTION, width=640, height=480,
            )

            def act():
                return client.post(reverse("imaging:unmatched_link", args=[asset.uuid]),
                                   {"catalog_number": specimen.catalog_number})
        return client, specimen, act

    return make


def write_state(specimen):
    from imaging.models import ImageAsset
    from specimens.models import SpecimenEvent

    return {
        "row": Specimen.objects.filter(pk=specimen.pk).values("version", "status", "locality", "media_count").first(),
        "events": SpecimenEvent.objects.filter(pgh_obj_id=specimen.pk).count(),
        "images": list(ImageAsset.objects.filter(specimen_id=specimen.pk).values_list("pk", flat=True)),
    }


@pytest.mark.parametrize("role, state, path, outcome", WRITE_PARAMS)
def test_every_write_path_follows_one_rule(write_case, role, state, path, outcome):
    from specimens.models import ImportRowError
    from specimens.selectors import specimen_state_refusal

    _client, specimen, act = write_case(role, state, path)
    before = write_state(specimen)

    response = act()

    after = write_state(specimen)
    if outcome == NO:
        assert after == before, f"{role} changed a {state} record through {path}"
        if role == "anonymous":
            assert response.status_code in (302, 401, 403)
            if response.status_code == 302:
                assert response["Location"].startswith(reverse("login"))
        if role == "digitiser" and state == "published":  # the same reason, wherever it is reported
            refusal = specimen_state_refusal(status=state)
            if path in ("form", "api", "restore"):
                assert response.status_code == 403
            elif path == "import":
                assert list(ImportRowError.objects.values_list("message", flat=True)) == [refusal]
            elif path == "image_link":
                assert response.status_code == 400 and refusal in response.content.decode().replace("&#x27;", "'")
        return
    assert response.status_code in (200, 302), response.content[:300]
    assert after["row"]["status"] == before["row"]["status"], "no write path changes the workflow state"
    if path == "image_link":
        assert after["row"]["media_count"] == 1 and len(after["images"]) == 1
    elif path == "restore":
        assert after["row"]["locality"] == "Old place"
    elif path == "undo":
        assert after["row"]["locality"] == "Old place"
    else:
        assert after["row"]["locality"] == NEW_LOCALITY
    assert after["events"] > before["events"] or path == "image_link", "every allowed edit leaves an audit event"
