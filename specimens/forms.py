from django import forms
from django.urls import reverse_lazy

from institutions.models import Collection

from .models import Preparation, Specimen
from .services import SPECIMEN_EDITABLE_FIELDS

# Form groups follow Darwin Core classes, so curators find a term where the standard puts it.
FIELD_GROUPS = [
    ("Record", ["catalog_number", "other_catalog_numbers", "basis_of_record", "license", "rights_holder",
                "information_withheld", "data_generalizations"]),
    ("Identification", ["scientific_name", "identified_by", "date_identified", "identification_qualifier", "type_status"]),
    ("Collecting event", ["event_date", "verbatim_event_date", "recorded_by", "recorded_by_id", "record_number",
                          "field_number", "habitat"]),
    ("Locality", ["country", "country_code", "state_province", "county", "locality", "verbatim_locality",
                  "water_body", "decimal_latitude", "decimal_longitude", "geodetic_datum",
                  "coordinate_uncertainty_in_meters", "coordinate_precision", "location_id", "locality_sensitivity",
                  "minimum_elevation_in_meters", "maximum_elevation_in_meters", "minimum_depth_in_meters",
                  "maximum_depth_in_meters"]),
    ("Specimen", ["individual_count", "sex", "life_stage", "preparations", "disposition"]),
]
LABELS = {
    "catalog_number": "Catalogue number", "scientific_name": "Scientific name", "event_date": "Collecting date",
    "decimal_latitude": "Latitude (decimal)", "decimal_longitude": "Longitude (decimal)",
    "recorded_by": "Collector(s)", "record_number": "Collector number", "recorded_by_id": "Collector IDs (ORCID, Wikidata)",
    "other_catalog_numbers": "Other catalogue numbers", "location_id": "Location ID", "license": "Licence",
    "identified_by": "Determined by", "state_province": "State / province", "coordinate_uncertainty_in_meters": "Uncertainty (m)",
    "minimum_elevation_in_meters": "Min. elevation (m)", "maximum_elevation_in_meters": "Max. elevation (m)",
    "minimum_depth_in_meters": "Min. depth (m)", "maximum_depth_in_meters": "Max. depth (m)",
}
HELP = {
    "event_date": "ISO 8601: 1898-06-14, 1898-06, 1898 or a range 1898-06-01/1898-06-20",
    "scientific_name": "as in the taxonomy, e.g. Bellis perennis",
    "recorded_by": "separate several names with |",
}
TEXTAREAS = {"locality", "verbatim_locality", "habitat", "information_withheld", "data_generalizations",
             "other_catalog_numbers", "preparations"}


def autocomplete_attrs(kind: str, datalist: str) -> dict:
    return {
        "list": datalist, "autocomplete": "off", "hx-get": reverse_lazy(f"specimens:{kind}_autocomplete"),
        "hx-trigger": "input changed delay:200ms", "hx-target": f"#{datalist}", "hx-swap": "innerHTML",
    }


class SpecimenForm(forms.ModelForm):
    """Browser input types only; the rules (uniqueness, dates, coordinates) are in services."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Specimen
        fields = SPECIMEN_EDITABLE_FIELDS
        labels = LABELS
        help_texts = HELP
        widgets = {name: forms.Textarea(attrs={"rows": 2}) for name in TEXTAREAS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.Textarea) and name not in TEXTAREAS:
                field.widget = forms.TextInput()  # short free text: one line is enough
        # Suggestions come from the server as the curator types (htmx fills the datalist).
        self.fields["scientific_name"].widget.attrs.update(autocomplete_attrs("taxon", "taxon-names"))
        for name in ("recorded_by", "identified_by"):
            self.fields[name].widget.attrs.update(autocomplete_attrs("agent", "agent-names"))
        self.fields["catalog_number"].widget.attrs.update({"autofocus": True})

    def validate_unique(self):
        pass  # the service checks uniqueness and says which collection already has the number

    def _post_clean(self):
        pass  # no model.full_clean here: the service does it after deriving fields

    def groups(self):
        return [(title, [self[name] for name in names]) for title, names in FIELD_GROUPS]

    def service_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in SPECIMEN_EDITABLE_FIELDS}


class SpecimenCreateForm(SpecimenForm):
    collection = forms.ModelChoiceField(queryset=Collection.objects.none())

    def __init__(self, *args, collections=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].queryset = collections
        self.order_fields(["collection"])

    def groups(self):
        groups = super().groups()
        title, fields = groups[0]
        groups[0] = (title, [self["collection"], *fields])
        return groups


class SpecimenWithdrawForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="shown on the tombstone page")


class PreparationForm(forms.Form):
    preparation_type = forms.ChoiceField(choices=Preparation.PreparationType.choices, label="Type")
    count = forms.IntegerField(min_value=1, initial=1)
    barcode = forms.CharField(required=False)
    storage_location = forms.CharField(required=False, label="Storage")


class IdentificationForm(forms.Form):
    scientific_name = forms.CharField(label="Scientific name", help_text="from the taxonomy",
                                      widget=forms.TextInput(attrs=autocomplete_attrs("taxon", "taxon-names-ident")))
    identified_by = forms.CharField(required=False, label="Determined by")
    date_identified = forms.CharField(required=False, label="Date", help_text="ISO 8601, e.g. 2024-05-01")
    identification_qualifier = forms.CharField(required=False, label="Qualifier", help_text="cf., aff., ?")
    type_status = forms.CharField(required=False, label="Type status")
