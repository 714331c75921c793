from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rates.assets import AmountError, Pair, amount_format, amount_parse, rate_parse
from rates.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS, ExchangeRate, validate_rate


class RateField(serializers.DecimalField):
    """A rate in and out as a decimal string, read by the strict parser (rates.assets)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validators", [validate_rate])
        super().__init__(
            max_digits=RATE_MAX_DIGITS,
            decimal_places=RATE_DECIMAL_PLACES,
            coerce_to_string=True,
            **kwargs,
        )

    def to_internal_value(self, data):
        try:
            return rate_parse(data)
        except AmountError as e:
            raise serializers.ValidationError(str(e)) from None


@extend_schema_field(OpenApiTypes.STR)
class AmountField(serializers.Field):
    """A money amount as a decimal string ("0.001") in and out; an int of base units inside.

    A JSON number is refused: a float has lost digits already."""

    def __init__(self, *, asset: str, **kwargs):
        self.asset = asset
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        try:
            return amount_parse(data, self.asset)
        except AmountError as e:
            raise serializers.ValidationError(str(e)) from None

    def to_representation(self, value: int) -> str:
        return amount_format(value, self.asset).split()[0]


class RateInput(serializers.Serializer):
    pair = serializers.ChoiceField(choices=Pair.choices)
    rate = RateField(help_text="Pegged units per unit of the sidechain asset, as a string.")
    valid_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the rate takes effect; now if omitted. Never in the past.",
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    request_id = serializers.CharField(
        max_length=64, help_text="The client's idempotency key: a replay returns the first result."
    )


class RateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    pair = serializers.ChoiceField(choices=Pair.choices)
    sidechain_asset = serializers.ChoiceField(choices=[p.sidechain_asset.value for p in Pair])
    pegged_asset = serializers.ChoiceField(choices=[p.pegged_asset.value for p in Pair])
    rate = RateField()
    valid_from = serializers.DateTimeField()
    set_by = serializers.CharField(source="set_by.username", allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class RateHistoryOutput(RateOutput):
    status = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=ExchangeRate.Status.choices))
    def get_status(self, row: ExchangeRate) -> str:
        return row.status_at(self.context["now"], self.context["in_force"])


class RateHistoryQuery(serializers.Serializer):
    pair = serializers.ChoiceField(choices=Pair.choices)
