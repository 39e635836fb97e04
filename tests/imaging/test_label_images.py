"""Label images of sensitive records stay with the owning institution's staff (specimens.public)."""

import pytest
from django.urls import reverse

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive
from institutions.models import Role

from . import files

pytestmark = pytest.mark.django_db


@pytest.fixture
def label_and_sheet(batch, specimen, tmp_path):
    assets = []
    for order, kind in ((1, ImageAsset.Kind.SPECIMEN), (2, ImageAsset.Kind.LABEL)):
        path = files.write(files.page(900 + order, 600), tmp_path / f"NHMUK010123456_{order}.tif")
        with open(path, "rb") as f:
            asset = image_asset_receive(batch=batch, name=path.name, source=f, size=path.stat().st_size)
        ImageAsset.objects.filter(pk=asset.pk).update(kind=kind)
        image_asset_process(asset_id=asset.pk)
        asset.refresh_from_db()
        assert asset.status == ImageAsset.Status.DONE
        assets.append(asset)
    return assets


def _public_views(client, specimen, label):
    page = client.get(reverse("specimen_page", args=[specimen.uuid])).content.decode()
    api = client.get(reverse("specimens_api:specimen_detail", args=[specimen.uuid])).json()
    info = client.get(f"/iiif/3/{label.uuid}/info.json").status_code
    return page, api, info


@pytest.mark.parametrize("level", ["none", "10km"])
def test_a_sensitive_record_s_label_image_is_not_public(public_client, specimen, label_and_sheet, level):
    sheet, label = label_and_sheet
    specimen.locality_sensitivity = level
    specimen.save(update_fields=["locality_sensitivity"])

    page, api, info = _public_views(public_client, specimen, label)

    assert str(sheet.uuid) in page and [m["uuid"] for m in api["media"]][0] == str(sheet.uuid)
    if level == "none":
        assert str(label.uuid) in page and info == 200 and api["media_count"] == 2
    else:
        assert str(label.uuid) not in page and info == 404 and api["media_count"] == 1


def test_the_owning_institution_s_staff_see_the_label_image(client_for, institution, specimen, label_and_sheet):
    _sheet, label = label_and_sheet
    specimen.locality_sensitivity = "withhold"
    specimen.save(update_fields=["locality_sensitivity"])

    _page, api, info = _public_views(client_for(Role.DIGITISER, institution), specimen, label)

    assert info == 200 and api["media_count"] == 2


def test_a_collection_may_show_label_images_of_sensitive_records(public_client, specimen, label_and_sheet):
    _sheet, label = label_and_sheet
    specimen.locality_sensitivity = "10km"
    specimen.save(update_fields=["locality_sensitivity"])
    specimen.collection.sensitive_label_images_private = False
    specimen.collection.save(update_fields=["sensitive_label_images_private"])

    _page, api, info = _public_views(public_client, specimen, label)

    assert info == 200 and api["media_count"] == 2
