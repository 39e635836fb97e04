"""Browser input for composing exhibitions: types and widgets only; the rules live in services."""

from django import forms

from .models import Exhibition


class ExhibitionForm(forms.ModelForm):
    class Meta:
        model = Exhibition
        fields = ["institution", "title", "slug", "summary", "text"]
        labels = {"slug": "Address", "text": "Text"}
        help_texts = {
            "slug": "the end of the exhibition's address, e.g. corvids-of-the-americas; made from the title when empty",
            "text": "paragraphs, emphasis, lists, headings and links (basic HTML); anything else is removed when saved",
        }
        widgets = {"text": forms.Textarea(attrs={"rows": 10})}

    def __init__(self, *args, institutions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        if self.instance.pk:  # institution and address are fixed once created (links to it stay valid)
            del self.fields["institution"], self.fields["slug"]
        else:
            self.fields["institution"].queryset = institutions

    def validate_unique(self):
        pass  # the service says so in the curator's words


class ExhibitionItemForm(forms.Form):
    catalog_number = forms.CharField(label="Catalogue number", max_length=120)
    image = forms.UUIDField(label="Image (optional)", required=False,
                            help_text="the image's identifier; the record's first image when empty")
    x = forms.CharField(label="x", required=False, max_length=12, widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    y = forms.CharField(label="y", required=False, max_length=12, widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    w = forms.CharField(label="width", required=False, max_length=12, widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    h = forms.CharField(label="height", required=False, max_length=12, widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    caption = forms.CharField(label="Caption", required=False, widget=forms.Textarea(attrs={"rows": 3}))
