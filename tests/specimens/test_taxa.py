import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from specimens.models import TAXON_PATH_STEP, Taxon
from specimens.selectors import taxon_children, taxon_descendants
from specimens.services import taxon_create, taxon_ensure_path, taxon_move

pytestmark = pytest.mark.django_db

TaxonEvent = apps.get_model("specimens", "TaxonEvent")


@pytest.fixture
def tree():
    """Plantae ─ Asteraceae ─ Bellis ─ B. perennis
                          └ Taraxacum
               └ Rosaceae
       Animalia ─ Insecta"""
    t = {}
    t["plantae"] = taxon_create(name="Plantae", rank="kingdom")
    t["asteraceae"] = taxon_create(name="Asteraceae", rank="family", parent=t["plantae"])
    t["bellis"] = taxon_create(name="Bellis", rank="genus", parent=t["asteraceae"])
    t["perennis"] = taxon_create(name="Bellis perennis", rank="species", parent=t["bellis"], authorship="L.")
    t["taraxacum"] = taxon_create(name="Taraxacum", rank="genus", parent=t["asteraceae"])
    t["rosaceae"] = taxon_create(name="Rosaceae", rank="family", parent=t["plantae"])
    t["animalia"] = taxon_create(name="Animalia", rank="kingdom")
    t["insecta"] = taxon_create(name="Insecta", rank="class", parent=t["animalia"])
    return t


def assert_tree_consistent():
    """Every path is its parent's path plus its own fixed-width segment; depth follows the path."""
    rows = {t.pk: t for t in Taxon.objects.all()}
    for taxon in rows.values():
        assert len(taxon.path) % TAXON_PATH_STEP == 0
        assert taxon.depth == len(taxon.path) // TAXON_PATH_STEP - 1
        parent_path = rows[taxon.parent_id].path if taxon.parent_id else ""
        assert taxon.path == parent_path + taxon.path[-TAXON_PATH_STEP:]
        assert int(taxon.path[-TAXON_PATH_STEP:], 36) == taxon.pk


def test_taxon_create_writes_exactly_one_row(tree):
    before = Taxon.objects.count()

    with CaptureQueriesContext(connection) as ctx:
        taxon = taxon_create(name="Bellis  annua", rank="species", parent=tree["bellis"], authorship="L.")

    sql = [q["sql"] for q in ctx.captured_queries]
    # pghistory prefixes its context to the statement, so look inside each one
    assert sum('INSERT INTO "specimens_taxon"' in q for q in sql) == 1
    assert not any(word in q for q in sql for word in ('UPDATE "specimens_taxon"', 'DELETE FROM "specimens_taxon"'))
    assert Taxon.objects.count() == before + 1
    assert taxon.name == "Bellis annua"
    assert taxon.path.startswith(tree["bellis"].path) and taxon.depth == 3
    assert (taxon.kingdom, taxon.family, taxon.genus) == ("Plantae", "Asteraceae", "Bellis")
    assert_tree_consistent()


def test_taxon_create_returns_the_existing_node_for_the_same_name_and_parent(tree):
    again = taxon_create(name="Bellis", rank="genus", parent=tree["asteraceae"])

    assert again.pk == tree["bellis"].pk
    assert Taxon.objects.count() == len(tree)


def test_taxon_ensure_path_reuses_existing_nodes(tree):
    leaf = taxon_ensure_path(ranks=[("kingdom", "Plantae"), ("family", "Asteraceae"), ("genus", "Bellis"),
                                    ("species", "Bellis annua")], authorship="L.")

    assert leaf.parent_id == tree["bellis"].pk
    assert Taxon.objects.count() == len(tree) + 1


def test_descendants_are_a_prefix_match(tree):
    names = set(taxon_descendants(taxon=tree["asteraceae"]).values_list("name", flat=True))
    strict = set(taxon_descendants(taxon=tree["asteraceae"], include_self=False).values_list("name", flat=True))

    assert names == {"Asteraceae", "Bellis", "Bellis perennis", "Taraxacum"}
    assert strict == {"Bellis", "Bellis perennis", "Taraxacum"}
    assert set(taxon_children(taxon=None).values_list("name", flat=True)) == {"Plantae", "Animalia"}


def test_taxon_move_rewrites_only_the_moved_subtree(tree):
    untouched = {t.pk: (t.path, t.depth, t.parent_id) for t in Taxon.objects.exclude(
        pk__in=[tree["bellis"].pk, tree["perennis"].pk])}
    last_event = TaxonEvent.objects.order_by("-pgh_id").values_list("pgh_id", flat=True).first()

    moved = taxon_move(taxon=tree["bellis"], new_parent=tree["rosaceae"])

    assert moved.parent_id == tree["rosaceae"].pk
    assert moved.path == tree["rosaceae"].path + tree["bellis"].path[-TAXON_PATH_STEP:] and moved.depth == 2
    perennis = Taxon.objects.get(pk=tree["perennis"].pk)
    assert perennis.path.startswith(moved.path) and perennis.depth == 3
    now = {t.pk: (t.path, t.depth, t.parent_id) for t in Taxon.objects.filter(pk__in=untouched)}
    assert now == untouched
    written = set(TaxonEvent.objects.filter(pgh_id__gt=last_event).values_list("pgh_obj_id", "pgh_label"))
    assert written == {(tree["bellis"].pk, "update"), (tree["perennis"].pk, "update")}
    assert set(taxon_descendants(taxon=tree["rosaceae"]).values_list("name", flat=True)) == {
        "Rosaceae", "Bellis", "Bellis perennis"}
    assert_tree_consistent()


def test_taxon_move_to_the_root_and_across_kingdoms(tree):
    taxon_move(taxon=tree["asteraceae"], new_parent=None)
    root = Taxon.objects.get(pk=tree["asteraceae"].pk)
    assert root.parent_id is None and root.depth == 0 and len(root.path) == TAXON_PATH_STEP

    taxon_move(taxon=tree["asteraceae"], new_parent=tree["insecta"])

    assert_tree_consistent()
    assert Taxon.objects.get(pk=tree["perennis"].pk).depth == 4
    assert taxon_descendants(taxon=tree["animalia"]).count() == 6


@pytest.mark.parametrize("target", ["asteraceae", "bellis", "perennis"])
def test_taxon_move_under_itself_or_a_descendant_is_refused(tree, target):
    paths = dict(Taxon.objects.values_list("pk", "path"))

    with pytest.raises(ValidationError, match="cannot be moved under itself or its descendants"):
        taxon_move(taxon=tree["asteraceae"], new_parent=tree[target])

    assert dict(Taxon.objects.values_list("pk", "path")) == paths


def test_taxon_paths_are_unique_in_the_database(tree):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Taxon.objects.create(name="Clash", path=tree["bellis"].path)
