import csv
import io

import pytest

from institutions.models import Role
from specimens.models import ImportBatch, Specimen
from tests.factories.institutions import CollectionFactory, InstitutionFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = (
    "catalogNumber\tscientificName\teventDate\tdecimalLatitude\tdecimalLongitude\tcountryCode\tbasisOfRecord\n"
    "E00000001\tBellis perennis L.\t1898-06-14\t55.96\t-3.21\tGB\tPreservedSpecimen\n"
    "E00000002\tPrimula vulgaris Huds.\t1901-05-02\t95.2\t-3.1\tGB\tPreservedSpecimen\n"
    "E00000003\tViola riviniana Rchb.\t2999-01-01\t\t\tGB\tPreservedSpecimen\n"
)


def test_an_import_with_bad_rows_shows_its_report(live_server, page, celery_worker_process, tmp_path, screenshots_dir):
    institution = InstitutionFactory(code="E", name="Royal Botanic Garden Edinburgh")
    collection = CollectionFactory(institution=institution, code="HERB", name="Herbarium")
    MembershipFactory(user=UserFactory(username="curator"), institution=institution, role=Role.CURATOR)
    upload = tmp_path / "herbarium sheets.tsv"
    upload.write_text(ROWS)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("curator")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/curate/imports/")
    page.get_by_label("Collection").select_option(label=str(collection))
    page.get_by_label("Darwin Core Archive or CSV/TSV").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()

    # The page polls the batch row (htmx) until the worker has finished.
    page.locator(".count-rejected").wait_for(timeout=60_000)
    assert page.locator(".count-inserted").inner_text() == "1"
    assert page.locator(".count-rejected").inner_text() == "2"
    problems = page.locator("table.row-errors tbody tr")
    assert problems.count() >= 2
    assert {problems.nth(i).locator("td").first.inner_text() for i in range(problems.count())} == {"3", "4"}
    page.screenshot(path=f"{screenshots_dir}/import-report.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (CSV)").click()
    report = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert report[0][:4] == ["line", "field", "value", "problem"]
    assert {row[0] for row in report[1:]} >= {"3", "4"}

    assert list(Specimen.objects.filter(collection=collection).values_list("catalog_number", flat=True)) == ["E00000001"]
    batch = ImportBatch.objects.get()
    assert batch.status == "done"
    assert not (tmp_path / "herbarium sheets.tsv").read_text() == ""  # the user's own file is untouched


def test_a_curator_imports_a_checklist_into_the_tree(live_server, page, celery_worker_process, screenshots_dir):
    from specimens.models import Taxon
    from tests.paths import DWCA

    institution = InstitutionFactory(code="E", name="Royal Botanic Garden Edinburgh")
    CollectionFactory(institution=institution, code="HERB", name="Herbarium")
    MembershipFactory(user=UserFactory(username="curator"), institution=institution, role=Role.CURATOR)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("curator")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/curate/imports/")
    assert page.get_by_label("Collection").is_visible()
    page.get_by_label("Taxonomic checklist (names into the tree)").check()
    assert not page.get_by_label("Collection").is_visible()  # a checklist goes into the shared tree
    page.get_by_label("Darwin Core Archive or CSV/TSV").set_input_files(str(DWCA / "gbif-dwca-io/checklist_980.zip"))
    page.screenshot(path=f"{screenshots_dir}/import-checklist-form.png", full_page=True)
    page.get_by_role("button", name="Upload and import").click()

    page.locator(".count-synonyms").wait_for(timeout=60_000)
    assert page.locator(".count-inserted").inner_text() == str(Taxon.objects.count())
    assert page.locator(".count-rejected").inner_text() == "36"
    assert page.get_by_role("link", name="Undo this import").count() == 0
    page.screenshot(path=f"{screenshots_dir}/import-checklist-done.png", full_page=True)

    page.goto(live_server.url + "/curate/imports/")
    assert page.locator("td.import-kind-taxa").inner_text() == "Checklist"
    page.screenshot(path=f"{screenshots_dir}/import-list.png", full_page=True)
