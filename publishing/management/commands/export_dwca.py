"""python manage.py export_dwca (--collection INST:COLL | --dataset SHORTNAME) --out PATH

Writes every published record of a collection, or a dataset's records, as a Darwin Core Archive
(public values: sensitive localities generalised). Records missing what GBIF requires are listed
as warnings; the archive is written all the same. Exit status: 0 clean, 1 written with warnings,
2 failure (nothing written at PATH).
"""

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from institutions.models import Collection
from institutions.selectors import collection_get_by_full_code
from publishing.archives import archive_write
from publishing.export import RecordScope, missing_required
from publishing.models import Dataset, Licence
from publishing.services import dataset_eml, dataset_metadata_problems, dataset_scope
from standards.eml import EmlDocument, Party, eml_xml

WARNINGS_SHOWN = 50


class Command(BaseCommand):
    help = "Write a Darwin Core Archive of a collection's or a dataset's published records."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--collection", help="INSTITUTION:COLLECTION codes, e.g. NHMUK:BOT")
        target.add_argument("--dataset", help="a dataset's short name")
        parser.add_argument("--out", required=True, help="path of the zip to write")

    def handle(self, *args, **options):
        code = self._run(options)
        self.stdout.flush()
        if code:
            sys.exit(code)

    def _run(self, options) -> int:
        out = Path(options["out"])
        if options["dataset"]:
            dataset = Dataset.objects.select_related("institution").filter(shortname=options["dataset"]).first()
            if dataset is None:
                self.stderr.write(f"error: no dataset {options['dataset']!r}.")
                return 2
            scope, image_licence = dataset_scope(dataset), dataset.image_licence
            eml = dataset_eml(dataset, number="export")
            warnings = [f"metadata: {problem}" for problem in dataset_metadata_problems(dataset)]
        else:
            try:
                collection = collection_get_by_full_code(full_code=options["collection"])
            except Collection.DoesNotExist as exc:
                self.stderr.write(f"error: {exc}")
                return 2
            scope, image_licence = RecordScope(collection_ids=[collection.pk]), Licence.CC_BY.value
            eml = _collection_eml(collection)
            warnings = []
        missing = missing_required(scope, limit=WARNINGS_SHOWN + 1)
        for record in missing[:WARNINGS_SHOWN]:
            warnings.append(f"record {record['catalog_number']} ({record['uuid']}) lacks {', '.join(record['missing'])}")
        if len(missing) > WARNINGS_SHOWN:
            warnings.append(f"… and more records lacking GBIF's required terms (first {WARNINGS_SHOWN} listed)")
        part = out.with_name(out.name + ".part")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            counts = archive_write(scope=scope, path=part, eml=eml, image_licence=image_licence)
            os.replace(part, out)
        except Exception as exc:  # a database or disk error: say so, leave nothing half-written
            part.unlink(missing_ok=True)
            self.stderr.write(f"error: {type(exc).__name__}: {exc}")
            return 2
        for warning in warnings:
            self.stdout.write(f"warning: {warning}")
        self.stdout.write(" ".join(f"{name.removesuffix('.txt')}={rows}" for name, rows in counts.items()) + f" out={out}")
        return 1 if warnings else 0


def _collection_eml(collection: Collection) -> bytes:
    from datetime import date

    from django.conf import settings

    institution = collection.institution
    publisher = Party(organisation=institution.name)
    return eml_xml(EmlDocument(
        package_id=f"{collection.uuid}/export", title=f"{collection.name} ({institution.name})",
        abstract=f"Published specimen records of the {collection.name} collection, {institution.name}.",
        publisher=institution.name, creators=[publisher], contacts=[publisher], metadata_providers=[publisher],
        pub_date=date.today(), licence_url=collection.default_license if collection.default_license in Licence.values else Licence.CC0,
        citation=f"{institution.name}. {collection.name}. Occurrence records exported from {settings.PUBLIC_BASE_URL}.",
        identifier=f"{settings.PUBLIC_BASE_URL}/institutions/{institution.code}/", update_frequency="unkown",
    ))
