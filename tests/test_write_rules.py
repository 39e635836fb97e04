"""One rule for who may write what (security finding, part 2), proved on the real paths:

(3) a digitiser's CSV import changes drafts only, as the form and the API do;
(8) autocompletes offer only what the user may read;
(9) names a specimen write brings into the tree stay out of the public tree until a record
    using them is published or a curator accepts them.

Real files through the real importer, a real database, no mocks.
"""

import csv
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from institutions.models import Role
from imports.services import import_batch_create, import_batch_run
from imports.checklist import taxa_import
from imports.undo import import_batch_undo
from specimens.models import ImportBatch, ImportRowError, Specimen, Taxon
from specimens.services import (
    specimen_bulk_publish,
    specimen_create,
    specimen_publish,
    specimen_submit_for_review,
    taxon_create,
    taxon_ensure_path,
)

from .factories.institutions import CollectionFactory
from .factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

PUBLISHED_REFUSED = "This record is published; digitisers may change drafts only — ask a curator."
IN_REVIEW_REFUSED = "This record is in review; digitisers may change drafts only — ask a curator."
WITHDRAWN_REFUSED = "This record is withdrawn; digitisers may change drafts only — ask a curator."


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="BOT", name="Herbarium")


@pytest.fixture
def write_csv(tmp_path):
    def write(rows: list[dict], name: str = "rows.csv"):
        path = tmp_path / name
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write


def run_import(path, *, collection, user, dry_run=False) -> ImportBatch:
    batch = import_batch_run(batch_id=import_batch_create(collection=collection, path=path, user=user, dry_run=dry_run).pk)
    assert batch.status == ImportBatch.Status.DONE, batch.file_errors
    return batch


def record(collection, number: str, status: str, locality: str = "Old place") -> Specimen:
    published = status in (Specimen.Status.PUBLISHED, Specimen.Status.WITHDRAWN)
    return SpecimenFactory(collection=collection, catalog_number=number, status=status, locality=locality,
                           published_at=timezone.now() if published else None)


def errors_by_number(batch) -> dict[str, str]:
    return dict(ImportRowError.objects.filter(batch=batch, severity="error").values_list("value", "message"))


# --- (3) imports follow the rule of the form and the API -------------------------------------------


@pytest.fixture
def four_records(collection):
    return {status: record(collection, f"E{i}", status) for i, status in enumerate(Specimen.Status.values, start=1)}


def test_a_digitisers_import_updates_drafts_and_rejects_published_in_review_and_withdrawn_rows_with_the_reason(
    collection, four_records, user_with_role, write_csv
):
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    path = write_csv([{"catalogNumber": s.catalog_number, "locality": "Overwritten"} for s in four_records.values()]
                     + [{"catalogNumber": "NEW1", "locality": "New place"}])

    batch = run_import(path, collection=collection, user=digitiser)

    localities = dict(Specimen.objects.values_list("catalog_number", "locality"))
    assert localities == {"E1": "Overwritten", "E2": "Old place", "E3": "Old place", "E4": "Old place", "NEW1": "New place"}
    assert errors_by_number(batch) == {"E2": IN_REVIEW_REFUSED, "E3": PUBLISHED_REFUSED, "E4": WITHDRAWN_REFUSED}
    assert (batch.inserted_count, batch.updated_count, batch.rejected_count) == (1, 1, 3)
    assert {s.status: Specimen.objects.get(pk=s.pk).version for s in four_records.values()} == {
        "draft": 2, "in_review": 1, "published": 1, "withdrawn": 1}


def test_a_digitisers_dry_run_reports_the_rows_it_would_reject(collection, four_records, user_with_role, write_csv):
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    path = write_csv([{"catalogNumber": s.catalog_number, "locality": "Overwritten"} for s in four_records.values()])

    batch = run_import(path, collection=collection, user=digitiser, dry_run=True)

    assert errors_by_number(batch) == {"E2": IN_REVIEW_REFUSED, "E3": PUBLISHED_REFUSED, "E4": WITHDRAWN_REFUSED}
    assert (batch.updated_count, batch.rejected_count) == (1, 3)


