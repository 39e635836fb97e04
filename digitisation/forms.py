"""Browser input for projects and hand-logged work: types and required fields; rules are in services."""

from django import forms

from institutions.models import Collection

from .models import DEFAULT_STAGES, STAGE_LABELS


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    collection = forms.ModelChoiceField(queryset=Collection.objects.none(), required=False,
                                        empty_label="All collections of the institution")
    start_date = forms.DateField(widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    end_date = forms.DateField(widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}), label="Target date")
    target_count = forms.IntegerField(label="Target (specimens)")
    target_mids_level = forms.TypedChoiceField(choices=[(i, f"MIDS-{i}") for i in range(4)], coerce=int, initial=1)
    pert_optimistic = forms.IntegerField(required=False, min_value=0, label="Optimistic per week")
    pert_most_likely = forms.IntegerField(required=False, min_value=0, label="Most likely per week")
    pert_pessimistic = forms.IntegerField(required=False, min_value=0, label="Pessimistic per week")

    def __init__(self, *args, institution=None, **kwargs):
        super().__init__(*args, **kwargs)
        if institution is not None:
            self.fields["collection"].queryset = Collection.objects.filter(institution=institution)


class EventLogForm(forms.Form):
    stage = forms.ChoiceField(choices=[(s, STAGE_LABELS[s]) for s in DEFAULT_STAGES])
    count = forms.IntegerField(label="How many", min_value=1)
    occurred_on = forms.DateField(label="Day", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    minutes = forms.IntegerField(label="Minutes spent (optional)", required=False, min_value=1)
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, stages=None, **kwargs):
        super().__init__(*args, **kwargs)
        if stages:
            self.fields["stage"].choices = [(s, STAGE_LABELS.get(s, s.title())) for s in stages]
