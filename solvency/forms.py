from django import forms

from ledger.services import LEDGER_ASSETS
from rates.assets import MAX_DECIMAL_LENGTH


class TransferForm(forms.Form):
    receiver = forms.CharField(label="To (their portal user name)", max_length=150, strip=True)
    asset = forms.ChoiceField(choices=[(a, a) for a in LEDGER_ASSETS])
    amount = forms.CharField(
        max_length=MAX_DECIMAL_LENGTH, help_text="In whole units, e.g. 0.0015 pBTC or 12.5 pHIVE."
    )


class SignatureForm(forms.Form):
    signature = forms.CharField(
        label="Your signature",
        max_length=100,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Base64, 88 characters, as your wallet or the signing command prints it.",
    )
