"""A page per deposit and per withdrawal: its timeline, from the rows the pipelines write
(status events, the transaction's events, each SON's first signature and refusals)."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.db.models import Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from rates.assets import Asset, amount_format
from sidechains.models import ChainCursor, Deposit, SignerRefusal, TxSignature, Withdrawal
from sidechains.next_steps import deposit_next_step, withdrawal_next_step
from sidechains.self_refund import reclaim_kit
from sons.models import Sidechain


@dataclass(frozen=True)
class Moment:
    at: datetime
    what: str
    note: str = ""


def _get_deposit_for_user(request: HttpRequest, pk: int) -> Deposit:
    deposit = Deposit.objects.for_user(request.user).filter(pk=pk).first()
    if deposit is None:
        raise Http404("You have no deposit with this id.")
    return deposit


def _get_withdrawal_for_user(request: HttpRequest, pk: int) -> Withdrawal:
    found = Withdrawal.objects.for_user(request.user).select_related("sidechain_tx")
    withdrawal = found.filter(pk=pk).first()
    if withdrawal is None:
        raise Http404("You have no withdrawal with this id.")
    return withdrawal


def _status_moments(events) -> list[Moment]:
    return [Moment(e.created_at, e.get_new_status_display().capitalize(), e.note) for e in events]


@login_required
def deposit_detail(request: HttpRequest, pk: int):
    deposit = _get_deposit_for_user(request, pk)
    timeline = _status_moments(deposit.events.all())
    tip = ChainCursor.height_of(Sidechain.BITCOIN)
    kit = reclaim_kit(deposit)
    context = {
        "deposit": deposit,
        "amount": amount_format(deposit.amount, Asset.BTC),
        "credited": amount_format(deposit.credited_amount or 0, Asset.PBTC),
        "sweep_fee": amount_format(deposit.sweep_fee or 0, Asset.BTC),
        "next_step": deposit_next_step(deposit, tip),
        "timeline": sorted(timeline, key=lambda m: m.at),
        "kit": kit,
        "kit_amount": "" if kit is None else amount_format(kit.amount, Asset.BTC),
        "kit_fee": "" if kit is None else amount_format(kit.fee, Asset.BTC),
        "kit_in": None if kit is None or tip is None else max(0, kit.reclaim_height - tip - 1),
    }
    return render(request, "sidechains/deposit_detail.html", context)


@require_GET
@login_required
def deposit_reclaim_psbt(request: HttpRequest, pk: int):
    """The unsigned PSBT of the depositor's own reclaim, as a file their wallet opens."""
    deposit = _get_deposit_for_user(request, pk)
    kit = reclaim_kit(deposit)
    if kit is None:
        return HttpResponse(
            "This deposit is not yours to take back alone (credited, refunded or reclaimed), "
            "or it is too small to pay the fee.",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(kit.psbt, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="deposit-{deposit.pk}-reclaim.psbt"'
    return response


def _signing_moments(withdrawal: Withdrawal) -> list[Moment]:
    stx = withdrawal.sidechain_tx
    if stx is None:
        return []
    moments = [
        Moment(e.created_at, f"Transaction {e.get_new_status_display()}", e.note)
        for e in stx.events.all()
    ]
    firsts = (
        TxSignature.objects.filter(sidechain_tx=stx)
        .values("son__name")
        .annotate(at=Min("created_at"))
    )
    moments += [Moment(s["at"], f"Signed by SON {s['son__name']}") for s in firsts]
    refusals = SignerRefusal.objects.filter(sidechain_tx=stx).select_related("son")
    moments += [Moment(r.created_at, f"Refused by SON {r.son.name}") for r in refusals]
    return moments


@login_required
def withdrawal_detail(request: HttpRequest, pk: int):
    withdrawal = _get_withdrawal_for_user(request, pk)
    timeline = _status_moments(withdrawal.events.all()) + _signing_moments(withdrawal)
    context = {
        "withdrawal": withdrawal,
        "amount": amount_format(withdrawal.amount_pegged, Asset.PBTC),
        "value": amount_format(withdrawal.amount, Asset.BTC),
        "next_step": withdrawal_next_step(withdrawal),
        "timeline": sorted(timeline, key=lambda m: m.at),
    }
    return render(request, "sidechains/withdrawal_detail.html", context)
