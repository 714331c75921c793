"""Exchange rates for machines: current rates and history for anyone, new rates for admins."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from rates import services
from rates.assets import Pair
from rates.models import ExchangeRate
from rates.serializers import RateHistoryOutput, RateHistoryQuery, RateInput, RateOutput


class CanSetRates(BasePermission):
    """rates.add_exchangerate: the administrators' permission, not merely being staff."""

    message = "Only administrators set exchange rates."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("rates.add_exchangerate"))


class RatesView(APIView):
    # Reading is public; writing needs rates.add_exchangerate (session authentication and CSRF).
    # Session authentication, the default, lets anonymous readers through as AnonymousUser.

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return [CanSetRates()]

    @extend_schema(
        operation_id="rates_current",
        summary="The rate in force now, per pair",
        responses=RateOutput(many=True),
    )
    def get(self, request):
        rows = ExchangeRate.objects.in_force().select_related("set_by")
        order = list(Pair.values)
        rows = sorted(rows, key=lambda row: order.index(row.pair))
        return Response(RateOutput(rows, many=True).data)

    @extend_schema(
        operation_id="rates_set",
        summary="Set a rate (administrators)",
        request=RateInput,
        responses={
            201: RateOutput,
            200: OpenApiResponse(RateOutput, description="A replay: the row the request id made."),
            400: OpenApiResponse(description="Invalid input; field messages. Nothing saved."),
            403: OpenApiResponse(description="Not an administrator."),
            409: OpenApiResponse(
                description="The pair has a rate at that instant, or the request id was used "
                "for a different rate."
            ),
        },
    )
    def post(self, request):
        data = RateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            row = services.rate_set(set_by=request.user, **data.validated_data)
        except services.RateConflict as e:
            return Response({"detail": e.message}, status=status.HTTP_409_CONFLICT)
        except services.RateError as e:
            return Response({e.field or "non_field_errors": [e.message]}, status=400)
        code = status.HTTP_200_OK if row.replayed else status.HTTP_201_CREATED
        return Response(RateOutput(row).data, status=code)


@extend_schema(
    operation_id="rates_history",
    summary="Every rate of a pair, newest first, scheduled ones included",
    parameters=[RateHistoryQuery],
    responses=RateHistoryOutput(many=True),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def rate_history(request):
    query = RateHistoryQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    pair = query.validated_data["pair"]
    now = timezone.now()
    rows = ExchangeRate.objects.for_pair(pair).select_related("set_by").newest_first()
    in_force = ExchangeRate.objects.for_pair(pair).in_force(now).first()
    context = {"now": now, "in_force": in_force}
    return Response(RateHistoryOutput(rows, many=True, context=context).data)
