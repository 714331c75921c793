"""The signers' side of Hive withdrawals: their requests are listed with the Bitcoin ones
(sidechains/api.py), and their answers come here (docs/signing-requests.md, "Hive")."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from chains.hive.rpc import HiveRPCError, HiveRPCUnavailable
from core.serializers import BoundedListField
from rates.assets import AmountError, Asset, amount_parse
from sidechains.hive.node import hive_rpc
from sidechains.hive.rotation import hive_rotation_request
from sidechains.hive.withdrawals import tracker
from sidechains.hive.withdrawals import transactions as txs
from sidechains.hive.withdrawals.requests import HiveWithdrawalError, hive_withdrawal_request
from sidechains.models import HiveTransaction, Withdrawal
from sidechains.serializers import (
    REASON_CODE,
    REQUEST_ID,
    ExactSerializer,
    WithdrawalOutput,
)
from sons.auth import IsSON, SONTokenAuthentication
from sons.models import SON
from sons.serializers import RejectionOutput


class HiveSignatureItem(ExactSerializer):
    signature = serializers.RegexField(r"^[0-9a-f]{130}$", max_length=130)


class HiveAnswerInput(ExactSerializer):
    """One signature, or a refusal with its reason codes."""

    request_id = serializers.RegexField(REQUEST_ID, max_length=128, allow_null=True)
    refused = serializers.BooleanField(required=False)
    reasons = BoundedListField(
        child=serializers.RegexField(REASON_CODE, max_length=32),
        max_length=32,
        allow_empty=False,
        required=False,
    )
    signatures = HiveSignatureItem(many=True, max_length=1, min_length=1, required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        refused = data.get("refused") is True
        if refused != ("reasons" in data) or refused == ("signatures" in data):
            raise serializers.ValidationError("Either one signature, or refused and reasons.")
        return data


def hive_signing_requests_of(son: SON) -> list[dict[str, Any]]:
    """Hive transactions awaiting signatures that this SON has not signed."""
    pending = (
        HiveTransaction.objects.filter(status=HiveTransaction.Status.AWAITING_SIGNATURES)
        .exclude(son_signatures__son=son)
        .order_by("pk")
    )
    return [
        hive_rotation_request(htx) if htx.federation_version_id else txs.hive_signing_request(htx)
        for htx in pending
    ]


@extend_schema(request=HiveAnswerInput, responses={200: None, 400: RejectionOutput})
@api_view(["POST"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def hive_signing_answer(request: Request, hive_tx_id: int) -> Response:
    answer = HiveAnswerInput(data=request.data)
    if not answer.is_valid():
        return Response({"detail": f"Malformed answer: {answer.errors}", "code": "malformed"}, 400)
    if answer.validated_data.get("refused"):
        reasons = ", ".join(answer.validated_data["reasons"])
        HiveTransaction.objects.filter(pk=hive_tx_id).update(note=f"refused: {reasons}"[:200])
        return Response({"accepted": 0, "complete": False})
    signature = answer.validated_data["signatures"][0]["signature"]
    rpc = hive_rpc()
    try:
        authority = txs.federation_authority(rpc, hive_tx_id=hive_tx_id)
        complete = txs.hive_signature_submit(
            son=request.auth, hive_tx_id=hive_tx_id, signature=signature, authority=authority
        )
        if complete:
            tracker.hive_tx_broadcast(hive_tx=HiveTransaction.objects.get(pk=hive_tx_id), rpc=rpc)
    except txs.HiveTxClosed as e:
        return Response({"detail": str(e), "code": "closed"}, status=404)
    except txs.HiveSigningError as e:
        return Response({"detail": str(e), "code": "rejected"}, status=400)
    except (HiveRPCError, HiveRPCUnavailable) as e:
        return Response({"detail": f"The Hive node: {e}", "code": "unavailable"}, status=503)
    finally:
        rpc.close()
    return Response({"accepted": 1, "complete": complete})


class HiveWithdrawalInput(serializers.Serializer):
    """A pHIVE or pHBD withdrawal on POST /api/withdrawals (with "asset")."""

    asset = serializers.ChoiceField(choices=[Asset.PHIVE, Asset.PHBD])
    amount = serializers.CharField(max_length=40, help_text='A decimal string, e.g. "1.500".')
    request_id = serializers.CharField(max_length=64)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            data["amount"] = amount_parse(data["amount"], data["asset"])
        except AmountError as e:
            raise serializers.ValidationError({"amount": [str(e)]}) from None
        return data


def hive_withdrawal_post(request: Request) -> Response:
    """201 with the new withdrawal, 200 with the first one for a request_id seen before."""
    data = HiveWithdrawalInput(data=request.data)
    data.is_valid(raise_exception=True)
    user, request_id = request.user, data.validated_data["request_id"]
    earlier = Withdrawal.objects.filter(user=user, request_id=request_id).first()
    if earlier is not None:
        return Response(WithdrawalOutput(earlier).data, status=200)
    try:
        withdrawal = hive_withdrawal_request(
            user=user,
            pegged=data.validated_data["asset"],
            amount_pegged=data.validated_data["amount"],
            request_id=request_id,
        )
    except HiveWithdrawalError as e:
        raise ValidationError({"amount": [str(e)]}) from e
    return Response(WithdrawalOutput(withdrawal).data, status=201)
