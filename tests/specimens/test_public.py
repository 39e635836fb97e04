"""specimens.public: the one public read model, its two forms, and the findings it fixes."""

import random
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from institutions.models import Role
from specimens.models import Specimen, Taxon
from specimens.public import (
    GENERALISED_FIELDS,
    public_annotations,
    public_columns_sql,
    public_level_join_sql,
    public_select_sql,
    record_generalise,
    specimen_public_values,
    specimen_sensitivity,
)
from specimens.services import taxon_create, taxon_ensure_path, taxon_move, taxon_sensitivity_set
from specimens.taxonomy import taxa_ensure

from ..factories.institutions import CollectionFactory
from ..factories.specimens import SpecimenFactory

pytestmark = pytest.mark.django_db

LEVELS = ["none", "10km", "100km", "withhold"]
EXACT_LAT, EXACT_LON = Decimal("51.478712"), Decimal("-0.295634")


def test_record_generalise_rounds_and_hides_per_level():
    values = {"decimal_latitude": EXACT_LAT, "decimal_longitude": EXACT_LON, "coordinate_uncertainty_in_meters": 30.0,
              "coordinate_precision": Decimal("0.000001"), "locality": "Orchid bank", "habitat": "grid NN123456",
              "county": "Surrey", "state_province": "England", "minimum_elevation_in_meters": 12.0,
              "field_number": "F1", "data_generalizations": "", "information_withheld": ""}

    ten = record_generalise(values, level="10km")
    hundred = record_generalise(values, level="100km")
    withheld = record_generalise(values, level="withhold")

    assert (ten["decimal_latitude"], ten["decimal_longitude"]) == (Decimal("51.5"), Decimal("-0.3"))
    assert ten["coordinate_uncertainty_in_meters"] == 10_000 and ten["coordinate_precision"] == Decimal("0.1")
    assert ten["locality"] == ten["habitat"] == ten["field_number"] == "" and ten["county"] == "Surrey"
    assert (str(hundred["decimal_latitude"]), str(hundred["decimal_longitude"])) == ("51", "0")
    assert hundred["county"] == "" and hundred["state_province"] == "England"
    assert withheld["decimal_latitude"] is None and withheld["coordinate_uncertainty_in_meters"] is None
    assert withheld["state_province"] == "" and withheld["minimum_elevation_in_meters"] is None
    for public in (ten, hundred, withheld):
        assert public["data_generalizations"] and "locality" in public["information_withheld"]
    assert record_generalise(values, level="none") == values


def _random_record(rng: random.Random) -> dict:
    has_point = rng.random() < 0.8
    lat = Decimal(rng.randint(-90_000_000, 90_000_000)) / 1_000_000 if has_point else None
    lon = Decimal(rng.randint(-180_000_000, 180_000_000)) / 1_000_000 if has_point else None
    if has_point and rng.random() < 0.2:  # ties at the rounding edge: half away from zero in both forms
        lat, lon = Decimal("10.050000"), Decimal("-3.450000")
    return {
        "decimal_latitude": lat, "decimal_longitude": lon,
        "coordinate_uncertainty_in_meters": rng.choice([None, 5.0, 25_000.0, 250_000.0]),
        "coordinate_precision": rng.choice([None, Decimal("0.0001")]),
        "locality": rng.choice(["", "Bog below the old quarry"]), "verbatim_locality": rng.choice(["", "3 mi NE of Ware"]),
        "habitat": rng.choice(["", "grid NN123456"]), "field_number": rng.choice(["", "FN 7"]),
        "record_number": rng.choice(["", "JH 1234"]), "location_id": rng.choice(["", "loc:9"]),
        "county": rng.choice(["", "Perthshire"]), "state_province": rng.choice(["", "Scotland"]),
        "minimum_elevation_in_meters": rng.choice([None, 300.0]), "maximum_depth_in_meters": rng.choice([None, 4.5]),
        "data_generalizations": rng.choice(["", "Dates rounded to the month"]),
        "information_withheld": rng.choice(["", "Collector's notes on request"]),
        "locality_sensitivity": rng.choice(LEVELS),
    }


