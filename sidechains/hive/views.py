"""The Hive part of the withdrawals page: pHIVE / pHBD to the user's verified Hive account
(amount -> preview -> confirm, like Bitcoin's; plain POST and redirect)."""

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ledger.services import balances_of
from rates.assets import Asset, amount_format
from sidechains.forms import HiveWithdrawalForm
from sidechains.hive.withdrawals.requests import (
    PEGGED,
    HiveWithdrawalError,
    hive_withdrawal_quote,
    hive_withdrawal_request,
    pegged_of,
)
from sidechains.models import Withdrawal
from sons.models import Sidechain

# The page has the Bitcoin form too: distinct field names and ids.
PREFIX = "hive"


def hive_withdrawals_context(user: User, form: HiveWithdrawalForm | None = None) -> dict[str, Any]:
    balances = balances_of(user)
    rows = [
        {
            "withdrawal": w,
            "amount": amount_format(w.amount_pegged, pegged_of(w)),
            "paid": amount_format(w.amount, PEGGED[pegged_of(w)].sidechain_asset),
            "trx_id": _trx_id(w),
        }
        for w in Withdrawal.objects.for_user(user).for_chain(Sidechain.HIVE)[:50]
    ]
    return {
        "hive_form": form or HiveWithdrawalForm(prefix=PREFIX),
        "hive_balances": [amount_format(balances.get(a, 0), a) for a in (Asset.PHIVE, Asset.PHBD)],
        "hive_rows": rows,
    }


def _trx_id(withdrawal: Withdrawal) -> str:
    payout = withdrawal.hive_payouts.order_by("-hive_tx_id").select_related("hive_tx").first()
    return payout.hive_tx.trx_id if payout else ""


@require_POST
@login_required
def hive_withdraw(request: HttpRequest) -> HttpResponse:
    form = HiveWithdrawalForm(request.POST, prefix=PREFIX)
    if form.is_valid():
        pegged, amount = form.cleaned_data["asset"], form.cleaned_data["amount"]
        try:
            if request.POST.get("step") == "confirm" and form.cleaned_data["request_id"]:
                return _confirm(request, pegged, amount, str(form.cleaned_data["request_id"]))
            quote = hive_withdrawal_quote(user=request.user, pegged=pegged, amount_pegged=amount)
        except HiveWithdrawalError as e:
            form.add_error("amount", str(e))
        else:
            asset = PEGGED[quote.pegged].sidechain_asset
            preview = {
                "asset": pegged,
                "amount": amount_format(amount, pegged).split()[0],
                "pegged": amount_format(amount, pegged),
                "rate": quote.rate,
                "account": quote.account,
                "receive": amount_format(quote.amount, asset),
                "request_id": str(uuid.uuid4()),
            }
            return render(request, "sidechains/hive_withdraw_preview.html", {"preview": preview})
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("sidechains-withdrawals")


def _confirm(request: HttpRequest, pegged: str, amount: int, request_id: str) -> HttpResponse:
    withdrawal = hive_withdrawal_request(
        user=request.user, pegged=pegged, amount_pegged=amount, request_id=request_id
    )
    messages.success(
        request,
        f"Withdrawal {withdrawal.pk} of {amount_format(withdrawal.amount_pegged, pegged)} "
        f"to @{withdrawal.address} requested.",
    )
    return redirect("sidechains-withdrawals")
