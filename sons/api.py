"""The SON's own endpoints: who the token belongs to, and signed heartbeats."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response

from sons import services
from sons.auth import IsSON, SONTokenAuthentication
from sons.serializers import HeartbeatInput, HeartbeatOutput, RejectionOutput, SONOutput

# HTTP status of each reason a heartbeat is refused.
HEARTBEAT_REJECTION_STATUS = {
    "wrong_son": 403,
    "unsigned_lists": 400,
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
            version=data["version"],
            federations=data.get("federations"),
            hive_federations=data.get("hive_federations"),
        )
    except services.HeartbeatRejected as e:
        status = HEARTBEAT_REJECTION_STATUS[e.code]
        return Response({"detail": e.message, "code": e.code}, status=status)
    return Response(HeartbeatOutput(son).data)