def test_sql_form_and_record_function_agree_on_every_field():
    """200 records × own level × the taxon's inherited level: the SELECT and the function say the same."""
    rng = random.Random(20261207)
    collection = CollectionFactory()
    taxa = {}
    for level in LEVELS:
        genus = taxon_create(name=f"Genus{level}", rank="genus")
        taxon_sensitivity_set(taxon=genus, level=level)
        taxa[level] = taxon_create(name=f"Genus{level} species", rank="species", parent=genus)  # inherits
    specimens = []
    for _ in range(200):
        taxon = rng.choice([None, *taxa.values()])
        specimens.append(SpecimenFactory(collection=collection, taxon=taxon, **_random_record(rng)))

    columns = public_columns_sql("s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id, " + ", ".join(f"{columns[name]} AS {name}" for name in GENERALISED_FIELDS)
            + " FROM specimens_specimen s WHERE s.collection_id = %s", [collection.pk])
        by_sql = {row[0]: dict(zip(GENERALISED_FIELDS, row[1:])) for row in cursor.fetchall()}
        # The export form: the level worked out once per row in a LATERAL, read by every column.
        cursor.execute(f"SELECT s.id, {public_select_sql('s')} FROM specimens_specimen s {public_level_join_sql('s')} "
                       "WHERE s.collection_id = %s", [collection.pk])
        by_select = {row[0]: dict(zip(GENERALISED_FIELDS, row[1:])) for row in cursor.fetchall()}
    assert by_select == by_sql

    seen_levels = set()
    for specimen in Specimen.objects.filter(collection=collection).select_related("taxon"):
        by_function = specimen_public_values(specimen)
        seen_levels.add(specimen_sensitivity(specimen))
        assert by_sql[specimen.pk] == by_function, specimen.pk
    assert seen_levels == set(LEVELS)


def test_public_annotations_give_the_sql_form_on_a_queryset():
    specimen = SpecimenFactory(decimal_latitude=EXACT_LAT, decimal_longitude=EXACT_LON, locality_sensitivity="10km",
                               locality="Orchid bank")
    row = (Specimen.objects.filter(pk=specimen.pk)
           .values(**public_annotations(fields=("decimal_latitude", "locality", "locality_sensitivity"))).get())

    assert row == {"public_decimal_latitude": Decimal("51.5"), "public_locality": "", "public_locality_sensitivity": "10km"}


# --- taxa carry a level, inherited by descendants (finding 7) ------------------------------------


def test_a_taxon_level_is_inherited_by_existing_and_new_descendants():
    leaf = taxon_ensure_path(ranks=[("family", "Orchidaceae"), ("genus", "Ophrys"), ("species", "Ophrys apifera")])
    family = Taxon.objects.get(name="Orchidaceae")

    taxon_sensitivity_set(taxon=family, level="100km")
    later = taxon_create(name="Ophrys sphegodes", rank="species", parent=leaf.parent)
    imported = Taxon.objects.get(pk=next(iter(taxa_ensure(
        [[("family", "Orchidaceae", ""), ("genus", "Ophrys", ""), ("species", "Ophrys insectifera", "")]]).values())))

    leaf.refresh_from_db()
    assert (leaf.locality_sensitivity, leaf.effective_sensitivity) == ("none", "100km")
    assert later.effective_sensitivity == "100km" and Taxon.objects.get(pk=later.pk).effective_sensitivity == "100km"
    assert imported.effective_sensitivity == "100km"

    taxon_sensitivity_set(taxon=family, level="none")
    leaf.refresh_from_db()
    assert leaf.effective_sensitivity == "none"


