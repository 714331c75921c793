from decimal import Decimal, InvalidOperation

from django import forms

from rates.assets import Asset, amount_parse


def pbtc_parse(text: str) -> int:
    """A pBTC amount typed by a user ("0.001") as base units; ValueError with a message."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("Enter a number, such as 0.001.") from None
    amount = amount_parse(value, Asset.PBTC)
    if amount == 0:
        raise ValueError("Enter an amount greater than zero.")
    return amount


class WithdrawalForm(forms.Form):
    amount = forms.CharField(
        label="Amount (pBTC)",
        max_length=40,
        help_text="pBTC to withdraw, up to 8 decimal places.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "decimal"}),
    )
    # Generated when the preview is shown: a repeated confirmation is the same request.
    request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        try:
            return pbtc_parse(self.cleaned_data["amount"])
        except ValueError as e:
            raise forms.ValidationError(str(e)) from None


class TokenRotationForm(forms.Form):
    """The operator's "issue a new API token" on their SON's page."""

    reason = forms.CharField(
        max_length=200,
        required=False,
        help_text="Kept in the audit log; empty: a routine rotation.",
    )