def test_a_digitisers_import_matching_by_occurrence_id_is_refused_a_published_record(collection, user_with_role, write_csv):
    published = record(collection, "E9", Specimen.Status.PUBLISHED)
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    path = write_csv([{"occurrenceID": published.occurrence_id, "catalogNumber": "E9", "locality": "Overwritten"}])

    batch = run_import(path, collection=collection, user=digitiser)

    assert Specimen.objects.get(pk=published.pk).locality == "Old place"
    assert errors_by_number(batch) == {"E9": PUBLISHED_REFUSED}


def test_a_curators_import_still_updates_records_in_every_state(collection, four_records, user_with_role, write_csv):
    curator = user_with_role(Role.CURATOR, collection.institution)
    path = write_csv([{"catalogNumber": s.catalog_number, "locality": "Overwritten"} for s in four_records.values()])

    batch = run_import(path, collection=collection, user=curator)

    assert set(Specimen.objects.values_list("locality", flat=True)) == {"Overwritten"}
    assert (batch.updated_count, batch.rejected_count) == (4, 0)


def test_an_import_creates_drafts_only_whatever_the_file_says(collection, user_with_role, write_csv):
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    path = write_csv([{"catalogNumber": "NEW1", "status": "published", "locality": "Kew"}])

    run_import(path, collection=collection, user=digitiser)

    created = Specimen.objects.get(catalog_number="NEW1")
    assert (created.status, created.published_at) == (Specimen.Status.DRAFT, None)


def test_a_digitiser_cannot_undo_an_import_so_no_undo_of_theirs_changes_a_record(collection, user_with_role, write_csv):
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    batch = run_import(write_csv([{"catalogNumber": "NEW1", "locality": "Kew"}]), collection=collection, user=digitiser)
    specimen_submit_for_review(specimen=Specimen.objects.get(catalog_number="NEW1"), user=digitiser)

    with pytest.raises(PermissionDenied):
        import_batch_undo(batch=batch, user=digitiser)

    assert Specimen.objects.get(catalog_number="NEW1").status == Specimen.Status.IN_REVIEW


def test_a_curators_undo_of_a_digitisers_import_keeps_a_record_sent_for_review_since(collection, user_with_role, write_csv):
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    batch = run_import(write_csv([{"catalogNumber": "NEW1", "locality": "Kew"}, {"catalogNumber": "NEW2", "locality": "Kew"}]),
                       collection=collection, user=digitiser)
    specimen_submit_for_review(specimen=Specimen.objects.get(catalog_number="NEW1"), user=digitiser)

    batch = import_batch_undo(batch=batch, user=user_with_role(Role.CURATOR, collection.institution))

    assert list(Specimen.objects.values_list("catalog_number", "status")) == [("NEW1", Specimen.Status.IN_REVIEW)]
    assert (batch.undo_deleted_count, batch.undo_kept_count) == (1, 1)


# --- (8) autocompletes are scoped like every other staff read ---------------------------------------


@pytest.fixture
def agents_on_records(institution, other_institution):
    own = CollectionFactory(institution=institution, code="OWN")
    other = CollectionFactory(institution=other_institution, code="OTH")
    specimen_create(collection=own, data={"catalog_number": "A1", "recorded_by": "Smith, Own Draft"})
    specimen_create(collection=other, data={"catalog_number": "B1", "recorded_by": "Smith, Other Draft"})
    published = specimen_create(collection=other, data={"catalog_number": "B2", "recorded_by": "Smith, Other Published"})
    Specimen.objects.filter(pk=published.pk).update(status=Specimen.Status.PUBLISHED, published_at=timezone.now())


def options(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<option value="([^"]*)"', response.content.decode())


@pytest.mark.parametrize("param", ["q", "recorded_by", "identified_by", "agent"])
def test_agent_autocomplete_offers_only_agents_of_records_the_user_may_view(agents_on_records, client_for, institution, param):
    digitiser = client_for(Role.DIGITISER, institution)

    names = options(digitiser.get(reverse("specimens:agent_autocomplete"), {param: "smi"}))

    assert names == ["Smith, Other Published", "Smith, Own Draft"]


