from rest_framework import serializers

from core.serializers import BoundedListField
from rates.assets import Asset, amount_format
from rates.serializers import AmountField
from sidechains.models import Withdrawal


class SigningRequestList(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())


# A signing answer (docs/signing-requests.md, "The answer"), bounded field by field.
REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
REASON_CODE = r"^[A-Z0-9_]{1,32}$"  # the signer's reason codes, e.g. FEE_TOO_HIGH
MAX_REASONS = 32  # the signer has 24 codes and lists each once
# A transaction the signers accept is at most 100 kB, so it has fewer than 2,500 inputs.
MAX_SIGNATURES = 2_500


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string, a float or a bool."""

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class ExactSerializer(serializers.Serializer):
    """Refuses keys it does not know: the signer's formats are exact."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not set(data) <= set(self.fields):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Only these keys: {', '.join(self.fields)}."]}
            )
        return super().to_internal_value(data)


class AnswerSignatureInput(ExactSerializer):
    input = StrictIntegerField(min_value=0, max_value=MAX_SIGNATURES - 1)
    pubkey = serializers.RegexField(
        r"^0[23][0-9a-f]{64}$", max_length=66, help_text="The SON's compressed key, hex."
    )
    signature = serializers.RegexField(
        r"^(?:[0-9a-f]{2}){9,73}$",
        max_length=146,
        help_text="DER signature and the SIGHASH_ALL byte, hex.",
    )


class SigningAnswerInput(ExactSerializer):
    """Signatures, or a refusal with its reason codes; never both."""

    request_id = serializers.RegexField(REQUEST_ID, max_length=128, allow_null=True, required=False)
    refused = serializers.BooleanField(required=False)
    reasons = BoundedListField(
        child=serializers.RegexField(REASON_CODE, max_length=32),
        max_length=MAX_REASONS,
        allow_empty=False,
        required=False,
    )
    signatures = AnswerSignatureInput(
        many=True, max_length=MAX_SIGNATURES, allow_empty=False, required=False
    )

    def validate(self, data: dict) -> dict:
        refused = self.initial_data.get("refused") is True
        if "refused" in data and not refused:
            raise serializers.ValidationError({"refused": ["Only true, with reasons."]})
        if refused != ("reasons" in data) or refused == ("signatures" in data):
            raise serializers.ValidationError(
                "An answer has either signatures, or refused: true and reasons."
            )
        return data


class SigningAnswerOutput(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Valid signatures in the answer.")
    complete = serializers.BooleanField(help_text="Every input has m signatures.")


class WithdrawalInput(serializers.Serializer):
    asset = serializers.ChoiceField(
        choices=[Asset.PBTC, Asset.PHIVE, Asset.PHBD],
        required=False,
        help_text="pBTC (the default), or pHIVE / pHBD paid to the user's verified Hive "
        "account; the amount then has up to 3 places.",
    )
    amount = AmountField(
        asset=Asset.PBTC,
        help_text='pBTC to withdraw, a decimal string ("0.001") of up to 8 places.',
    )
    request_id = serializers.CharField(
        max_length=64,
        help_text="A client-chosen id; repeating a request with it returns the first result.",
    )
    quote = serializers.CharField(
        max_length=300,
        required=False,
        help_text="pBTC only: the token of POST /api/v1/withdrawals/quote; the withdrawal is "
        "charged exactly its fee. Without it, the withdrawal pays its share of its batch's fee.",
    )


class FeeQuoteOutput(serializers.Serializer):
    fee = serializers.IntegerField(help_text="Satoshi a withdrawal requested with it is charged.")
    expires_at = serializers.DateTimeField()
    quote = serializers.CharField(source="token", help_text="Post it back with the request.")


class WithdrawalOutput(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField(help_text="pBTC escrowed, decimal.")
    amount_sat = serializers.IntegerField(source="amount", help_text="Satoshi before the fee.")
    fee_share = serializers.IntegerField(
        help_text="Satoshi charged: the quoted fee; without a quote 0 until batched."
    )
    payout = serializers.IntegerField(help_text="Satoshi paid: amount_sat less fee_share.")
    txid = serializers.CharField(source="sidechain_tx.txid", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=Withdrawal.Status.choices)

    class Meta:
        model = Withdrawal
        fields = [
            "id",
            "status",
            "amount",
            "amount_sat",
            "rate",
            "fee_share",
            "payout",
            "address",
            "txid",
            "request_id",
            "note",
            "failure_reason",
            "created_at",
            "settled_at",
        ]

    def get_amount(self, withdrawal: Withdrawal) -> str:
        pegged = {"HIVE": Asset.PHIVE, "HBD": Asset.PHBD}.get(withdrawal.asset, Asset.PBTC)
        return amount_format(withdrawal.amount_pegged, pegged).split()[0]
