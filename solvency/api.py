"""Epochs for machines: the published list (anyone) and one's own proof (signed in)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from ledger.services import ledger_account_for
from solvency.epochs import EpochError, proof_for
from solvency.models import Epoch
from solvency.serializers import EpochListOutput, ProofOutput

PAGE = 100


@extend_schema(
    operation_id="epochs_list",
    summary="The newest liabilities epochs, as published",
    responses=EpochListOutput(many=True),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def epochs(request):
    rows = Epoch.objects.defer("chunk_tops")[:PAGE]
    return Response([row.header() | _anchor(row) for row in rows])


def _anchor(epoch: Epoch) -> dict:
    return {"anchor_txid": epoch.anchor_txid or None, "anchor_height": epoch.anchor_height}


@extend_schema(
    operation_id="epochs_proof",
    summary="Your inclusion proof in an epoch (docs/proofs.md)",
    responses={
        200: ProofOutput,
        403: OpenApiResponse(description="Not signed in."),
        404: OpenApiResponse(
            description="No such epoch, you held nothing in it, or its salts came from another "
            "salt key (docs/proofs.md)."
        ),
    },
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def epoch_proof(request, number: int):
    epoch = Epoch.objects.filter(number=number).first()
    try:
        proof = proof_for(epoch=epoch, account=ledger_account_for(request.user)) if epoch else None
    except EpochError as e:
        raise Http404(str(e)) from e
    if proof is None:
        raise Http404("No such epoch, or you held nothing in it.")
    return Response(proof)
