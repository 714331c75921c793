"""Transfers for machines, as on the pages (docs/proofs.md, "Transfers between users"):
prepare (the message to sign), sign (the signature moves the tokens, once), and the list of
one's own. Only the sender sees a transfer here; nothing moves without their key's signature,
so preparing twice is harmless (two messages, at most what the balance allows is ever sent)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from solvency.models import Transfer
from solvency.serializers import SignatureInput, TransferInput, TransferOutput
from solvency.transfers import TransferError, transfer_execute, transfer_prepare
from sons.serializers import RejectionOutput

PAGE = 50


def _mine(request):
    return Transfer.objects.filter(sender=request.user).select_related("sender", "receiver")


@extend_schema(methods=["GET"], operation_id="transfers_list", responses=TransferOutput(many=True))
@extend_schema(
    methods=["POST"],
    operation_id="transfers_prepare",
    request=TransferInput,
    responses={201: TransferOutput, 400: OpenApiResponse(description="Refused; nothing kept.")},
    description="Prepare a transfer: the portal checks the terms (a known, other, active "
    "user; the amount as a decimal string; the balance; a registered Bitcoin key) and keeps "
    "the exact message the sender signs. Nothing moves until the signature is posted.",
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def transfer_list(request):
    if request.method == "GET":
        return Response(TransferOutput(_mine(request)[:PAGE], many=True).data)
    data = TransferInput(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        prepared = transfer_prepare(sender=request.user, **data.validated_data)
    except TransferError as e:
        field = e.code if e.code in TransferInput().fields else "non_field_errors"
        raise ValidationError({field: [str(e)]}) from e
    return Response(TransferOutput(prepared).data, status=201)


@extend_schema(operation_id="transfers_detail", responses=TransferOutput)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def transfer_detail(request, pk: int):
    found = _mine(request).filter(pk=pk).first()
    if found is None:
        raise Http404("You have no transfer with this id.")
    return Response(TransferOutput(found).data)


@extend_schema(
    operation_id="transfers_sign",
    request=SignatureInput,
    responses={200: TransferOutput, 400: RejectionOutput, 404: RejectionOutput},
    description="Post the sender's signature of the transfer's message: the tokens move "
    "once. 400 with a code (replayed, expired, wrong_key, bad_signature, balance) and nothing "
    "moved otherwise; 404 (code not_found) for a transfer that is not yours.",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def transfer_sign(request, pk: int):
    if not _mine(request).filter(pk=pk).exists():
        return Response({"detail": "You have no transfer with this id.", "code": "not_found"}, 404)
    data = SignatureInput(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        done = transfer_execute(
            transfer_id=pk, sender=request.user, signature=data.validated_data["signature"]
        )
    except TransferError as e:
        status = 404 if e.code == "not_found" else 400
        return Response({"detail": str(e), "code": e.code}, status=status)
    return Response(TransferOutput(done).data)
