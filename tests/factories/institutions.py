import factory
from django.contrib.auth import get_user_model

from institutions.models import Collection, CollectionMetric, Institution, Membership


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"INST{n}")
    name = factory.Sequence(lambda n: f"Museum of Natural History {n}")
    city = "London"


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    institution = factory.SubFactory(InstitutionFactory)
    code = factory.Sequence(lambda n: f"C{n}")
    name = factory.Sequence(lambda n: f"Collection {n}")
    discipline = "Botany"


class CollectionMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CollectionMetric

    collection = factory.SubFactory(CollectionFactory)
    measurement_type = CollectionMetric.MeasurementType.ESTIMATED_OBJECTS
    derivation = CollectionMetric.Derivation.REPORTED
    value = 100_000
    measured_on = factory.Faker("date_object")
    source = "test figure"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    institution = factory.SubFactory(InstitutionFactory)
    role = "curator"
