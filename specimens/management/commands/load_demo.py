"""Demo data through the app's own services; safe to run again (nothing is added twice)."""

import csv
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from institutions.models import CollectionMetric, Role
from institutions.services import collection_metric_record, collection_upsert, institution_upsert, membership_grant
from specimens.dwc import HIGHER_RANKS
from specimens.models import Specimen
from specimens.services import specimen_counts_refresh, specimen_create, specimen_publish, taxon_ensure_path

SEEDS = Path(settings.BASE_DIR) / "seeds"
DEMO_PASSWORD = "demo-portal-2026"  # printed by `make run`; demo machines only
DEMO_USERS = [
    # username, role, institution code (None: programme-wide)
    ("programme.manager", Role.PROGRAMME_MANAGER, None),
    ("nhm.manager", Role.COLLECTION_MANAGER, "NHMUK"),
    ("nhm.curator", Role.CURATOR, "NHMUK"),
    ("nhm.digitiser", Role.DIGITISER, "NHMUK"),
    ("kew.curator", Role.CURATOR, "K"),
    ("rbge.curator", Role.CURATOR, "E"),
]
LICENCES = {"CC0_1_0": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
            "CC_BY_4_0": "http://creativecommons.org/licenses/by/4.0/legalcode"}
# GBIF download collection codes → our NHM collection codes
NHM_COLLECTIONS = {"BMNH(E)": "ENT", "ZOO": "ZOO", "BOT": "BOT", "PAL": "PAL", "MIN": "MIN"}


def read_sources() -> dict[str, dict]:
    """The Sources table of seeds/README.md: key → publisher, title, URL."""
    sources = {}
    for line in (SEEDS / "README.md").read_text().splitlines():
        match = re.match(r"^\| `([^`]+)` \| (.*?) \| (.*?) \| (.*?) \| (.*?) \|$", line)
        if match:
            key, publisher, title, url, when = match.groups()
            sources[key] = {"text": f"{publisher}: {title} ({when})", "url": url.split(" ;")[0].split(" (")[0].strip()}
    return sources


class Command(BaseCommand):
    help = "Load real UK institutions, their collection estimates, demo staff and real CC0 specimen records."

    def handle(self, *args, **options):
        sources = read_sources()
        with transaction.atomic():
            institutions = self.load_institutions(sources)
            users = self.load_users(institutions)
        created = self.load_nhm_records(institutions["NHMUK"], users["nhm.curator"])
        specimen_counts_refresh()
        self.stdout.write(
            f"demo data: {len(institutions)} institutions, "
            f"{sum(len(i.collections.all()) for i in institutions.values())} collections, "
            f"{len(users)} staff users, {created} new specimen records"
        )

    def load_institutions(self, sources):
        institutions = {}
        for entry in json.loads((SEEDS / "institutions.json").read_text()):
            institution = institution_upsert(
                code=entry["code"], name=entry["name"], city=entry.get("city", ""), country=entry.get("country", "GB"),
                website=entry.get("website", ""), ror_id=entry.get("ror_id", ""),
                grscicoll_key=entry.get("grscicoll_key") or None,
            )
            institutions[institution.code] = institution
            for c in entry["collections"]:
                collection = collection_upsert(
                    institution=institution, code=c["code"], name=c["name"], discipline=c.get("discipline", ""),
                    mids_discipline=c.get("mids_discipline", "biology"), barcode_pattern=c.get("barcode_pattern", ""),
                )
                self.record_metric(collection, CollectionMetric.MeasurementType.ESTIMATED_OBJECTS, c["estimated_objects"],
                                   c["estimated_on"], c["estimate_source"], sources)
                if c.get("digitised_reported"):
                    self.record_metric(collection, CollectionMetric.MeasurementType.DIGITISED, c["digitised_reported"],
                                       c.get("digitised_on") or c["estimated_on"], c["digitised_source"], sources)
        return institutions

    @staticmethod
    def record_metric(collection, measurement_type, value, on, source_key, sources):
        source = sources.get(source_key, {"text": source_key or "", "url": ""})
        collection_metric_record(
            collection=collection, measurement_type=measurement_type, value=int(value),
            derivation=CollectionMetric.Derivation.REPORTED, measured_on=dt.date.fromisoformat(on),
            source=source["text"][:500], source_url=source["url"] if source["url"].startswith("http") else "",
        )

    def load_users(self, institutions):
        User = get_user_model()
        users = {}
        admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        users["admin"] = admin
        for username, role, code in DEMO_USERS:
            first, _, last = username.partition(".")
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first.upper() if len(first) <= 4 else first.title(), "last_name": last.title()}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            membership_grant(user=user, role=role, institution=institutions[code] if code else None)
            users[username] = user
        return users

    def load_nhm_records(self, nhm, curator) -> int:
        """Ten real NHM London records (GBIF download, CC0), kept in seeds/ with their source."""
        with zipfile.ZipFile(SEEDS / "nhm_10_gbif_records.zip") as archive:
            text = archive.read("test_download_id.csv").decode("utf-8")
        created = 0
        for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
            collection = nhm.collections.get(code=NHM_COLLECTIONS.get(row["collectionCode"], "ZOO"))
            if Specimen.objects.filter(collection=collection, catalog_number=row["catalogNumber"]).exists():
                continue
            with transaction.atomic():
                specimen = specimen_create(collection=collection, data=self.nhm_row_data(row), user=curator, source="seed")
                specimen_publish(specimen=specimen, user=curator)
            created += 1
        return created

    @staticmethod
    def nhm_row_data(row) -> dict:
        rank = (row["taxonRank"] or "").lower()
        authorship = row["verbatimScientificNameAuthorship"]
        name = row["scientificName"]
        if authorship and name.endswith(authorship):
            name = name[: -len(authorship)].strip()
        ranks = [(rank, row[rank]) for rank in HIGHER_RANKS if row.get(rank)]  # GBIF names its columns as we do
        if rank in ("species", "subspecies") and row.get("species") and name != row["species"]:
            ranks.append(("species", row["species"]))
        if rank != "genus" or name != row.get("genus"):
            ranks.append((rank if rank in ("species", "subspecies", "genus") else "unranked", name))
        taxon = taxon_ensure_path(ranks=ranks, authorship=authorship)
        event_date = (row["eventDate"] or "")[:10]
        lat, lon = row["decimalLatitude"] or None, row["decimalLongitude"] or None
        return {
            "catalog_number": row["catalogNumber"],
            "basis_of_record": "PreservedSpecimen",
            "license": LICENCES.get(row["license"], LICENCES["CC0_1_0"]),
            "rights_holder": "The Trustees of the Natural History Museum, London",
            "scientific_name": str(taxon),
            "identified_by": row["identifiedBy"],
            "type_status": row["typeStatus"],
            "recorded_by": row["recordedBy"],
            "record_number": row["recordNumber"],
            "event_date": event_date,
            "country_code": row["countryCode"],
            "state_province": row["stateProvince"],
            "locality": row["locality"],
            "decimal_latitude": lat,
            "decimal_longitude": lon,
            "geodetic_datum": "WGS84" if lat else "",
            "coordinate_uncertainty_in_meters": float(row["coordinateUncertaintyInMeters"]) if row["coordinateUncertaintyInMeters"] else None,
            "individual_count": int(row["individualCount"]) if row["individualCount"] else None,
            "other_catalog_numbers": f"GBIF:{row['gbifID']}",
        }
