import pytest

from imaging.services import imaging_batch_create
from specimens.models import Specimen
from tests.factories.institutions import CollectionFactory
from tests.factories.specimens import SpecimenFactory


@pytest.fixture
def media(settings, tmp_path):
    """Each test its own storage root, so 'nothing left behind' can be checked file by file."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_WORK_DIR = str(tmp_path / "work")
    return tmp_path / "media"


@pytest.fixture
def collection(institution):
    return CollectionFactory(institution=institution, code="BOT", name="Herbarium")


@pytest.fixture
def batch(institution, media):
    return imaging_batch_create(institution=institution, name="Tray 1")


@pytest.fixture
def specimen(collection):
    return SpecimenFactory(collection=collection, catalog_number="NHMUK010123456", status=Specimen.Status.PUBLISHED)


def stored_files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []
