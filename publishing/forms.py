from django import forms

from institutions.models import Collection
from specimens.models import Agent, BasisOfRecord

from .models import Dataset


class DatasetForm(forms.ModelForm):
    collections = forms.ModelMultipleChoiceField(queryset=Collection.objects.none(), widget=forms.CheckboxSelectMultiple,
                                                 help_text="One collection, or several of one institution.")
    creators_text = forms.CharField(label="Creators", widget=forms.Textarea(attrs={"rows": 2}), required=False,
                                    help_text="One person or organisation per line, as named in the portal's agents.")
    contacts_text = forms.CharField(label="Contacts", widget=forms.Textarea(attrs={"rows": 2}), required=False,
                                    help_text="One per line; GBIF writes to the contact e-mail below.")
    kingdom = forms.CharField(required=False, help_text="only records of this kingdom")
    family = forms.CharField(required=False, help_text="only records of this family")
    country_code = forms.CharField(required=False, max_length=2, help_text="only records from this country (ISO code)")
    basis_of_record = forms.ChoiceField(required=False, choices=[("", "any")] + list(BasisOfRecord.choices))
    type_specimens_only = forms.BooleanField(required=False, label="Type specimens only")

    class Meta:
        model = Dataset
        fields = ["shortname", "title", "abstract", "collections", "contact_email", "licence", "image_licence",
                  "citation", "identifier", "update_frequency", "auto_publish", "language"]
        widgets = {"abstract": forms.Textarea(attrs={"rows": 5}), "citation": forms.Textarea(attrs={"rows": 2})}

    FILTERS = ("kingdom", "family", "country_code", "basis_of_record", "type_specimens_only")

    def __init__(self, *args, collections=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collections"].queryset = collections if collections is not None else Collection.objects.none()
        self.fields["collections"].label_from_instance = lambda c: f"{c.name} ({c.full_code})"
        if self.instance.pk:
            self.fields["shortname"].disabled = True  # in every URL and file name already harvested
            self.initial["collections"] = list(self.instance.collections.values_list("pk", flat=True))
            self.initial["creators_text"] = "\n".join(a.name for a in self.instance.creators.all())
            self.initial["contacts_text"] = "\n".join(a.name for a in self.instance.contacts.all())
            for key in self.FILTERS:
                self.initial[key] = self.instance.record_filter.get(key, "")

    def _agents(self, name: str) -> list[Agent]:
        agents, unknown = [], []
        for line in self.cleaned_data.get(name, "").splitlines():
            line = line.strip()
            if not line:
                continue
            agent = Agent.objects.filter(name__iexact=line).order_by("pk").first()
            (agents.append(agent) if agent else unknown.append(line))
        if unknown:
            self.add_error(name, "No agent named " + ", ".join(f"“{u}”" for u in unknown)
                           + " in the portal; check the spelling (agents are the collectors and determiners of records).")
        return agents

    def clean(self):
        data = super().clean()
        data["creators"] = self._agents("creators_text")
        data["contacts"] = self._agents("contacts_text")
        if data.get("country_code"):
            data["country_code"] = data["country_code"].upper()
        return data

    def service_values(self) -> dict:
        values = {name: self.cleaned_data[name] for name in self.Meta.fields if name not in ("collections",)
                  and name in self.cleaned_data and not self.fields[name].disabled}
        values["record_filter"] = {key: self.cleaned_data.get(key) for key in self.FILTERS}
        return values


class PublishForm(forms.Form):
    change_summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                     help_text="Left empty: written for you (records added, changed and withdrawn).")


class RepublishForm(forms.Form):
    datasets = forms.ModelMultipleChoiceField(queryset=Dataset.objects.none(), widget=forms.CheckboxSelectMultiple)
    change_summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="One summary for every dataset chosen.")

    def __init__(self, *args, datasets=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["datasets"].queryset = datasets if datasets is not None else Dataset.objects.none()
        self.fields["datasets"].label_from_instance = lambda d: f"{d.title} ({d.shortname})"


class SummaryForm(forms.Form):
    change_summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
