import zipfile
from pathlib import Path

import pytest
from dwca.read import DwCAReader

from institutions.models import Role
from publishing.services import dataset_save
from specimens.models import Agent, Identification, Specimen
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="BOT", name="Botany")


@pytest.fixture
def curator(user_with_role, institution):
    return user_with_role(Role.CURATOR, institution)


def published(collection, n=1, **values):
    defaults = {"status": Specimen.Status.PUBLISHED, "event_date": "2001-05-06", "year": 2001, "month": 5, "day": 6}
    return SpecimenFactory.create_batch(n, collection=collection, **{**defaults, **values})


@pytest.fixture
def dataset(collection, curator):
    agent = Agent.objects.create(name="Ada Lovelace", name_key="ada lovelace", orcid="https://orcid.org/0000-0002-1825-0097")
    return dataset_save(user=curator, collections=[collection], creators=[agent], contacts=[agent], values={
        "shortname": "own-botany", "title": "Own Museum botany specimens", "abstract": "Herbarium sheets of the Own Museum.",
        "contact_email": "data@own.example.org",
    })


def archive_read(path: Path) -> dict:
    """The archive as python-dwca-reader sees it: core rows and extension rows, keyed by file."""
    with DwCAReader(str(path)) as reader:
        core = [dict(row.data) for row in reader]
        extensions = {}
        for row in reader:
            for ext in row.extensions:
                extensions.setdefault(ext.rowtype, []).append((row.id, dict(ext.data)))
        orphans = reader.orphaned_extension_rows()
        return {"core": core, "extensions": extensions, "orphans": orphans, "descriptor": reader.descriptor,
                "metadata": reader.metadata}


def identification_add(specimen, **values):
    return Identification.objects.create(specimen=specimen, verbatim_identification=values.pop("name", "Bellis perennis"),
                                         **values)


def zip_names(path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()
