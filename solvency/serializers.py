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
