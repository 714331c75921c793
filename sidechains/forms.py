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


class TokenRotationForm(forms.Form):
    """The operator's "issue a new API token" on their SON's page."""

    reason = forms.CharField(
        max_length=200,
        required=False,
        help_text="Kept in the audit log; empty: a routine rotation.",
    )
