"""Browser input for the import pages: types, required fields, widgets; rules belong to services."""

from django import forms

from institutions.models import Collection
from specimens.models import ImportBatch


class ImportUploadForm(forms.Form):
    # Not required: a form or script that does not say is uploading specimen records, as before.
    kind = forms.ChoiceField(choices=ImportBatch.Kind.choices, initial=ImportBatch.Kind.SPECIMENS, required=False,
                             widget=forms.RadioSelect, label="The file holds")
    collection = forms.ModelChoiceField(queryset=Collection.objects.none(), required=False,
                                        help_text="the collection the records belong to")
    file = forms.FileField(label="Darwin Core Archive or CSV/TSV",
                           help_text="a DwC-A .zip, or a .csv/.tsv/.txt whose columns are Darwin Core terms")
    dry_run = forms.BooleanField(required=False, label="Dry run: check only, change nothing")
    date_order = forms.ChoiceField(
        choices=[("", "As the file shows (otherwise reported)"), ("dmy", "Day/month/year, e.g. 30/11/2014"),
                 ("mdy", "Month/day/year, e.g. 11/30/2014")],
        required=False, label="Slash dates such as 6/7/2009",
        help_text="how to read them when no date in the file shows the order; ISO dates need no choice",
    )
    publish = forms.BooleanField(required=False, label="Publish on import",
                                 help_text="curators and collection managers: records with a scientific name are published")

    def __init__(self, *args, collections=None, kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].queryset = collections
        if kinds is not None:  # only the kinds this user may import
            self.fields["kind"].choices = [(value, label) for value, label in ImportBatch.Kind.choices if value in kinds]

    def clean(self):
        cleaned = super().clean()
        if "kind" not in self.errors:
            cleaned["kind"] = cleaned.get("kind") or ImportBatch.Kind.SPECIMENS
        # Required for specimen records only (the database says so too: import_batch_collection_for_specimens).
        if cleaned.get("kind") == ImportBatch.Kind.SPECIMENS and not cleaned.get("collection") and "collection" not in self.errors:
            self.add_error("collection", "Choose the collection the records belong to.")
        if cleaned.get("kind") == ImportBatch.Kind.TAXA:
            cleaned["collection"] = None  # a checklist goes into the shared tree, not a collection
        return cleaned