def test_a_moved_subtree_takes_its_new_ancestors_level():
    secret = taxon_create(name="Secretaceae", rank="family")
    taxon_sensitivity_set(taxon=secret, level="withhold")
    genus = taxon_ensure_path(ranks=[("family", "Openaceae"), ("genus", "Movus")])
    species = taxon_create(name="Movus errans", rank="species", parent=genus)

    taxon_move(taxon=genus, new_parent=secret)

    species.refresh_from_db()
    assert species.effective_sensitivity == "withhold"


def test_a_record_takes_the_stricter_of_its_own_and_its_taxon_level():
    genus = taxon_create(name="Cypripedium", rank="genus")
    taxon_sensitivity_set(taxon=genus, level="100km")
    species = taxon_create(name="Cypripedium calceolus", rank="species", parent=genus)

    assert specimen_sensitivity(SpecimenFactory(taxon=species, locality_sensitivity="10km")) == "100km"
    assert specimen_sensitivity(SpecimenFactory(taxon=species, locality_sensitivity="withhold")) == "withhold"
    assert specimen_sensitivity(SpecimenFactory(taxon=None, locality_sensitivity="10km")) == "10km"


def test_a_sensitive_taxon_generalises_its_records_for_the_public(public_client):
    """Finding 7: Taxon.is_sensitive had no effect; the record's own level is 'none' here."""
    genus = taxon_create(name="Ophrys", rank="genus")
    taxon_sensitivity_set(taxon=genus, level="10km")
    specimen = SpecimenFactory(status=Specimen.Status.PUBLISHED, taxon=taxon_create(name="Ophrys apifera", rank="species", parent=genus),
                               decimal_latitude=EXACT_LAT, decimal_longitude=EXACT_LON, locality="Bee orchid bank by the weir")

    page = public_client.get(reverse("specimen_page", args=[specimen.uuid])).content.decode()
    detail = public_client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).json()
    row = public_client.get(reverse("specimens_api:specimen_list")).json()["results"][0]

    assert "Bee orchid bank" not in page and "51.478712" not in page and "51.5" in page
    assert detail["locality"] == "" and detail["decimal_latitude"] == "51.5" and detail["locality_sensitivity"] == "10km"
    assert (row["decimal_latitude"], row["decimal_longitude"]) == (51.5, -0.3)


# --- the public page, other institutions and the history page (findings 1, 2, 4) ----------------


@pytest.mark.parametrize("level", ["10km", "100km"])
def test_the_public_page_hides_the_locality_text_of_generalised_records(public_client, level):
    """Finding 1: coordinates were rounded, the locality text was shown as is."""
    specimen = SpecimenFactory(status=Specimen.Status.PUBLISHED, locality_sensitivity=level,
                               decimal_latitude=EXACT_LAT, decimal_longitude=EXACT_LON,
                               locality="Orchid bank behind the Palm House", verbatim_locality="by the Palm House")

    page = public_client.get(reverse("specimen_page", args=[specimen.uuid])).content.decode()

    assert "Palm House" not in page and "478712" not in page
    assert "Coordinates rounded" in page  # the page says what was done


def test_location_bearing_fields_are_hidden_from_anonymous_users(public_client):
    """Finding 4: habitat, county, stateProvince and fieldNumber reached anonymous users."""
    ten = SpecimenFactory(status=Specimen.Status.PUBLISHED, locality_sensitivity="10km", habitat="grid NN123456",
                          field_number="FN-77", county="Perthshire", state_province="Scotland")
    withheld = SpecimenFactory(status=Specimen.Status.PUBLISHED, locality_sensitivity="withhold", habitat="grid NN654321",
                               county="Argyll", state_province="Highlands", minimum_elevation_in_meters=1040)

    ten_api = public_client.get(reverse("specimens_api:specimen_detail", args=[ten.uuid])).json()
    withheld_api = public_client.get(reverse("specimens_api:specimen_detail", args=[withheld.uuid])).json()
    pages = "".join(public_client.get(reverse("specimen_page", args=[s.uuid])).content.decode() for s in (ten, withheld))

    assert (ten_api["habitat"], ten_api["field_number"], ten_api["county"]) == ("", "", "Perthshire")
    assert (withheld_api["county"], withheld_api["state_province"], withheld_api["minimum_elevation_in_meters"]) == ("", "", None)
    for secret in ("NN123456", "FN-77", "NN654321", "Argyll", "Highlands"):
        assert secret not in pages


