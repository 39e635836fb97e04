import pytest
from django.urls import reverse

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive
from specimens.models import Specimen

from . import files

pytestmark = pytest.mark.django_db


@pytest.fixture
def asset(batch, specimen, tmp_path):
    path = files.write(files.page(1300, 700), tmp_path / "NHMUK010123456_1.tif")
    with open(path, "rb") as f:
        asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
    image_asset_process(asset_id=asset.pk)
    asset.refresh_from_db()
    assert asset.status == ImageAsset.Status.DONE
    return asset


def test_image_service_base_redirects_303_to_info_json(public_client, asset):
    response = public_client.get(f"/iiif/3/{asset.uuid}")

    assert response.status_code == 303
    assert response["Location"] == f"http://testserver/iiif/3/{asset.uuid}/info.json"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_info_json_is_level0_json_ld_with_sizes_and_tiles(public_client, asset):
    response = public_client.get(f"/iiif/3/{asset.uuid}/info.json")

    assert response.status_code == 200
    assert response["Content-Type"] == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=86400"
    info = response.json()
    assert info["id"] == f"http://testserver/iiif/3/{asset.uuid}"
    assert (info["type"], info["profile"], info["protocol"]) == ("ImageService3", "level0", "http://iiif.io/api/image")
    assert (info["width"], info["height"]) == (1300, 700)
    assert {"width": 256, "height": 138} in info["sizes"]
    assert info["tiles"][0]["width"] == 512 and info["tiles"][0]["scaleFactors"][0] == 1
    assert info["rights"] == "https://creativecommons.org/licenses/by/4.0/"


def test_every_size_and_a_tile_are_served_as_jpeg(public_client, asset):
    info = public_client.get(f"/iiif/3/{asset.uuid}/info.json").json()
    urls = [f"/iiif/3/{asset.uuid}/full/{s['width']},{s['height']}/0/default.jpg" for s in info["sizes"]]
    urls += [f"/iiif/3/{asset.uuid}/full/max/0/default.jpg", f"/iiif/3/{asset.uuid}/0,0,512,512/512,512/0/default.jpg",
             f"/iiif/3/{asset.uuid}/1024,512,276,188/276,188/0/default.jpg"]
    for url in urls:
        response = public_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "public, max-age=86400"
        assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"


def test_level0_refuses_what_it_cannot_serve(public_client, asset):
    assert public_client.get(f"/iiif/3/{asset.uuid}/full/max/90/default.jpg").status_code == 400
    assert public_client.get(f"/iiif/3/{asset.uuid}/full/max/0/gray.jpg").status_code == 400
    assert public_client.get(f"/iiif/3/{asset.uuid}/..%2f..%2fmasters/max/0/default.jpg").status_code in (400, 404)
    assert public_client.get(f"/iiif/3/{asset.uuid}/full/333,222/0/default.jpg").status_code == 404


@pytest.mark.parametrize("status", [Specimen.Status.DRAFT, Specimen.Status.WITHDRAWN])
def test_images_of_unpublished_or_withdrawn_specimens_are_not_public(status, public_client, curator_client, asset, specimen):
    Specimen.objects.filter(pk=specimen.pk).update(status=status)

    assert public_client.get(f"/iiif/3/{asset.uuid}/info.json").status_code == 404
    assert public_client.get(f"/iiif/3/{asset.uuid}/full/max/0/default.jpg").status_code == 404
    assert public_client.get(f"/iiif/specimen/{specimen.uuid}/manifest.json").status_code == 404
    staff = curator_client.get(f"/iiif/3/{asset.uuid}/info.json")
    assert staff.status_code == 200 and staff["Cache-Control"] == "private, max-age=300"


def test_manifest_is_valid_presentation_3(public_client, asset, specimen):
    from iiif_prezi3 import Manifest

    response = public_client.get(f"/iiif/specimen/{specimen.uuid}/manifest.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    data = response.json()
    Manifest(**{k: v for k, v in data.items() if k != "@context"})  # iiif-prezi3 raises on an invalid manifest
    assert data["label"] == {"en": ["NHMUK010123456 Bellis perennis L."]}
    assert data["rights"] == "https://creativecommons.org/licenses/by/4.0/"
    canvas = data["items"][0]
    body = canvas["items"][0]["items"][0]["body"]
    assert (canvas["width"], canvas["height"]) == (body["width"], body["height"]) == (1300, 700)
    assert body["service"][0]["id"] == f"http://testserver/iiif/3/{asset.uuid}"


def test_iiif_prezi3_rejects_what_our_manifest_must_never_contain():
    from iiif_prezi3 import Manifest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Manifest(id="not a url", label={"en": ["x"]})
    with pytest.raises(ValidationError):
        Manifest(id="https://example.org/m", label={"en": ["x"]}, rights="CC BY")
    with pytest.raises(ValidationError):
        Manifest(id="https://example.org/m")


def test_specimen_media_lists_the_iiif_service_and_manifest(public_client, asset, specimen):
    data = public_client.get(reverse("imaging:specimen_media", args=[specimen.uuid])).json()

    assert data["iiif_manifest"] == f"http://testserver/iiif/specimen/{specimen.uuid}/manifest.json"
    assert [m["iiif_service"] for m in data["media"]] == [f"http://testserver/iiif/3/{asset.uuid}"]


def test_digitiser_uploads_a_file_into_a_batch_and_sees_its_row(digitiser_client, batch, tmp_path):
    path = files.write(files.page(120, 80), tmp_path / "IMG_7.jpg")
    with open(path, "rb") as f:
        response = digitiser_client.post(reverse("imaging:batch_upload", args=[batch.uuid]), {"file": f})

    assert response.status_code == 201
    page = digitiser_client.get(reverse("imaging:batch_detail", args=[batch.uuid]))
    rows = digitiser_client.get(reverse("imaging:batch_rows", args=[batch.uuid]))
    assert page.status_code == 200 and b'hx-trigger="every 2s"' in page.content
    assert b"IMG_7.jpg" in rows.content and b"Received" in rows.content


def test_batches_of_another_institution_are_not_found(client_for, other_institution, batch):
    from institutions.models import Role

    outsider = client_for(Role.DIGITISER, other_institution)

    assert outsider.get(reverse("imaging:batch_detail", args=[batch.uuid])).status_code == 404
    assert outsider.post(reverse("imaging:batch_upload", args=[batch.uuid])).status_code == 404
