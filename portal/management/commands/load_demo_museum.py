"""The virtual museum's demo: herbarium records with drawn sheets (seeds/sheets.py) and two exhibitions.

Run after `load_demo` (institutions and users); `make run` does both. Safe to run again: records,
images and exhibitions that exist are left as they are. Everything goes through the services.
Images are 2,000 × 3,000 px sheets processed in this process (the same pipeline a worker runs), so
the first run takes a few seconds per image and later runs none.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from imaging.models import ImageAsset
from imaging.services import image_asset_process, image_asset_receive, imaging_batch_create
from institutions.models import Collection
from portal.models import Exhibition
from portal.services import exhibition_create, exhibition_item_add, exhibition_item_thumbnail_cut, exhibition_publish
from portal.services import published_counts_refresh
from seeds.sheets import Label, Sheet, barcode_label, determination_label, sheet_write
from specimens.models import Specimen
from specimens.services import specimen_create, specimen_publish, taxon_ensure_path

SEED = Path(settings.BASE_DIR) / "seeds" / "demo_herbarium.json"
# A 25 × 38 cm sheet at 200 ppi: quick to draw and tile; tests draw it at 60 ppi.
SIZES = {"demo": (2000, 3000, 200), "small": (500, 750, 50)}
HEADINGS = {"K": "ROYAL BOTANIC GARDENS, KEW", "E": "ROYAL BOTANIC GARDEN EDINBURGH"}
CURATORS = {"K": "kew.curator", "E": "rbge.curator"}
LABEL_PLACE = (0.07, 0.70)


def sheet_for_record(record: dict, seed: int, size: str = "demo") -> Sheet:
    width, height, ppi = SIZES[size]
    return Sheet(labels=(Label(record["catalog_number"], bar_mm=0.3, width_mm=40, heading=HEADINGS[record["institution"]]),),
                 width=width, height=height, ppi=ppi, taxon=record["scientific_name"],
                 locality=f"{record['county']}, {record['locality'].split(',')[0]}",
                 collector=f"{record['recorded_by']} {record['record_number']}", date=record["label_date"],
                 chart_text="Colour reference", seed=seed, label_places=(LABEL_PLACE,))


def sheet_regions(sheet: Sheet) -> dict[str, tuple[int, int, int, int]]:
    """Where the plant, the determination label and the barcode label are on a sheet (as sheets.py places them)."""
    det = determination_label(sheet)
    margin = round(12 * sheet.ppi / 25.4)
    pad = 20
    tag = barcode_label(sheet.labels[0], sheet)
    tag_x = min(int(LABEL_PLACE[0] * sheet.width), sheet.width - tag.width)
    tag_y = min(int(LABEL_PLACE[1] * sheet.height), sheet.height - tag.height)
    return {
        "plant": (int(sheet.width * 0.18), int(sheet.height * 0.12), int(sheet.width * 0.64), int(sheet.height * 0.45)),
        "label": (sheet.width - det.width - margin - pad, sheet.height - det.height - margin - pad,
                  det.width + 2 * pad, det.height + 2 * pad),
        "barcode": (max(0, tag_x - pad), max(0, tag_y - pad), min(tag.width + 2 * pad, sheet.width - tag_x + pad),
                    min(tag.height + 2 * pad, sheet.height - tag_y + pad)),
    }


class Command(BaseCommand):
    help = "Demo herbarium records with drawn sheet images, and two published exhibitions (after load_demo)."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=sorted(SIZES), default="demo", help="small: quick images for tests")

    def handle(self, *args, **options):
        seed = json.loads(SEED.read_text())
        users = {code: get_user_model().objects.filter(username=name).first() for code, name in CURATORS.items()}
        if not all(users.values()):
            self.stderr.write("Run `manage.py load_demo` first (it creates the institutions and curators).")
            return
        specimens, regions, made = {}, {}, 0
        with tempfile.TemporaryDirectory(prefix="demo-sheets-") as work:
            for index, record in enumerate(seed["records"]):
                specimen = self.record(record, users[record["institution"]])
                sheet = sheet_for_record(record, seed=index + 1, size=options["size"])
                regions[record["catalog_number"]] = sheet_regions(sheet)
                if not ImageAsset.objects.filter(specimen=specimen).exists():
                    self.image(specimen, sheet, Path(work), users[record["institution"]])
                    made += 1
                specimens[record["catalog_number"]] = specimen
        shows = sum(self.exhibition(e, specimens, regions, users[e["institution"]]) for e in seed["exhibitions"])
        published_counts_refresh()
        self.stdout.write(f"museum demo: {len(specimens)} herbarium records, {made} new sheet images, {shows} new exhibitions")

    @staticmethod
    def record(record: dict, curator) -> Specimen:
        collection = Collection.objects.get(institution__code=record["institution"], code=record["collection"])
        existing = Specimen.objects.filter(collection=collection, catalog_number=record["catalog_number"]).first()
        if existing:
            return existing
        taxon = taxon_ensure_path(ranks=[tuple(r) for r in record["ranks"]], authorship=record["authorship"])
        fields = ("catalog_number", "recorded_by", "record_number", "event_date", "country_code", "country", "state_province",
                  "county", "locality", "decimal_latitude", "decimal_longitude", "coordinate_uncertainty_in_meters",
                  "identified_by", "date_identified")
        data = {name: record[name] for name in fields} | {
            "scientific_name": str(taxon), "basis_of_record": "PreservedSpecimen", "geodetic_datum": "WGS84",
            "preparations": "sheet", "rights_holder": collection.institution.name,
            "locality_sensitivity": record.get("locality_sensitivity", "none"),
        }
        with transaction.atomic():
            specimen = specimen_create(collection=collection, data=data, user=curator, source="seed")
            return specimen_publish(specimen=specimen, user=curator)

    @staticmethod
    def image(specimen: Specimen, sheet: Sheet, work: Path, curator) -> None:
        path = sheet_write(sheet, work / f"{specimen.catalog_number}.jpg", quality=88)
        batch = imaging_batch_create(institution=specimen.institution, name="Demo herbarium sheets", user=curator)
        with open(path, "rb") as source:
            asset = image_asset_receive(batch=batch, name=path.name, source=source, size=path.stat().st_size)
        image_asset_process(asset_id=asset.pk)  # here, not in a worker: the demo is ready when make run serves it

    @staticmethod
    def exhibition(spec: dict, specimens: dict, regions: dict, curator) -> int:
        if Exhibition.objects.filter(slug=spec["slug"]).exists():
            return 0
        institution = specimens[spec["items"][0]["catalog_number"]].institution
        exhibition = exhibition_create(institution=institution, title=spec["title"], summary=spec["summary"],
                                       text=spec["text"], slug=spec["slug"], user=curator)
        for item in spec["items"]:
            specimen = Specimen.objects.get(pk=specimens[item["catalog_number"]].pk)
            image = ImageAsset.objects.filter(specimen=specimen, status=ImageAsset.Status.DONE).order_by("order").first()
            added = exhibition_item_add(exhibition=exhibition, specimen=specimen, image=image, caption=item["caption"],
                                        region=regions[item["catalog_number"]][item["region"]] if image else None, user=curator)
            exhibition_item_thumbnail_cut(item_id=added.pk)  # a rerun of the queued task then finds it done
        exhibition_publish(exhibition=exhibition, user=curator)
        return 1
