"""Exhibitions: sanitised text, regions checked against the image, thumbnails cut by a task, drafts for staff only."""

import pyvips
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.urls import reverse

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive, imaging_batch_create
from institutions.models import Role
from portal.models import Exhibition, ExhibitionItem
from portal.services import (
    exhibition_create,
    exhibition_item_add,
    exhibition_item_thumbnail_cut,
    exhibition_publish,
    exhibition_text_clean,
    region_parse,
)
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory
from tests.imaging import files

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_WORK_DIR = str(tmp_path / "work")


@pytest.fixture
def curator(user_with_role, institution):
    return user_with_role(Role.CURATOR, institution)


@pytest.fixture
def specimen(institution):
    return SpecimenFactory(collection=CollectionFactory(institution=institution, code="BOT"), catalog_number="BOT0001",
                           status=Specimen.Status.PUBLISHED, scientific_name="Quercus robur L.")


@pytest.fixture
def image(media, institution, specimen, tmp_path, imaging_tasks_parked):
    """A real 1,200 × 1,800 sheet through the real pipeline (here, not in a worker)."""
    path = files.write(files.page(1200, 1800), tmp_path / "BOT0001.jpg", Q=90)
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=imaging_batch_create(institution=institution, name="Tray"), name=path.name,
                                    source=f, size=path.stat().st_size)
    image_asset_process(asset_id=asset.pk)
    asset.refresh_from_db()
    assert asset.status == ImageAsset.Status.DONE and asset.specimen_id == specimen.pk
    return asset


@pytest.fixture
def exhibition(institution, curator):
    return exhibition_create(institution=institution, title="Oaks of England", text="<p>Oaks.</p>", user=curator)


# --- text ---------------------------------------------------------------------------------------


def test_exhibition_text_keeps_simple_html_and_drops_scripts_and_handlers():
    dirty = ('<h2>Oaks</h2><p onclick="steal()">An <em>oak</em> <a href="javascript:alert(1)">link</a> '
             '<a href="https://kew.org" onmouseover="x()">Kew</a></p><script>alert(1)</script>'
             '<img src=x onerror="alert(1)"><style>body{}</style><iframe src="https://evil"></iframe>')

    clean = exhibition_text_clean(dirty)

    assert "<h2>Oaks</h2>" in clean and "<em>oak</em>" in clean and 'href="https://kew.org"' in clean
    for bad in ("script", "onclick", "onerror", "onmouseover", "javascript:", "<img", "<style", "<iframe", "alert"):
        assert bad not in clean


def test_the_exhibition_page_shows_only_sanitised_text(public_client, exhibition, curator, specimen):
    Exhibition.objects.filter(pk=exhibition.pk).update(text=exhibition_text_clean('<p>Hi<script>alert("x")</script></p>'))
    exhibition_item_add(exhibition=exhibition, specimen=specimen, caption="<b onclick='x()'>Look</b>", user=curator)
    exhibition_publish(exhibition=exhibition, user=curator)

    html = public_client.get(reverse("portal:exhibition_detail", args=[exhibition.slug])).content.decode()

    assert "<p>Hi</p>" in html and "<b>Look</b>" in html and 'alert("x")' not in html and "onclick" not in html


def test_an_exhibition_address_must_be_free(institution, curator, exhibition):
    for slug in ("oaks-of-england", "new"):
        with pytest.raises(ValidationError, match="already uses the address"):
            exhibition_create(institution=institution, title="Other", slug=slug, user=curator)
    with pytest.raises(ValidationError, match="an address with letters or numbers"):
        exhibition_create(institution=institution, title="!!!", user=curator)  # nothing to make an address from


# --- regions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", [(0, 0, 1201, 10), (1100, 0, 101, 10), (0, 1700, 10, 101), (1200, 0, 1, 1),
                                    (0, 0, 1200, 1801)])
def test_a_region_reaching_outside_the_image_is_refused(exhibition, specimen, image, curator, region):
    with pytest.raises(ValidationError, match="reaches outside the image, which is 1200 × 1800 pixels"):
        exhibition_item_add(exhibition=exhibition, specimen=specimen, image=image, region=region, user=curator)
    assert not exhibition.items.exists()


@pytest.mark.parametrize("values, message", [
    (("1", "2", "", "4"), "four whole numbers"), (("a", "0", "1", "1"), "four whole numbers"),
    (("-1", "0", "5", "5"), "four whole numbers"), (("1.5", "0", "5", "5"), "four whole numbers"),
])
def test_region_values_must_be_four_whole_numbers(values, message):
    with pytest.raises(ValidationError, match=message):
        region_parse(*values)
    assert region_parse("", " ", None, "") is None


def test_an_empty_region_and_a_region_without_an_image_are_refused(exhibition, specimen, image, curator):
    with pytest.raises(ValidationError, match="at least 1 pixel"):
        exhibition_item_add(exhibition=exhibition, specimen=specimen, image=image, region=(0, 0, 0, 5), user=curator)
    with pytest.raises(ValidationError, match="Choose the image"):
        exhibition_item_add(exhibition=exhibition, specimen=specimen, region=(0, 0, 5, 5), user=curator)