def test_agent_autocomplete_offers_a_programme_manager_every_agent(agents_on_records, client_for):
    names = options(client_for(Role.PROGRAMME_MANAGER).get(reverse("specimens:agent_autocomplete"), {"q": "smi"}))

    assert names == ["Smith, Other Draft", "Smith, Other Published", "Smith, Own Draft"]


def test_taxon_autocomplete_does_not_offer_another_institutions_provisional_names(
    institution, other_institution, client_for, user_with_role, write_csv
):
    other = CollectionFactory(institution=other_institution, code="OTH")
    run_import(write_csv([{"catalogNumber": "B1", "genus": "Novaria", "scientificName": "Novaria secreta"}]),
               collection=other, user=user_with_role(Role.DIGITISER, other_institution))
    own = CollectionFactory(institution=institution, code="OWN")
    run_import(write_csv([{"catalogNumber": "A1", "genus": "Novaria", "scientificName": "Novaria nostra"}], name="own.csv"),
               collection=own, user=user_with_role(Role.DIGITISER, institution))
    taxon_create(name="Novaria publica", rank="species")  # a curator's name: public

    names = options(client_for(Role.DIGITISER, institution).get(reverse("specimens:taxon_autocomplete"), {"q": "Nov"}))

    assert names == ["Novaria", "Novaria nostra", "Novaria publica"]


# --- (9) a specimen write's names are provisional until published or accepted -----------------------


def public_names(client, **params) -> list[str]:
    response = client.get(reverse("specimens_api:taxon_list"), params)
    assert response.status_code == 200
    return sorted(t["name"] for t in response.json()["results"])


@pytest.fixture
def drafted_name(collection, user_with_role, write_csv):
    """A digitiser's import brings in Plantae › Novaceae › Novaria › Novaria incognita on a draft."""
    digitiser = user_with_role(Role.DIGITISER, collection.institution)
    path = write_csv([{"catalogNumber": "N1", "kingdom": "Plantae", "family": "Novaceae", "genus": "Novaria",
                       "scientificName": "Novaria incognita"}])
    run_import(path, collection=collection, user=digitiser)
    return Taxon.objects.get(name="Novaria incognita")


def test_names_a_specimen_import_brings_in_are_provisional(drafted_name):
    assert sorted(Taxon.objects.filter(is_provisional=True).values_list("name", flat=True)) == [
        "Novaceae", "Novaria", "Novaria incognita", "Plantae"]


def test_anonymous_visitors_cannot_list_or_read_a_name_whose_only_record_is_a_draft(drafted_name, public_client):
    assert public_names(public_client) == []
    assert public_names(public_client, q="Nov") == []
    assert public_client.get(reverse("specimens_api:taxon_detail", args=[drafted_name.uuid])).status_code == 404


def test_another_institutions_staff_cannot_list_the_provisional_name(drafted_name, client_for, other_institution):
    stranger = client_for(Role.CURATOR, other_institution)

    assert public_names(stranger, q="Nov") == []
    assert stranger.get(reverse("specimens_api:taxon_detail", args=[drafted_name.uuid])).status_code == 404


def test_the_owning_institutions_staff_see_the_provisional_name_and_its_ancestors(drafted_name, client_for, institution):
    digitiser = client_for(Role.DIGITISER, institution)

    assert public_names(digitiser) == ["Novaceae", "Novaria", "Novaria incognita", "Plantae"]
    assert digitiser.get(reverse("specimens_api:taxon_detail", args=[drafted_name.uuid])).status_code == 200


def test_publishing_a_record_makes_its_provisional_name_and_ancestors_public(drafted_name, public_client, user_with_role,
                                                                           institution):
    specimen_publish(specimen=Specimen.objects.get(catalog_number="N1"), user=user_with_role(Role.CURATOR, institution))

    assert public_names(public_client) == ["Novaceae", "Novaria", "Novaria incognita", "Plantae"]
    assert public_client.get(reverse("specimens_api:taxon_detail", args=[drafted_name.uuid])).status_code == 200


