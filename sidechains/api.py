"""The signer-facing API. Signers pull work and push results; the portal never calls a signer."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
)
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from chains.bitcoin.rpc import BitcoinRPCError
from core.api_pages import PAGE_PARAMETERS, page_of, paged
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.bitcoin.withdrawals import errors, fees, requests, signatures, tracker
from sidechains.hive.api import hive_signing_requests_of, hive_withdrawal_post
from sidechains.models import SidechainTransaction, Withdrawal
from sidechains.serializers import (
    FeeQuoteOutput,
    SigningAnswerInput,
    SigningAnswerOutput,
    SigningRequestList,
    WithdrawalInput,
    WithdrawalOutput,
)
from sons.auth import IsSON, SONTokenAuthentication
from sons.serializers import RejectionOutput


@extend_schema(responses=SigningRequestList)
@api_view(["GET"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def signing_requests(request):
    """Transactions awaiting this SON's signatures, in the format of docs/signing-requests.md."""
    pending = SidechainTransaction.objects.awaiting_signatures_of(request.auth)
    results = [signatures.signing_request_for(stx) for stx in pending]
    return Response({"results": results + hive_signing_requests_of(request.auth)})


@extend_schema(
    request=SigningAnswerInput,
    responses={
        200: SigningAnswerOutput,
        400: RejectionOutput,
        404: RejectionOutput,
        413: RejectionOutput,
    },
    description="The signer's answer to request <id>: its signatures or its refusal. 400 "
    "(code malformed or rejected) for an answer the portal refuses; 404 for a request that "
    "does not exist (code not_found) or no longer awaits signatures (code closed). Nothing is "
    "stored in any of these cases.",
)
@api_view(["POST"])
@authentication_classes([SONTokenAuthentication])
@permission_classes([IsSON])
def signing_answer(request, sidechain_tx_id: int):
    answer = SigningAnswerInput(data=request.data)
    if not answer.is_valid():
        detail = f"Malformed answer: {_first_error(answer.errors)}"
        return Response({"detail": detail, "code": "malformed"}, status=400)
    try:
        result = signatures.signatures_submit(
            son=request.auth, sidechain_tx_id=sidechain_tx_id, answer=answer.validated_data
        )
    except errors.SidechainTxNotFound as e:
        return Response({"detail": str(e), "code": "not_found"}, status=404)
    except errors.SidechainTxClosed as e:
        # Gone, as far as signers are concerned (it left their list): the slowest signer's
        # answer after the others finished the transaction is routine, and deployed signers
        # skip a 404 with a warning (docs/decisions.md).
        return Response({"detail": str(e), "code": "closed"}, status=404)
    except errors.SignatureRejected as e:
        return Response({"detail": str(e), "code": "rejected"}, status=400)
    if result.complete:
        _send(sidechain_tx_id)
    return Response({"accepted": result.accepted, "complete": result.complete})


def _first_error(errors, path: tuple[str, ...] = ()) -> str:
    """The first of a serializer's (nested) errors and where: "signatures.1.pubkey: ..."."""
    if isinstance(errors, list) and errors and isinstance(errors[0], str):
        errors = errors[0]
    if isinstance(errors, str):
        return f"{'.'.join(path)}: {errors}" if path else str(errors)
    items = errors.items() if isinstance(errors, dict) else enumerate(errors)
    for key, value in items:
        if value:
            where = () if key == "non_field_errors" else (str(key),)
            return _first_error(value, path + where)
    return "invalid"


def _send(sidechain_tx_id: int) -> None:
    """Send at once; if the node is down the tracker's beat sends the stored transaction."""
    rpc = bitcoin_rpc()
    try:
        tracker.sidechain_tx_broadcast(sidechain_tx_id=sidechain_tx_id, rpc=rpc)
    except BitcoinRPCError:
        pass  # recorded or transient; withdrawals_track retries
    finally:
        rpc.close()


# --- Users' withdrawals -------------------------------------------------------------------


def _get_withdrawal_for_user(request, pk: int) -> Withdrawal:
    withdrawal = Withdrawal.objects.for_user(request.user).filter(pk=pk).first()
    if withdrawal is None:
        raise Http404("You have no withdrawal with this id.")
    return withdrawal


