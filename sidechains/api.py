"""The signer-facing API. Signers pull work and push results; the portal never calls a signer."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
)
from rest_framework.response import Response

from sidechains import services
from sidechains.auth import IsSON, SONTokenAuthentication
from sidechains.serializers import (
    HeartbeatInput,
    HeartbeatOutput,
    RejectionOutput,
    SigningRequestList,
    SONOutput,
)

# HTTP status of each reason a heartbeat is refused.
HEARTBEAT_REJECTION_STATUS = {
    "wrong_son": 403,
    "no_key": 403,
    "bad_signature": 401,
    "stale": 400,
    "replayed": 409,
}


@extend_schema(responses=SONOutput)
@api_view(["GET"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def me(request):
    """The SON the token belongs to: its id (which heartbeats sign) and registered keys."""
    return Response(SONOutput(request.auth).data)


@extend_schema(
    request=HeartbeatInput,
    responses={
        200: HeartbeatOutput,
        400: RejectionOutput,
        401: RejectionOutput,
        403: RejectionOutput,
        409: RejectionOutput,
    },
)
@api_view(["POST"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def heartbeat(request):
    claim = HeartbeatInput(data=request.data)
    claim.is_valid(raise_exception=True)
    data = claim.validated_data
    try:
        son = services.son_heartbeat_accept(
            son=request.auth,
            son_id=data["son"],
            timestamp=data["timestamp"],
            nonce=data["nonce"],
            signature=data["signature"],
        )
    except services.HeartbeatRejected as e:
        status = HEARTBEAT_REJECTION_STATUS[e.code]
        return Response({"detail": e.message, "code": e.code}, status=status)
    return Response(HeartbeatOutput(son).data)


@extend_schema(responses=SigningRequestList)
@api_view(["GET"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def signing_requests(request):
    # Withdrawal and refund transactions are added here by the signing pipeline; until a
    # sidechain transaction awaits this SON's signature the list is empty.
    return Response({"results": []})
