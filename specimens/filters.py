import django_filters
from django.core.validators import RegexValidator
from django.db.models import Exists, OuterRef, Q

from standards.mids import MAPPING_SETS

from .models import Agent, BasisOfRecord, MidsAssessment, Specimen, SpecimenAgent, Taxon


COLLECTION_CODE_FORM = "Use INSTITUTION:COLLECTION, e.g. NHMUK:BOT."
MIDS_LEVEL_CHOICES = [("-1", "below MIDS-0"), *((str(n), f"MIDS-{n}") for n in range(4))]
# Every element of every discipline's mapping, by level: "CollectingAgent (MIDS-2)".
MIDS_ELEMENT_CHOICES = sorted(
    {(e.name, f"{e.name} (MIDS-{e.level})", e.level) for m in MAPPING_SETS.values() for e in m.elements},
    key=lambda choice: (choice[2], choice[0]),
)


class SpecimenFilter(django_filters.FilterSet):
    """Narrows a selector's queryset; never decides visibility."""

    institution = django_filters.CharFilter(method="filter_institution", help_text="institution code, e.g. NHMUK")
    collection = django_filters.CharFilter(
        method="filter_collection", help_text="INSTITUTION:COLLECTION, e.g. NHMUK:BOT",
        validators=[RegexValidator(r"^[^:]+:[^:]+$", COLLECTION_CODE_FORM)],
    )
    status = django_filters.ChoiceFilter(choices=Specimen.Status.choices)
    basis_of_record = django_filters.ChoiceFilter(choices=BasisOfRecord.choices)
    catalog_number = django_filters.CharFilter(method="filter_catalog_number", help_text="exact, spacing and leading zeros ignored")
    scientific_name = django_filters.CharFilter(field_name="scientific_name", lookup_expr="istartswith")
    taxon = django_filters.UUIDFilter(method="filter_taxon", help_text="a taxon's uuid: the taxon and all its descendants")
    country_code = django_filters.CharFilter(method="filter_country_code")
    agent = django_filters.CharFilter(
        method="filter_agent", help_text="collector or determiner: a name (case, dots and spacing ignored) or an agent's uuid")
    agent_role = django_filters.ChoiceFilter(choices=SpecimenAgent.Role.choices, method="filter_agent_role",
                                             help_text="with agent: only as collector, or only as determiner")
    year_min = django_filters.NumberFilter(field_name="year", lookup_expr="gte")
    year_max = django_filters.NumberFilter(field_name="year", lookup_expr="lte")
    has_coordinates = django_filters.BooleanFilter(field_name="decimal_latitude", lookup_expr="isnull", exclude=True)
    modified_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    mids_level = django_filters.ChoiceFilter(choices=MIDS_LEVEL_CHOICES, help_text="-1 (below MIDS-0) to 3")
    mids_failing = django_filters.ChoiceFilter(
        choices=[(name, label) for name, label, _ in MIDS_ELEMENT_CHOICES], method="filter_mids_failing",
        help_text="a MIDS element the record does not meet, e.g. CollectingAgent")

    class Meta:
        model = Specimen
        fields = []

    def filter_institution(self, queryset, name, value):
        return queryset.filter(institution__code=value.upper())

    def filter_collection(self, queryset, name, value):
        institution_code, _, code = value.partition(":")
        return queryset.filter(institution__code=institution_code.upper(), collection__code=code.upper())

    def filter_catalog_number(self, queryset, name, value):
        from .services import catalog_number_normalise

        return queryset.filter(Q(catalog_number=value) | Q(catalog_number_normalised=catalog_number_normalise(value)))

    def filter_taxon(self, queryset, name, value):
        taxon = Taxon.objects.filter(uuid=value).only("path").first()
        if taxon is None:
            return queryset.none()
        return queryset.filter(taxon__path__startswith=taxon.path)

    def filter_country_code(self, queryset, name, value):
        return queryset.filter(country_code=value.upper())

    def filter_agent(self, queryset, name, value):
        """Through the collector/determiner links (indexed by agent), not the free-text name fields."""
        import uuid

        from .services import agent_name_key

        try:
            agents = Agent.objects.filter(uuid=uuid.UUID(value.strip()))
        except ValueError:
            agents = Agent.objects.filter(name_key=agent_name_key(value))
        links = SpecimenAgent.objects.filter(specimen=OuterRef("pk"), agent__in=agents)
        role = self.form.cleaned_data.get("agent_role")
        if role:
            links = links.filter(role=role)
        return queryset.filter(Exists(links))

    def filter_agent_role(self, queryset, name, value):
        return queryset  # read by filter_agent

    def filter_mids_failing(self, queryset, name, value):
        """Through the shared assessments: a few hundred rows say which outcomes fail the element, so
        the specimens are matched on mids_assessment_id IN (that small set), never a JSON scan per row."""
        failing = MidsAssessment.objects.filter(failing__contains=[value]).values("pk")
        return queryset.filter(mids_assessment__in=failing)


class TaxonFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_prefix", help_text="name prefix, case-insensitive")
    rank = django_filters.CharFilter(field_name="rank")
    parent = django_filters.UUIDFilter(field_name="parent__uuid")

    class Meta:
        model = Taxon
        fields = []

    def filter_prefix(self, queryset, name, value):
        from django.db.models.functions import Upper

        return queryset.annotate(name_upper=Upper("name")).filter(name_upper__startswith=value.strip().upper())
