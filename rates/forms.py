from dataclasses import dataclass

from django import forms
from django.utils import timezone

from rates import conversion, services
from rates.assets import (
    MAX_DECIMAL_LENGTH,
    AmountError,
    Pair,
    amount_format,
    amount_parse,
    rate_parse,
)
from rates.models import ExchangeRate, validate_rate


class _StrictDecimalField(forms.Field):
    """A text input read by the strict parser (rates.assets) instead of Decimal()."""

    widget = forms.TextInput

    def widget_attrs(self, widget) -> dict:
        attrs = super().widget_attrs(widget)
        return {
            **attrs,
            "inputmode": "decimal",
            "autocomplete": "off",
            "maxlength": str(MAX_DECIMAL_LENGTH),
        }

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip()
        if value in self.empty_values:
            return None
        try:
            return self.parse(value)
        except AmountError as e:
            raise forms.ValidationError(str(e), code="invalid") from None

    def parse(self, text: str):
        raise NotImplementedError


class AmountField(_StrictDecimalField):
    """A money amount of one asset, cleaned to an int of base units."""

    def __init__(self, *, asset: str, **kwargs):
        self.asset = asset
        super().__init__(**kwargs)

    def parse(self, text: str) -> int:
        return amount_parse(text, self.asset)


class RateField(_StrictDecimalField):
    """An exchange rate, cleaned to a Decimal within the rate bounds."""

    default_validators = [validate_rate]

    def parse(self, text: str):
        return rate_parse(text)


def _rate_field() -> RateField:
    return RateField(
        help_text="Pegged units per unit of the sidechain asset, up to 8 decimal places."
    )


def _amount_field() -> forms.CharField:
    # Parsed in clean(), where the pair says the asset; bounded in length before that.
    return forms.CharField(
        label="Sample amount",
        required=False,
        max_length=MAX_DECIMAL_LENGTH,
        help_text="Of the sidechain asset, for the preview only.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class _SampleAmountForm(forms.Form):
    """The sample amount, parsed for both assets of the pair once the pair is known."""

    def clean(self):
        data = super().clean()
        if "pair" in data and "amount" in data:
            pair = Pair(data["pair"])
            amount = data["amount"] or "1"  # no sample amount: one whole unit
            try:
                data["sidechain_units"] = amount_parse(amount, pair.sidechain_asset)
                data["pegged_units"] = amount_parse(amount, pair.pegged_asset)
            except AmountError as e:
                self.add_error("amount", str(e))
        return data


class RateForm(_SampleAmountForm):
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
    # The rate an administrator was warned about and set again (rates/views.py).
    confirm_rate = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in ("pair", "rate", "valid_from", "note")}


@dataclass(frozen=True)
class Preview:
    sidechain_in: str
    pegged_out: str
    pegged_in: str
    sidechain_out: str


class RatePreviewForm(_SampleAmountForm):
    """What a sample amount converts to at a rate being typed, both ways."""

    pair = forms.ChoiceField(choices=Pair.choices)
    rate = _rate_field()
    amount = _amount_field()

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
    rate = _rate_field()  # the strict parser, not the model's DecimalField

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
