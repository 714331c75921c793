"""Users' own mappings over the API. Another user's mapping is indistinguishable from none."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mappings import changes, hive_ownership, services
from mappings.models import HiveOwnershipClaim, SidechainAddress
from mappings.serializers import (
    HiveClaimOutput,
    HiveSignatureInput,
    MappingInput,
    MappingOutput,
)
from sons.models import Sidechain


def _get_mapping_for_user(request, pk: int) -> SidechainAddress:
    mapping = SidechainAddress.objects.for_user(request.user).filter(pk=pk).first()
    if mapping is None:
        raise Http404("You have no mapping with this id.")
    return mapping


CHANGE_ON_THE_PAGE = (
    "Changing where your money goes needs your second factor and a mailed confirmation: "
    "change it on the Addresses page."
)


def _destination_field(sidechain: str) -> str:
    return "withdraw_address" if sidechain == Sidechain.BITCOIN else "hive_account"


def _save(request, data: dict) -> Response:
    """Bitcoin: the mapping (201 new, 200 unchanged). Hive: a pending ownership claim (202)."""
    fields = {k: v for k, v in data.items() if k != "sidechain"}
    try:
        if changes.change_needs_confirmation(
            user=request.user, sidechain=data["sidechain"], fields=fields
        ):
            raise services.MappingError(CHANGE_ON_THE_PAGE, _destination_field(data["sidechain"]))
        if data["sidechain"] == Sidechain.HIVE:
            claim = hive_ownership.hive_claim_start(
                user=request.user, hive_account=fields["hive_account"]
            )
            return Response(HiveClaimOutput(claim).data, status=status.HTTP_202_ACCEPTED)
        mapping, created = services.mapping_set_bitcoin(user=request.user, **fields)
    except services.MappingError as e:
        raise ValidationError({e.field or "non_field_errors": [e.message]}) from e
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Response(MappingOutput(mapping).data, status=code)


@extend_schema(methods=["GET"], responses=MappingOutput(many=True))
@extend_schema(
    methods=["POST"],
    request=MappingInput,
    responses={201: MappingOutput, 200: MappingOutput, 202: HiveClaimOutput},
    description="201 with the new mapping; 200 with the current one when nothing changed or "
    "request_id was used before. A Hive account answers 202 with a pending ownership claim: "
    "the mapping exists once the claim is verified.",
)
@api_view(["GET", "POST"])
def mapping_list(request):
    if request.method == "GET":
        mappings = SidechainAddress.objects.for_user(request.user)
        return Response(MappingOutput(mappings, many=True).data)
    data = MappingInput(data=request.data)
    data.is_valid(raise_exception=True)
    return _save(request, data.validated_data)


@extend_schema(methods=["GET"], responses=MappingOutput)
@extend_schema(
    methods=["DELETE"],
    responses={200: MappingOutput},
    description="Expire the mapping (its deposit address stays watched); answers it.",
)
@extend_schema(
    methods=["PUT"], request=MappingInput, responses={200: MappingOutput, 202: HiveClaimOutput}
)
@api_view(["GET", "PUT", "DELETE"])
def mapping_detail(request, pk: int):
    mapping = _get_mapping_for_user(request, pk)
    if request.method == "GET":
        return Response(MappingOutput(mapping).data)
    if request.method == "DELETE":
        return Response(MappingOutput(services.mapping_expire(mapping=mapping)).data)
    if not mapping.is_active:
        raise ValidationError({"non_field_errors": ["This mapping has expired; create a new one."]})
    data = MappingInput(data={**request.data, "sidechain": mapping.sidechain})
    data.is_valid(raise_exception=True)
    # A change is a new row: the answer carries the new mapping's id.
    answer = _save(request, data.validated_data)
    if answer.status_code == status.HTTP_201_CREATED:
        answer.status_code = status.HTTP_200_OK
    return answer


@extend_schema(responses=HiveClaimOutput(many=True))
@api_view(["GET"])
def hive_claim_list(request):
    """The user's claims on Hive accounts, pending and verified."""
    claims = HiveOwnershipClaim.objects.filter(user=request.user)
    return Response(HiveClaimOutput(claims, many=True).data)


@extend_schema(request=HiveSignatureInput, responses=HiveClaimOutput)
@api_view(["POST"])
def hive_claim_verify(request, pk: int):
    """Prove control of the claimed account with a signature over the claim's challenge."""
    claim = HiveOwnershipClaim.objects.filter(user=request.user, pk=pk).first()
    if claim is None:
        raise Http404("You have no Hive account claim with this id.")
    data = HiveSignatureInput(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        hive_ownership.hive_claim_verify_signature(
            claim=claim, signature=data.validated_data["signature"]
        )
    except services.MappingError as e:
        raise ValidationError({e.field or "non_field_errors": [e.message]}) from e
    claim.refresh_from_db()
    return Response(HiveClaimOutput(claim).data)