def test_bulk_publishing_makes_the_names_public_in_one_update(drafted_name, public_client, user_with_role, institution,
                                                             collection):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    curator = user_with_role(Role.CURATOR, institution)
    SpecimenFactory.create_batch(5, collection=collection, taxon=drafted_name)

    with CaptureQueriesContext(connection) as queries:
        count, _ = specimen_bulk_publish(specimens=Specimen.objects.all(), user=curator)

    assert count == 6
    assert sum("UPDATE specimens_taxon" in q["sql"] for q in queries.captured_queries) == 1
    assert public_names(public_client) == ["Novaceae", "Novaria", "Novaria incognita", "Plantae"]


def test_a_curator_accepts_a_provisional_name_into_the_public_tree(drafted_name, public_client, client_for, institution):
    curator = client_for(Role.CURATOR, institution)

    response = curator.post(reverse("specimens:taxon_accept", args=[drafted_name.uuid]), {"next": "/curate/"})

    assert (response.status_code, response["Location"]) == (302, "/curate/")
    assert public_names(public_client) == ["Novaceae", "Novaria", "Novaria incognita", "Plantae"]


@pytest.mark.parametrize("role, where, status", [
    ("digitiser", "own", 403), ("programme_manager", "own", 403), ("curator", "other", 404), (None, "own", 302),
])
def test_only_curators_who_can_see_a_provisional_name_may_accept_it(drafted_name, client_for, institution,
                                                                    other_institution, role, where, status):
    client = client_for(role, institution if where == "own" else other_institution)

    response = client.post(reverse("specimens:taxon_accept", args=[drafted_name.uuid]))

    assert response.status_code == status
    assert Taxon.objects.get(pk=drafted_name.pk).is_provisional


def test_the_admin_action_accepts_the_selected_names(drafted_name, client_for, public_client):
    admin = client_for("admin")

    response = admin.post(reverse("admin:specimens_taxon_changelist"),
                          {"action": "accept_names", "_selected_action": [drafted_name.pk]})

    assert response.status_code == 302
    assert public_names(public_client) == ["Novaceae", "Novaria", "Novaria incognita", "Plantae"]


def test_a_curators_checklist_and_tree_work_create_public_names_and_accept_matching_provisional_ones(
    drafted_name, public_client, tmp_path, user_with_role, institution
):
    path = tmp_path / "checklist.csv"
    path.write_text("taxonID,scientificName,taxonRank,kingdom,family,genus\n"
                    "t1,Novaria incognita,species,Plantae,Novaceae,Novaria\nt2,Novaria nova,species,Plantae,Novaceae,Novaria\n")
    taxa_import(path=path, user=user_with_role(Role.CURATOR, institution))
    taxon_ensure_path(ranks=[("kingdom", "Fungi"), ("genus", "Amanita")])

    assert not Taxon.objects.filter(is_provisional=True).exists()
    assert public_names(public_client) == ["Amanita", "Fungi", "Novaceae", "Novaria", "Novaria incognita", "Novaria nova",
                                           "Plantae"]


def test_a_curator_renaming_a_published_record_by_import_makes_the_new_name_public(collection, user_with_role, write_csv,
                                                                                  public_client):
    record(collection, "P1", Specimen.Status.PUBLISHED)
    path = write_csv([{"catalogNumber": "P1", "genus": "Novaria", "scientificName": "Novaria renamed"}])

    run_import(path, collection=collection, user=user_with_role(Role.CURATOR, collection.institution))

    assert public_names(public_client, q="Nov") == ["Novaria", "Novaria renamed"]


def test_the_api_taxon_list_of_anonymous_is_still_one_page_query(drafted_name, public_client, django_assert_num_queries):
    taxon_create(name="Bellis", rank="genus")

    with django_assert_num_queries(1):
        names = public_names(public_client)

    assert names == ["Bellis"]


def test_a_programme_manager_reads_provisional_names(drafted_name, client_for):
    assert public_names(client_for(Role.PROGRAMME_MANAGER), q="Nov") == ["Novaceae", "Novaria", "Novaria incognita"]

