import pytest
from django.urls import reverse

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive

from . import files

pytestmark = pytest.mark.django_db


def _unmatched(batch, tmp_path):
    path = files.write(files.page(640, 480), tmp_path / "IMG_0042.jpg")
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
    image_asset_process(asset_id=asset.pk)
    asset.refresh_from_db()
    assert asset.status == ImageAsset.Status.NEEDS_ATTENTION
    return asset


def test_curator_links_a_waiting_image_by_catalogue_number(batch, specimen, tmp_path, media, client_for, institution):
    asset = _unmatched(batch, tmp_path)
    curator = client_for("curator", institution)

    page = curator.get(reverse("imaging:unmatched_list"))
    assert page.status_code == 200 and "IMG_0042.jpg" in page.content.decode()

    response = curator.post(reverse("imaging:unmatched_link", args=[asset.uuid]), {"catalog_number": "NHMUK 010123456"})

    assert response.status_code == 302
    asset.refresh_from_db()
    specimen.refresh_from_db()
    assert (asset.status, asset.specimen_id, asset.link_method) == (ImageAsset.Status.DONE, specimen.pk, "manual")
    assert specimen.media_count == 1
    after = curator.get(reverse("imaging:unmatched_list")).content.decode()
    assert "Linked IMG_0042.jpg to NHMUK010123456." in after
    assert f'id="unmatched-{asset.uuid}"' not in after


def test_an_unknown_catalogue_number_keeps_the_image_waiting_with_a_message(batch, specimen, tmp_path, media, client_for, institution):
    asset = _unmatched(batch, tmp_path)
    curator = client_for("curator", institution)

    response = curator.post(reverse("imaging:unmatched_link", args=[asset.uuid]), {"catalog_number": "NHMUK999"})

    assert response.status_code == 400
    assert "No specimen with catalogue number &#x27;NHMUK999&#x27;" in response.content.decode()
    assert 'value="NHMUK999"' in response.content.decode()
    asset.refresh_from_db()
    assert asset.status == ImageAsset.Status.NEEDS_ATTENTION and asset.specimen_id is None


def test_another_institution_cannot_see_or_link_the_image(batch, specimen, tmp_path, media, client_for, other_institution):
    asset = _unmatched(batch, tmp_path)
    stranger = client_for("curator", other_institution)

    assert "IMG_0042.jpg" not in stranger.get(reverse("imaging:unmatched_list")).content.decode()
    assert stranger.post(reverse("imaging:unmatched_link", args=[asset.uuid]), {"catalog_number": "NHMUK010123456"}).status_code == 404


def test_the_queue_shows_each_code_read_and_why_and_links_a_mistyped_number_in_one_click(
        batch, specimen, tmp_path, media, client_for, institution):
    import zxingcpp

    page = files.with_barcode(files.page(900, 400), "https://colour-charts.example.org/chart/7", zxingcpp.BarcodeFormat.QRCode,
                              scale=3)
    page = page.insert(files.with_barcode(files.page(500, 150), "NHMUK010123465"), 380, 0)  # two digits swapped
    path = files.write(page, tmp_path / "DSC_0099.png")
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
    image_asset_process(asset_id=asset.pk)
    curator = client_for("curator", institution)

    html = curator.get(reverse("imaging:unmatched_list")).content.decode()

    assert '<span class="code">NHMUK010123465</span> <span class="muted">Code 128:</span> no specimen or preparation at ' \
        f'{institution.code} has this number' in html
    assert "https://colour-charts.example.org/chart/7</span> <span class=\"muted\">QR code:</span> a web address" in html
    assert '<input type="hidden" name="catalog_number" value="NHMUK010123456">' in html
    response = curator.post(reverse("imaging:unmatched_link", args=[asset.uuid]), {"catalog_number": "NHMUK010123456"})
    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.status, asset.specimen_id, asset.link_method) == (ImageAsset.Status.DONE, specimen.pk, "manual")
