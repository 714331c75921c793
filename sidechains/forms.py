from django import forms

from rates.assets import AmountError, Asset, amount_parse
from rates.forms import AmountField


class WithdrawalForm(forms.Form):
    amount = AmountField(
        asset=Asset.PBTC,
        label="Amount (pBTC)",
        help_text="pBTC to withdraw, up to 8 decimal places.",
    )
    # Generated when the preview is shown: a repeated confirmation is the same request.
    request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    # The fee quoted with the preview: the fee the withdrawal is charged.
    quote = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)


class HiveWithdrawalForm(forms.Form):
    asset = forms.ChoiceField(choices=[(Asset.PHIVE, "pHIVE"), (Asset.PHBD, "pHBD")])
    amount = forms.CharField(
        label="Amount",
        max_length=40,
        help_text="Up to 3 decimal places; paid 1:1 at the rate in force, with no fee.",
    )
    request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if "asset" in data and "amount" in data:
            try:
                data["amount"] = amount_parse(data["amount"], data["asset"])
            except AmountError as e:
                self.add_error("amount", str(e))
        return data
