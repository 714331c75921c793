from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.utils import timezone

from rates import conversion, services
from rates.assets import Pair, amount_format, amount_parse
from rates.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS, ExchangeRate, validate_rate


def _rate_field() -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        validators=[validate_rate],
        error_messages={"invalid": "Enter the rate as a decimal number, e.g. 0.995."},
        help_text="Pegged units per unit of the sidechain asset, up to 8 decimal places.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def _amount_field() -> forms.DecimalField:
    return forms.DecimalField(
        label="Sample amount",
        required=False,
        min_value=Decimal(0),
        max_digits=24,
        error_messages={"invalid": "Enter the amount as a decimal number, e.g. 1.5."},
        help_text="Of the sidechain asset, for the preview only.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class RateForm(forms.Form):
    pair = forms.ChoiceField(choices=Pair.choices)
    rate = _rate_field()
    valid_from = forms.DateTimeField(
        label="Takes effect at",
        required=False,
        help_text="UTC. Leave empty for now; a later time schedules the rate.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    note = forms.CharField(max_length=200, required=False)
    amount = _amount_field()

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in ("pair", "rate", "valid_from", "note")}


@dataclass(frozen=True)
class Preview:
    sidechain_in: str
    pegged_out: str
    pegged_in: str
    sidechain_out: str


class RatePreviewForm(forms.Form):
    """What a sample amount converts to at a rate being typed, both ways."""

    pair = forms.ChoiceField(choices=Pair.choices)
    rate = _rate_field()
    amount = _amount_field()

    def clean(self):
        data = super().clean()
        if "pair" in data:
            pair = Pair(data["pair"])
            amount = data.get("amount")
            if amount is None:  # no sample amount: one whole unit
                amount = Decimal(1)
            try:
                data["sidechain_units"] = amount_parse(amount, pair.sidechain_asset)
                data["pegged_units"] = amount_parse(amount, pair.pegged_asset)
            except ValueError as e:
                self.add_error("amount", str(e))
        return data

    def result(self) -> Preview:
        pair = Pair(self.cleaned_data["pair"])
        rate = self.cleaned_data["rate"]
        sidechain_units = self.cleaned_data["sidechain_units"]
        pegged_units = self.cleaned_data["pegged_units"]
        return Preview(
            sidechain_in=amount_format(sidechain_units, pair.sidechain_asset),
            pegged_out=amount_format(
                conversion.to_pegged(sidechain_units, rate, pair), pair.pegged_asset
            ),
            pegged_in=amount_format(pegged_units, pair.pegged_asset),
            sidechain_out=amount_format(
                conversion.to_sidechain(pegged_units, rate, pair), pair.sidechain_asset
            ),
        )


class ExchangeRateAdminForm(forms.ModelForm):
    """The admin's add form: the same checks as rate_set(), shown as form errors.

    ExchangeRateAdmin.get_form sets `set_by` to the administrator using the form.
    """

    set_by = None

    class Meta:
        model = ExchangeRate
        fields = ["pair", "rate", "valid_from", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if valid_from := self.fields.get("valid_from"):  # keeps the admin's date/time widgets
            valid_from.required = False
            valid_from.help_text = "UTC. Leave empty for now; a later time schedules the rate."

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        now = timezone.now()
        try:
            services.rate_check(
                pair=data["pair"],
                rate=data["rate"],
                valid_from=data.get("valid_from") or now,
                set_by=self.set_by,
                now=now,
            )
        except services.RateError as e:
            self.add_error(e.field if e.field in self.fields else None, e.message)
        return data
