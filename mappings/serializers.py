from rest_framework import serializers

from chains.bitcoin.keys import MAX_KEY_INPUT
from mappings.models import HiveOwnershipClaim, SidechainAddress
from sons.models import Sidechain


class MappingInput(serializers.Serializer):
    sidechain = serializers.ChoiceField(choices=Sidechain.choices)
    deposit_public_key = serializers.CharField(
        required=False,
        max_length=MAX_KEY_INPUT,
        help_text="A compressed public key in hex, an extended public key (xpub/tpub) or a "
        "descriptor of one key (wpkh, pkh, sh(wpkh)); a ranged one gives each deposit address "
        "a fresh key.",
    )
    withdraw_address = serializers.CharField(required=False, max_length=200)
    hive_account = serializers.CharField(required=False, max_length=64)
    request_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="A client-chosen id; repeating a request with it returns the first result.",
    )

    REQUIRED = {
        Sidechain.BITCOIN: ("deposit_public_key", "withdraw_address"),
        Sidechain.HIVE: ("hive_account",),
    }

    def validate(self, data):
        required = self.REQUIRED[data["sidechain"]]
        missing = {
            f: "This field is required for this sidechain." for f in required if f not in data
        }
        extra = {
            f: "This field does not belong to this sidechain."
            for fields in self.REQUIRED.values()
            for f in fields
            if f in data and f not in required
        }
        if missing or extra:
            raise serializers.ValidationError(missing | extra)
        return data


class MappingOutput(serializers.ModelSerializer):
    deposit_witness_script = serializers.SerializerMethodField()
    active = serializers.BooleanField(source="is_active")

    class Meta:
        model = SidechainAddress
        fields = [
            "id",
            "sidechain",
            "deposit_public_key",
            "deposit_key_source",
            "deposit_key_index",
            "deposit_key_origin",
            "withdraw_address",
            "deposit_address",
            "deposit_witness_script",
            "deposit_timelock",
            "hive_account",
            "valid_from",
            "expires",
            "active",
        ]

    def get_deposit_witness_script(self, mapping) -> str | None:
        script = mapping.deposit_witness_script
        return bytes(script).hex() if script is not None else None


class HiveClaimOutput(serializers.ModelSerializer):
    class Meta:
        model = HiveOwnershipClaim
        fields = [
            "id",
            "hive_account",
            "challenge",
            "memo_code",
            "created_at",
            "expires_at",
            "verified_at",
            "method",
            "mapping",
        ]


class HiveSignatureInput(serializers.Serializer):
    signature = serializers.CharField(
        max_length=140, help_text="signBuffer's answer: 130 hex characters."
    )
