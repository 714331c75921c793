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
from sidechains.serializers import HeartbeatOutput, SigningRequestList


@extend_schema(request=None, responses=HeartbeatOutput)
@api_view(["POST"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def heartbeat(request):
    son = services.son_heartbeat(son=request.auth)
    return Response(HeartbeatOutput(son).data)


@extend_schema(responses=SigningRequestList)
@api_view(["GET"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def signing_requests(request):
    # Withdrawal and refund transactions are added here by the signing pipeline; until a
    # sidechain transaction awaits this SON's signature the list is empty.
    return Response({"results": []})
