from django import forms

from ledger.services import LEDGER_ASSETS


class StatementForm(forms.Form):
    asset = forms.ChoiceField(
        label="Token", required=False, choices=[("", "All")] + [(a, a) for a in LEDGER_ASSETS]
    )
    since = forms.DateField(label="From", required=False, widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput({"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The first day is after the last.")
        return data
