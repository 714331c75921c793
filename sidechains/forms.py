from django import forms

from rates.assets import Asset
from rates.forms import AmountField


class WithdrawalForm(forms.Form):
    amount = AmountField(
        asset=Asset.PBTC,
        label="Amount (pBTC)",
        help_text="pBTC to withdraw, up to 8 decimal places.",
    )
    # Generated when the preview is shown: a repeated confirmation is the same request.
    request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
