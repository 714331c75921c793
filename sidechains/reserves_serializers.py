"""The shape of GET /api/v1/reserves (docs/proofs.md, "Reserves")."""

from rest_framework import serializers


class BreakerOutput(serializers.Serializer):
    tripped = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)


class VersionOutput(serializers.Serializer):
    fingerprint = serializers.CharField(help_text="SHA-256 of the sorted keys, joined by commas.")
    status = serializers.CharField()
    keys = serializers.ListField(child=serializers.CharField(), help_text="Compressed, hex.")
    threshold = serializers.IntegerField()
    wallet_script = serializers.CharField(help_text="The wallet's witness script, hex.")


class CoinOutput(serializers.Serializer):
    outpoint = serializers.CharField()
    txid = serializers.CharField()
    vout = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="Satoshi.")
    witness_script = serializers.CharField(help_text="Hex; its SHA-256 is the P2WSH program.")
    script_pubkey = serializers.CharField(help_text="Hex.")
    version = serializers.CharField(
        allow_null=True, help_text="The fingerprint of the federation version whose keys it holds."
    )
    height = serializers.IntegerField()
    depth = serializers.IntegerField(allow_null=True, help_text="Confirmations at the check.")


class CoinPage(serializers.Serializer):
    count = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Satoshi, of every coin (not only this page).")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = CoinOutput(many=True)


class BitcoinReservesOutput(serializers.Serializer):
    checked_at = serializers.DateTimeField(allow_null=True)
    height = serializers.IntegerField(allow_null=True, help_text="The node's tip at the check.")
    reserves = serializers.IntegerField(help_text="Satoshi confirmed unspent.")
    liabilities = serializers.IntegerField(
        help_text="Satoshi owed: users' pBTC and unsent withdrawals' escrow, at the rate."
    )
    receivables = serializers.IntegerField()
    margin = serializers.IntegerField(help_text="reserves - liabilities.")
    supply = serializers.DictField(child=serializers.IntegerField())
    circuit_breaker = BreakerOutput()
    versions = VersionOutput(many=True)
    coins = CoinPage()


class HiveAssetOutput(serializers.Serializer):
    asset = serializers.CharField()
    balance = serializers.IntegerField(help_text="The federation account's, in 0.001.")
    pegged = serializers.CharField()
    supply = serializers.IntegerField(help_text="The pegged token's supply, base units.")
    owed = serializers.IntegerField(help_text="The supply in the Hive asset, at the rate.")
    margin = serializers.IntegerField()


class HiveReservesOutput(serializers.Serializer):
    account = serializers.CharField()
    read_at = serializers.DateTimeField(allow_null=True)
    assets = HiveAssetOutput(many=True)
    circuit_breaker = BreakerOutput()


class EpochAnchorOutput(serializers.Serializer):
    epoch = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    root = serializers.CharField()
    totals = serializers.DictField(child=serializers.IntegerField())
    anchor_txid = serializers.CharField(allow_null=True)
    anchor_height = serializers.IntegerField(allow_null=True)


class ReservesOutput(serializers.Serializer):
    bitcoin = BitcoinReservesOutput()
    hive = HiveReservesOutput()
    epoch = EpochAnchorOutput(allow_null=True)
