from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rates.assets import Asset, amount_format
from rates.serializers import AmountField
from sidechains.models import SON, Withdrawal


class HeartbeatInput(serializers.Serializer):
    """A heartbeat signed with the SON's Bitcoin key; see docs/signer.md."""

    son = serializers.IntegerField(min_value=1, help_text="The SON's id (GET son/me).")
    timestamp = serializers.IntegerField(min_value=0, help_text="Unix time, seconds.")
    nonce = serializers.RegexField(
        r"^[0-9a-f]{32}$", help_text="32 lowercase hex characters, random, never reused."
    )
    signature = serializers.RegexField(
        r"^[0-9a-f]{16,146}$",
        help_text="DER ECDSA signature (hex) over sha256('sonportal-heartbeat:v1:'"
        " + son + ':' + timestamp + ':' + nonce).",
    )


class HeartbeatOutput(serializers.Serializer):
    son = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=SON.Status.choices)
    last_heartbeat_at = serializers.DateTimeField()


class SONOutput(HeartbeatOutput):
    public_keys = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_public_keys(self, son: SON) -> dict[str, str]:
        return {key.sidechain: key.public_key for key in son.public_keys.all()}


class RejectionOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class SigningRequestList(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())


class SigningAnswerOutput(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Valid signatures in the answer.")
    complete = serializers.BooleanField(help_text="Every input has m signatures.")


class WithdrawalInput(serializers.Serializer):
    amount = AmountField(
        asset=Asset.PBTC,
        help_text='pBTC to withdraw, a decimal string ("0.001") of up to 8 places.',
    )
    request_id = serializers.CharField(
        max_length=64,
        help_text="A client-chosen id; repeating a request with it returns the first result.",
    )


class WithdrawalOutput(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField(help_text="pBTC escrowed, decimal.")
    amount_sat = serializers.IntegerField(source="amount", help_text="Satoshi before the fee.")
    fee_share = serializers.IntegerField(help_text="Satoshi; 0 until batched.")
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
        return amount_format(withdrawal.amount_pegged, Asset.PBTC).split()[0]
