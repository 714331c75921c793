"""/reserves for people and GET /api/v1/reserves for machines: public, anonymous, read from
the rows the beat keeps (sidechains.reserves_public)."""

from django.http import HttpRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.pagination import page_of
from rates.assets import Asset, amount_format
from sidechains.reserves_public import (
    MAX_COINS,
    coin_row,
    published_coins,
    reserves_report,
)
from sidechains.reserves_serializers import ReservesOutput

PAGE = 50
DEFAULT_LIMIT = 100
# Longer numbers than this are no numbers: checked before int() reads them.
MAX_PARAM_LENGTH = 9


@require_GET
def reserves(request: HttpRequest):
    report = reserves_report(limit=0)
    page = page_of(request, published_coins(), PAGE)
    tip = report["bitcoin"]["height"]
    rows = [coin_row(c, tip) | {"btc": amount_format(c.amount, Asset.BTC)} for c in page]
    context = {"report": report, "page": page, "coins": rows, "btc": _btc_summary(report)}
    return render(request, "sidechains/reserves.html", context)


def _btc_summary(report: dict) -> dict[str, str]:
    bitcoin = report["bitcoin"]
    return {
        name: amount_format(bitcoin[name], Asset.BTC)
        for name in ("reserves", "liabilities", "margin")
    } | {"total": amount_format(bitcoin["coins"]["total"], Asset.BTC)}


def _number(request, name: str, default: int, most: int) -> int:
    """A non-negative integer parameter, at most `most`; 400 for anything else."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if len(text) > MAX_PARAM_LENGTH or not text.isascii() or not text.isdigit():
        raise ValidationError({name: f"A whole number from 0 to {most}."})
    return min(int(text), most)


@extend_schema(
    operation_id="reserves",
    summary="The federation's reserves against the pegged tokens, and the latest epoch",
    description="Per sidechain: Bitcoin's coins (paged by offset and limit, with their count "
    "and total), the federation versions whose keys and threshold rebuild each coin's script, "
    "Hive's federation account balances as last read; each against its pegged token's supply, "
    "the margin and the circuit breaker; the latest liabilities epoch and its Bitcoin anchor "
    "(docs/proofs.md).",
    parameters=[
        OpenApiParameter("offset", int, description="Coins to skip (default 0)."),
        OpenApiParameter(
            "limit", int, description=f"Coins to list, at most {MAX_COINS} (default 100)."
        ),
    ],
    responses={
        200: ReservesOutput,
        400: OpenApiResponse(description="offset or limit is not a whole number."),
    },
)
@api_view(["GET"])
@permission_classes([AllowAny])
def reserves_api(request):
    offset = _number(request, "offset", 0, 10**9)
    limit = _number(request, "limit", DEFAULT_LIMIT, MAX_COINS)
    return Response(ReservesOutput(reserves_report(offset=offset, limit=limit)).data)
