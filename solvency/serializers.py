from rest_framework import serializers


class EpochOutput(serializers.Serializer):
    epoch = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    root = serializers.CharField(help_text="The root hash, 64 hex digits (docs/proofs.md).")
    assets = serializers.ListField(child=serializers.CharField())
    totals = serializers.ListField(
        child=serializers.IntegerField(), help_text="Per asset, in base units."
    )
    prev_root = serializers.CharField()
    audit_head = serializers.CharField(help_text="The audit log's head hash at the epoch.")
    leaf_count = serializers.IntegerField()


class EpochListOutput(EpochOutput):
    anchor_txid = serializers.CharField(
        allow_null=True, help_text="The confirmed Bitcoin transaction carrying the root."
    )
    anchor_height = serializers.IntegerField(allow_null=True)


class PathStep(serializers.Serializer):
    side = serializers.ChoiceField(choices=["left", "right"])
    hash = serializers.CharField()
    sums = serializers.ListField(child=serializers.IntegerField())


class ProofLeaf(serializers.Serializer):
    account = serializers.CharField()
    salt = serializers.CharField()
    amounts = serializers.ListField(child=serializers.IntegerField())


class ProofOutput(EpochOutput):
    format = serializers.CharField()
    leaf = ProofLeaf()
    path = PathStep(many=True)


class TransferInput(serializers.Serializer):
    receiver = serializers.CharField(max_length=150, help_text="Their portal user name.")
    asset = serializers.ChoiceField(choices=["pBTC", "pHIVE", "pHBD"])
    amount = serializers.CharField(
        max_length=40, help_text='A decimal string in whole units, e.g. "0.0015".'
    )


class SignatureInput(serializers.Serializer):
    signature = serializers.CharField(
        max_length=100, help_text='Base64 "Bitcoin Signed Message" signature of `message`.'
    )


class TransferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    sender = serializers.CharField(source="sender.username")
    receiver = serializers.CharField(source="receiver.username")
    asset = serializers.CharField()
    amount = serializers.IntegerField(help_text="Base units.")
    nonce = serializers.CharField()
    message = serializers.CharField(help_text="Exactly what the sender signs.")
    public_key = serializers.CharField(help_text="The sender's key that must sign it.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)
