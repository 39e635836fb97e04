import uuid

import factory
from django.conf import settings

from specimens.models import Specimen, Taxon
from specimens.services import catalog_number_normalise

from .institutions import CollectionFactory


class SpecimenFactory(factory.django.DjangoModelFactory):
    """A saved row without going through services: for tests of reads and permissions."""

    class Meta:
        model = Specimen

    collection = factory.SubFactory(CollectionFactory)
    institution = factory.SelfAttribute("collection.institution")
    uuid = factory.LazyFunction(uuid.uuid4)
    occurrence_id = factory.LazyAttribute(lambda o: f"{settings.PUBLIC_BASE_URL}/specimen/{o.uuid}")
    catalog_number = factory.Sequence(lambda n: f"CAT{n:07d}")
    catalog_number_normalised = factory.LazyAttribute(lambda o: catalog_number_normalise(o.catalog_number))
    scientific_name = "Bellis perennis L."
    basis_of_record = "PreservedSpecimen"
    status = Specimen.Status.DRAFT
    country_code = "GB"


class TaxonFactory(factory.django.DjangoModelFactory):
    """Use specimens.services.taxon_create for trees; this builds a lone root taxon."""

    class Meta:
        model = Taxon

    name = factory.Sequence(lambda n: f"Genus{n}")
    rank = "genus"
    path = factory.Sequence(lambda n: f"zz{n:05d}")