def test_the_region_thumbnail_is_queued_at_commit_and_cut_by_the_task(exhibition, specimen, image, curator,
                                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        item = exhibition_item_add(exhibition=exhibition, specimen=specimen, image=image, region=(600, 900, 400, 200),
                                   user=curator)
    assert item.thumbnail_status == ExhibitionItem.ThumbnailStatus.PENDING and len(callbacks) == 1

    assert exhibition_item_thumbnail_cut(item_id=item.pk) == "done"
    assert exhibition_item_thumbnail_cut(item_id=item.pk) is None  # a redelivery does nothing

    item.refresh_from_db()
    cut = pyvips.Image.new_from_buffer(default_storage.open(item.thumbnail_key, "rb").read(), "")
    assert (cut.width, cut.height) == (item.thumbnail_width, item.thumbnail_height)
    assert abs(cut.width / cut.height - 2.0) < 0.05  # the region's 400 × 200 shape
    assert exhibition_item_thumbnail_cut(item_id=10**9) is None  # a vanished row is skipped


def test_only_published_specimens_of_the_institution_can_be_exhibited(exhibition, curator, institution, other_institution):
    draft = SpecimenFactory(collection=CollectionFactory(institution=institution), status=Specimen.Status.DRAFT)
    theirs = SpecimenFactory(collection=CollectionFactory(institution=other_institution), status=Specimen.Status.PUBLISHED)
    with pytest.raises(ValidationError, match="Only published specimens"):
        exhibition_item_add(exhibition=exhibition, specimen=draft, user=curator)
    with pytest.raises(ValidationError, match="another institution"):
        exhibition_item_add(exhibition=exhibition, specimen=theirs, user=curator)


# --- who sees and changes what -----------------------------------------------------------------


@pytest.mark.parametrize("role, own, sees", [
    (None, False, False), (Role.CURATOR, True, True), (Role.COLLECTION_MANAGER, True, True), (Role.CURATOR, False, False),
    (Role.DIGITISER, True, False), (Role.PROGRAMME_MANAGER, False, False), ("admin", False, True),
])
def test_a_draft_is_visible_to_its_institution_s_curators_only(client_for, institution, other_institution, exhibition,
                                                               role, own, sees):
    client = client_for(role, institution if own else other_institution)

    detail = client.get(reverse("portal:exhibition_detail", args=[exhibition.slug]))
    listing = client.get(reverse("portal:exhibition_list")).content.decode()

    assert detail.status_code == (200 if sees else 404)
    assert ("Oaks of England" in listing) is sees


def test_a_curator_of_another_institution_cannot_change_it(client_for, other_institution, exhibition, specimen):
    other = client_for(Role.CURATOR, other_institution)
    assert other.post(reverse("portal:exhibition_status", args=[exhibition.slug]), {"action": "publish"}).status_code == 404
    with pytest.raises(PermissionDenied):
        exhibition_item_add(exhibition=exhibition, specimen=specimen, user=other.user)
    digitiser = client_for(Role.DIGITISER, exhibition.institution)
    assert digitiser.get(reverse("portal:exhibition_create")).status_code == 403


def test_publishing_needs_a_specimen_and_then_the_public_sees_it_from_the_home_page(exhibition, specimen, curator,
                                                                                      public_client):
    with pytest.raises(ValidationError, match="at least one specimen"):
        exhibition_publish(exhibition=exhibition, user=curator)
    exhibition_item_add(exhibition=exhibition, specimen=specimen, user=curator)
    exhibition_publish(exhibition=exhibition, user=curator)

    assert public_client.get(reverse("portal:exhibition_detail", args=[exhibition.slug])).status_code == 200
    assert "Oaks of England" in public_client.get(reverse("home")).content.decode()

    Specimen.objects.filter(pk=specimen.pk).update(status=Specimen.Status.WITHDRAWN)  # withdrawn later: the story skips it
    assert "BOT0001" not in public_client.get(reverse("portal:exhibition_detail", args=[exhibition.slug])).content.decode()


def test_a_curator_composes_an_exhibition_through_the_pages(client_for, institution, specimen, image):
    client = client_for(Role.CURATOR, institution)

    created = client.post(reverse("portal:exhibition_create"), {"institution": institution.pk, "title": "Leaves",
                                                                "text": "<p>Look <script>x()</script>closely.</p>"})
    slug = created["Location"].rstrip("/").split("/")[-2]
    outside = client.post(reverse("portal:exhibition_item_add", args=[slug]),
                          {"catalog_number": "BOT0001", "x": "1000", "y": "0", "w": "300", "h": "10"})
    inside = client.post(reverse("portal:exhibition_item_add", args=[slug]),
                         {"catalog_number": "BOT0001", "x": "100", "y": "200", "w": "300", "h": "150", "caption": "Here"})
    published = client.post(reverse("portal:exhibition_status", args=[slug]), {"action": "publish"})

    assert created.status_code == 302 and outside.status_code == 400
    assert "1200 × 1800" in outside.content.decode()
    assert inside.status_code == 302 and published.status_code == 302
    exhibition = Exhibition.objects.get(slug=slug)
    assert exhibition.text == "<p>Look closely.</p>" and exhibition.status == "published"
    item = exhibition.items.get()
    assert item.region == (100, 200, 300, 150) and item.image_id == image.pk
    html = client.get(reverse("portal:exhibition_detail", args=[slug])).content.decode()
    assert 'data-region="[100, 200, 300, 150]"' in html