def _withdrawals_of(user):
    transactions = ("unsigned_tx", "signed_tx", "change_witness_script")
    return (
        Withdrawal.objects.for_user(user)
        .select_related("sidechain_tx")
        .defer(*(f"sidechain_tx__{field}" for field in transactions))
    )


@extend_schema(
    methods=["GET"],
    operation_id="withdrawals_list",
    parameters=PAGE_PARAMETERS,
    responses=page_of("WithdrawalPage", WithdrawalOutput(many=True)),
    description="The user's withdrawals, newest first, a page at a time (docs/withdrawals.md).",
)
@extend_schema(
    methods=["POST"],
    request=WithdrawalInput,
    responses={201: WithdrawalOutput, 200: WithdrawalOutput},
    description="Request a withdrawal of pBTC to the user's registered Bitcoin withdraw "
    "address (or, with asset pHIVE or pHBD, to the user's verified Hive account). 201 "
    "when created, 200 with the first withdrawal when request_id was used "
    "before; 400 (nothing saved) for a bad amount (a decimal string: a JSON number is refused), "
    "too low a balance, an amount below the minimum, or no registered address the portal may "
    "pay, or no second factor (non_field_errors), or a quote that is not the user's or has "
    "expired (quote; with fresh_quote, a new quote to confirm with).",
)
@api_view(["GET", "POST"])
def withdrawal_list(request):
    if request.method == "GET":
        return paged(request, _withdrawals_of(request.user), WithdrawalOutput)
    if hasattr(request.data, "get") and request.data.get("asset", "pBTC") != "pBTC":
        return hive_withdrawal_post(request)  # pHIVE or pHBD (docs/hive.md)
    data = WithdrawalInput(data=request.data)
    data.is_valid(raise_exception=True)
    amount, request_id = data.validated_data["amount"], data.validated_data["request_id"]
    earlier = _withdrawals_of(request.user).filter(request_id=request_id).first()
    if earlier is not None:
        return Response(WithdrawalOutput(earlier).data, status=200)
    try:
        withdrawal = requests.withdrawal_request(
            user=request.user,
            amount_pegged=amount,
            request_id=request_id,
            quote=data.validated_data.get("quote"),
        )
    except fees.FeeQuoteExpired as e:
        # 400 with the reason and a fresh quote (null when the node cannot be asked now).
        return Response({"quote": [str(e)], "fresh_quote": _fee_quote(request.user)}, status=400)
    except errors.WithdrawalAddressError as e:
        raise ValidationError({"non_field_errors": [str(e)]}) from e
    except errors.SecondFactorRequired as e:
        raise ValidationError({"non_field_errors": [str(e)]}) from e
    except errors.WithdrawalError as e:
        raise ValidationError({"amount": [str(e)]}) from e
    return Response(WithdrawalOutput(withdrawal).data, status=201)


def _fee_quote(user) -> dict | None:
    rpc = bitcoin_rpc(timeout=5)
    try:
        return dict(FeeQuoteOutput(fees.fee_quote_make(user=user, rpc=rpc)).data)
    except BitcoinRPCError:
        return None
    finally:
        rpc.close()


@extend_schema(
    request=None,
    responses={200: FeeQuoteOutput, 503: RejectionOutput},
    description="A quote of the network fee of a pBTC withdrawal, valid a few minutes "
    "(BITCOIN_WITHDRAWAL_QUOTE_VALIDITY): post its `quote` with the request and the "
    "withdrawal is charged exactly `fee`. 503 when the Bitcoin node cannot be asked.",
)
@api_view(["POST"])
def withdrawal_fee_quote(request):
    quote = _fee_quote(request.user)
    if quote is None:
        detail = "The Bitcoin node cannot estimate the fee now; try again later."
        return Response({"detail": detail, "code": "unavailable"}, status=503)
    return Response(quote)


@extend_schema(responses=WithdrawalOutput)
@api_view(["GET"])
def withdrawal_detail(request, pk: int):
    return Response(WithdrawalOutput(_get_withdrawal_for_user(request, pk)).data)