@pytest.fixture
def sensitive_with_history(institution, user_with_role):
    """A published 100 km record whose locality and coordinates were edited once (so its history diffs hold them)."""
    from specimens.services import specimen_create, specimen_publish, specimen_update

    curator = user_with_role(Role.CURATOR, institution)
    collection = CollectionFactory(institution=institution)
    taxon_create(name="Cypripedium calceolus", rank="species")
    specimen = specimen_create(collection=collection, user=curator, data={
        "catalog_number": "S-1", "scientific_name": "Cypripedium calceolus", "locality_sensitivity": "100km",
        "locality": "First secret glade", "decimal_latitude": EXACT_LAT, "decimal_longitude": EXACT_LON,
        "county": "Yorkshire Dales secret county"})
    specimen = specimen_update(specimen=specimen, expected_version=specimen.version, user=curator, data={
        "locality": "Second secret glade", "decimal_latitude": Decimal("54.123456"), "decimal_longitude": Decimal("-2.345678")})
    return specimen_publish(specimen=specimen, user=curator)


SECRETS = ("secret glade", "478712", "295634", "123456", "345678", "secret county")


@pytest.mark.parametrize("role", [Role.CURATOR, Role.COLLECTION_MANAGER, Role.DIGITISER, Role.PROGRAMME_MANAGER])
def test_other_institutions_staff_get_generalised_pages_and_history(client_for, other_institution, sensitive_with_history, role):
    """Finding 2: another institution's staff saw exact localities on the curate page and history diffs."""
    client = client_for(role, other_institution)

    detail = client.get(reverse("specimens:curate_detail", args=[sensitive_with_history.uuid]))
    history = client.get(reverse("specimens:curate_history", args=[sensitive_with_history.uuid]))

    assert detail.status_code == history.status_code == 200
    for secret in SECRETS:
        assert secret not in detail.content.decode() and secret not in history.content.decode(), secret
    assert "54.0" in detail.content.decode() or "54" in detail.content.decode()


def test_the_owning_institution_sees_exact_values_in_page_and_history(curator_client, sensitive_with_history):
    detail = curator_client.get(reverse("specimens:curate_detail", args=[sensitive_with_history.uuid])).content.decode()
    history = curator_client.get(reverse("specimens:curate_history", args=[sensitive_with_history.uuid])).content.decode()

    assert "Second secret glade" in detail and "54.123456" in detail
    assert "First secret glade" in history and "Second secret glade" in history


def test_programme_managers_get_generalised_api_values(programme_manager_client, sensitive_with_history):
    detail = programme_manager_client.get(reverse("specimens_api:specimen_detail", args=[sensitive_with_history.uuid])).json()
    row = programme_manager_client.get(reverse("specimens_api:specimen_list")).json()["results"][0]

    assert detail["locality"] == "" and detail["decimal_latitude"] == "54" and detail["county"] == ""
    assert (row["decimal_latitude"], row["decimal_longitude"]) == (54.0, -2.0)


def test_a_generalised_copy_cannot_be_saved(sensitive_with_history, client_for, other_institution):
    from specimens.public import specimen_for_viewer

    outsider = client_for(Role.CURATOR, other_institution).user
    shown = specimen_for_viewer(user=outsider, specimen=Specimen.objects.select_related("taxon").get(pk=sensitive_with_history.pk))

    with pytest.raises(RuntimeError):
        shown.save()
    assert Specimen.objects.get(pk=sensitive_with_history.pk).locality == "Second secret glade"
