import io
import re
import uuid
from decimal import Decimal

import pytest
from django.apps import apps
from django.db.models import Count
from django.core.management import call_command
from django.utils import timezone

from institutions.models import CollectionMetric
from seeds.synthetic import catalog_number_format, specimens_generate
from specimens.dates import parse_event_date
from specimens.models import Identification, Specimen, Taxon
from specimens.services import catalog_number_normalise, occurrence_id_mint

from ..factories.institutions import CollectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def herbarium(institution):
    return CollectionFactory(institution=institution, code="HERB", name="Herbarium", discipline="Botany",
                             barcode_pattern=r"^E\d{8}$")


def test_generate_makes_valid_specimens_of_fitting_species_in_the_collection(herbarium):
    added = specimens_generate(collection=herbarium, count=500, seed=3)

    rows = list(Specimen.objects.filter(collection=herbarium).select_related("taxon"))
    assert added == 500 and len(rows) == 500
    numbers = [s.catalog_number for s in rows]
    assert len(set(numbers)) == 500
    assert all(re.fullmatch(r"E\d{8}", n) for n in numbers)
    assert all(s.catalog_number_normalised == catalog_number_normalise(s.catalog_number) for s in rows)
    assert all(s.occurrence_id == occurrence_id_mint(s.uuid) for s in rows)
    assert len({s.occurrence_id for s in rows}) == 500
    assert {s.institution_id for s in rows} == {herbarium.institution_id}

    # names: species of the tree that fit the collection
    for specimen in Specimen.objects.filter(collection=herbarium).select_related("taxon"):
        taxon = specimen.taxon
        assert taxon.rank == "species"
        assert specimen.scientific_name == str(taxon)
        assert taxon.kingdom in ("Plantae", "Fungi")  # a herbarium holds plants and fungi
        root = Taxon.objects.get(path=taxon.path[:7])
        assert root.rank == "kingdom" and root.name == taxon.kingdom
        assert taxon.genus == taxon.name.split()[0]
    assert Specimen.objects.filter(collection=herbarium).values("taxon").distinct().count() > 20


def test_generated_dates_coordinates_and_statuses_are_plausible(herbarium):
    specimens_generate(collection=herbarium, count=500, seed=3)
    today = timezone.localdate()

    rows = list(Specimen.objects.filter(collection=herbarium))
    dated = [s for s in rows if s.event_date]
    assert 0.8 * len(rows) < len(dated) < len(rows)  # a few labels carry no date
    for s in dated:
        parsed = parse_event_date(s.event_date)
        assert (s.event_date_start, s.event_date_end) == (parsed.start, parsed.end)
        assert (s.year, s.month, s.day) == (parsed.year, parsed.month, parsed.day)
        assert s.event_date_end <= today
    assert any("/" in s.event_date for s in dated) and any(len(s.event_date) == 4 for s in dated)
    assert sum(1850 <= s.event_date_start.year <= 1990 for s in dated) > 0.7 * len(dated)

    located = [s for s in rows if s.decimal_latitude is not None]
    assert 0.5 * len(rows) < len(located) < len(rows)
    for s in rows:
        assert (s.decimal_latitude is None) == (s.decimal_longitude is None)
    for s in located:
        assert Decimal(-90) <= s.decimal_latitude <= Decimal(90)
        assert Decimal(-180) <= s.decimal_longitude <= Decimal(180)
    assert sum(s.country_code == "GB" for s in rows) > 0.8 * len(rows)

    # statuses: mostly published (the default share is 0.8), and a mix of the others
    counts = {row["status"]: row["n"] for row in
              Specimen.objects.filter(collection=herbarium).values("status").annotate(n=Count("id"))}
    assert 350 < counts["published"] < 450
    assert counts.get("draft", 0) > 0 and counts.get("in_review", 0) > 0
    assert Specimen.objects.filter(status="published", published_at__isnull=True).count() == 0
    assert all(s.withdrawn_reason for s in Specimen.objects.filter(status="withdrawn"))


def test_generate_adds_one_current_identification_and_one_set_based_insert_event_each(herbarium):
    specimen_events = apps.get_model("specimens", "SpecimenEvent")
    before = specimen_events.objects.count()

    specimens_generate(collection=herbarium, count=300, seed=1)

    current = Identification.objects.filter(specimen__collection=herbarium, is_current=True)
    assert current.count() == 300
    assert current.values("specimen").distinct().count() == 300
    sample = current.select_related("specimen").first()
    assert sample.taxon_id == sample.specimen.taxon_id
    assert sample.verbatim_identification == sample.specimen.scientific_name
    # Each record's version 1, written set-based (the row triggers are skipped): one event each.
    assert specimen_events.objects.count() == before + 300
    assert set(specimen_events.objects.filter(pgh_obj__collection=herbarium).values_list("pgh_label", "version")) == {
        ("insert", 1)}


def test_a_second_run_adds_more_without_collisions(herbarium):
    specimens_generate(collection=herbarium, count=500, seed=3)
    taxa_after_first = Taxon.objects.count()

    specimens_generate(collection=herbarium, count=500, seed=3)

    rows = Specimen.objects.filter(collection=herbarium)
    assert rows.count() == 1000
    assert rows.values("catalog_number").distinct().count() == 1000
    assert rows.values("uuid").distinct().count() == 1000
    assert Taxon.objects.count() == taxa_after_first  # the tree is reused, not duplicated


def test_generated_uuids_are_time_ordered_version_7(herbarium):
    specimens_generate(collection=herbarium, count=300, seed=1)

    rows = list(Specimen.objects.filter(collection=herbarium).order_by("id").values_list("uuid", flat=True))
    identifications = list(Identification.objects.filter(specimen__collection=herbarium).order_by("specimen_id")
                           .values_list("uuid", flat=True))
    for uuids in (rows, identifications):
        assert {u.version for u in uuids} == {7} and {u.variant for u in uuids} == {uuid.RFC_4122}
        assert uuids == sorted(uuids)  # they grow with the id: each insert lands at the index's right edge


def test_generate_records_the_collection_count(herbarium):
    specimens_generate(collection=herbarium, count=200)

    metric = CollectionMetric.objects.filter(collection=herbarium, measurement_type="digitised",
                                             derivation="calculated").latest("measured_on")
    assert metric.value == 200


def test_generate_rejects_a_non_positive_count(herbarium):
    with pytest.raises(ValueError, match="positive number"):
        specimens_generate(collection=herbarium, count=0)


@pytest.mark.parametrize(("pattern", "expected"), [
    (r"^BM\d{9}$", ("BM", 9)),
    (r"^NHMUK\d{9}$", ("NHMUK", 9)),
    (r"^E\d{8}$", ("E", 8)),
    (r"^K[0-9]{6}$", ("K", 6)),
    ("", ("ZOO", 8)),
    (r"^(BM|NHMUK)\d+$", ("ZOO", 8)),
])
def test_catalog_number_format_follows_the_barcode_pattern(institution, pattern, expected):
    collection = CollectionFactory(institution=institution, code="ZOO", barcode_pattern=pattern)
    assert catalog_number_format(collection) == expected


def test_generate_specimens_command_prints_a_summary(herbarium):
    out = io.StringIO()
    call_command("generate_specimens", "--count", "50", "--collection", "OWN:HERB", "--seed", "2", stdout=out)

    assert re.match(r"generated 50 specimens in OWN:HERB in [\d.]+ s \([\d,]+ rows/s", out.getvalue())
    assert Specimen.objects.filter(collection=herbarium).count() == 50
