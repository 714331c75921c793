import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from mappings.chains.deposit import threshold
from rates.assets import Asset, amount_format
from sidechains import services
from sidechains.bitcoin import withdrawals as bitcoin_withdrawals
from sidechains.bitcoin.rpc import BitcoinRPCError
from sidechains.bitcoin.withdrawals import WithdrawalError, withdrawal_request
from sidechains.federation import federation_public_keys
from sidechains.forms import TokenRotationForm, WithdrawalForm
from sidechains.ledger import balances_of
from sidechains.models import (
    SON,
    Deposit,
    Sidechain,
    SidechainTransaction,
    SONStatistics,
    TxSignature,
    Withdrawal,
)
from sonportal import health
from sonportal.views import HtmxHttpRequest


def _get_son_for_user(request: HttpRequest, name: str) -> SON:
    """A SON page is for its operator and for people with sidechains.view_son
    (administrators)."""
    son = SON.objects.filter(name=name).prefetch_related("public_keys", "statistics").first()
    if son is None:
        raise Http404("No such SON.")
    if son.owner_id != request.user.pk and not request.user.has_perm("sidechains.view_son"):
        raise Http404("No such SON.")
    return son


def _get_own_son(request: HttpRequest, name: str) -> SON:
    """A SON of the signed-in operator, for what only its operator does."""
    son = _get_son_for_user(request, name)
    if son.owner_id != request.user.pk:
        raise PermissionDenied("Only the SON's operator does this.")
    return son


@login_required
def operator_home(request: HttpRequest):
    sons = SON.objects.owned_by(request.user).prefetch_related("public_keys", "statistics")
    return render(request, "sidechains/operator_home.html", {"sons": sons, "now": timezone.now()})


def _son_page_context(request: HttpRequest, son: SON, error: str = "", **extra) -> dict:
    now = timezone.now()
    return {
        "son": son,
        "changes": son.status_changes.all()[:20],
        "now": now,
        "current_downtime": son.current_downtime(now),
        "downtime": son.downtime(now),
        "is_operator": son.owner_id == request.user.pk,
        "error": error,
        "token_form": TokenRotationForm(),
        **extra,
    }


@login_required
def son_detail(request: HttpRequest, name: str):
    son = _get_son_for_user(request, name)
    return render(request, "sidechains/son.html", _son_page_context(request, son))


MAINTENANCE_ACTIONS = {
    "request": services.son_request_maintenance,
    "cancel": services.son_cancel_maintenance,
}


@login_required
@require_POST
def son_maintenance(request: HtmxHttpRequest, name: str):
    """The operator requests maintenance for their SON, or cancels the request."""
    son = _get_own_son(request, name)
    action = MAINTENANCE_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        return HttpResponseBadRequest("Unknown maintenance action.")
    error = ""
    try:
        son = action(son=son, by=request.user)
    except services.SONError as e:
        error = str(e)
    if request.htmx:
        context = _son_page_context(request, son, error)
        return render(request, "sidechains/son.html#status", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{son} is now {son.get_status_display()}.")
    return redirect(son)


ROUTINE_ROTATION = "routine rotation by the operator"


@login_required
@require_POST
@never_cache
def son_token(request: HtmxHttpRequest, name: str):
    """The operator issues a new API token for their SON's signer. It is shown in this answer
    only (never stored but as its hash, never cached) and audited; the old one stops working."""
    son = _get_own_son(request, name)
    form = TokenRotationForm(request.POST)
    token, error = "", ""
    if form.is_valid():
        try:
            token = services.son_issue_token(
                son=son,
                by=request.user,
                reason=form.cleaned_data["reason"] or ROUTINE_ROTATION,
                via=services.TokenIssuer.OPERATOR,
            )
        except services.SONError as e:
            error = str(e)
    else:
        error = " ".join(form.errors.get("reason", []))
    context = _son_page_context(request, son, new_token=token, token_error=error, token_form=form)
    if request.htmx:  # htmx swaps 2xx answers only; the fragment carries the error
        return render(request, "sidechains/son.html#token", context)
    return render(request, "sidechains/son.html", context, status=400 if error else 200)


@dataclass(frozen=True)
class GridRow:
    son: SON
    downtime: int
    current_downtime: int
    statistics: list[SONStatistics | None]  # one per sidechain, in Sidechain order


def _grid_row(son: SON, now) -> GridRow:
    by_chain = {s.sidechain: s for s in son.statistics.all()}
    statistics = [by_chain.get(chain) for chain in Sidechain.values]
    return GridRow(son, son.downtime(now), son.current_downtime(now), statistics)


@require_GET
def status_grid(request: HtmxHttpRequest):
    """Every SON's status and statistics, for everyone (no login): the federation is public."""
    now = timezone.now()
    sons = sorted(
        SON.objects.prefetch_related("statistics"),
        key=lambda son: (son.status == SON.Status.DEREGISTERED, son.name),
    )
    context = {
        "rows": [_grid_row(son, now) for son in sons],
        "sidechains": Sidechain.choices,
        "now": now,
    }
    grid = "sidechains/status_grid.html"
    return render(request, f"{grid}#grid" if request.htmx else grid, context)


# The asset a deposit on each chain arrives in, and the pegged token it is credited in.
DEPOSIT_ASSETS = {Sidechain.BITCOIN: (Asset.BTC, Asset.PBTC)}
# A page waits this long at most for the node's tip height.
TIP_TIMEOUT = 3


@dataclass(frozen=True)
class DepositRow:
    deposit: Deposit
    amount: str
    credited: str
    confirmations: int | None  # None: the node's tip is unknown


def _bitcoin_tip() -> int | None:
    rpc = health.bitcoin_rpc()
    rpc.timeout = min(rpc.timeout, TIP_TIMEOUT)
    try:
        return rpc.get_block_count()
    except BitcoinRPCError:
        return None
    finally:
        rpc.close()


def _deposit_row(deposit: Deposit, tip: int | None) -> DepositRow:
    asset, pegged = DEPOSIT_ASSETS[Sidechain(deposit.chain)]
    credited = deposit.credited_amount
    return DepositRow(
        deposit=deposit,
        amount=amount_format(deposit.amount, asset),
        credited="" if credited is None else amount_format(credited, pegged),
        confirmations=None if tip is None else deposit.confirmations(tip),
    )


@require_GET
@login_required
def deposits(request: HtmxHttpRequest):
    """The user's deposits with their stage; the table polls itself while the page is open."""
    mine = Deposit.objects.for_user(request.user).for_chain(Sidechain.BITCOIN)
    tip = _bitcoin_tip() if mine.exists() else None
    rows = [_deposit_row(deposit, tip) for deposit in mine]
    template = "sidechains/deposits.html#table" if request.htmx else "sidechains/deposits.html"
    return render(request, template, {"rows": rows, "tip": tip, "now": timezone.now()})


# --- Withdrawals --------------------------------------------------------------------------

WITHDRAWALS = "sidechains/withdrawals.html"
TX_SENT = SidechainTransaction.Status.BROADCAST
TX_CONFIRMED = SidechainTransaction.Status.CONFIRMED


@dataclass(frozen=True)
class WithdrawalPreview:
    amount: str  # pBTC without the unit, as the confirm form posts it back
    request_id: str
    balance: str
    address: str
    rate: Decimal
    value: str  # BTC the amount is worth at the rate, before the fee
    fee: str  # "" when the node cannot estimate it
    receive: str


@dataclass(frozen=True)
class WithdrawalRow:
    withdrawal: Withdrawal
    amount: str
    value: str
    fee_share: str  # "" until batched: the share is fixed by the batch
    payout: str
    confirmations: int | None  # None: the node cannot tell
    signatures: str  # "k of m" once in a transaction


def _withdrawal_fee() -> int | None:
    rpc = health.bitcoin_rpc()
    rpc.timeout = min(rpc.timeout, TIP_TIMEOUT)
    try:
        return bitcoin_withdrawals.withdrawal_fee_estimate(rpc=rpc)
    except BitcoinRPCError:
        return None
    finally:
        rpc.close()


def _withdrawal_preview(user, amount_pegged: int) -> WithdrawalPreview:
    """What requesting amount_pegged would do; WithdrawalError for what the request itself
    would refuse (the same rules: withdrawal_quote; it decides again on confirmation)."""
    quote = bitcoin_withdrawals.withdrawal_quote(user=user, amount_pegged=amount_pegged)
    fee = _withdrawal_fee()
    if fee is not None and quote.amount - fee < bitcoin_withdrawals.DUST_LIMIT:
        raise WithdrawalError("This amount is too small to pay its share of the network fee.")
    return WithdrawalPreview(
        amount=amount_format(amount_pegged, Asset.PBTC).split()[0],
        request_id=str(uuid.uuid4()),
        balance=amount_format(quote.balance, Asset.PBTC),
        address=quote.address,
        rate=quote.rate,
        value=amount_format(quote.amount, Asset.BTC),
        fee="" if fee is None else amount_format(fee, Asset.BTC),
        receive="" if fee is None else amount_format(quote.amount - fee, Asset.BTC),
    )


def _tx_depths(txs: list[SidechainTransaction]) -> dict[int, int | None]:
    """Confirmations of each sent transaction from the node; None for all if it is down."""
    sent = [t for t in txs if t.status in (TX_SENT, TX_CONFIRMED)]
    depths: dict[int, int | None] = {}
    if not sent:
        return depths
    rpc = health.bitcoin_rpc()
    rpc.timeout = min(rpc.timeout, TIP_TIMEOUT)
    try:
        tip = rpc.get_block_count()
        for t in sent:
            if t.confirmed_height is not None:
                depths[t.pk] = tip - t.confirmed_height + 1
            else:
                depths[t.pk] = bitcoin_withdrawals.tx_confirmations(rpc, t.txid)
    except BitcoinRPCError:
        depths = dict.fromkeys((t.pk for t in sent), None)
    finally:
        rpc.close()
    return depths


def _signatures_collected(txs: list[SidechainTransaction]) -> dict[int, int]:
    """Distinct SONs that signed each transaction's first input."""
    counts = (
        TxSignature.objects.filter(sidechain_tx__in=txs, input_index=0)
        .values("sidechain_tx")
        .annotate(k=Count("son", distinct=True))
        .order_by()
    )
    return {c["sidechain_tx"]: c["k"] for c in counts}


def _withdrawal_rows(user) -> tuple[list[WithdrawalRow], bool]:
    """The user's withdrawals and whether the node was needed and down."""
    mine = list(
        Withdrawal.objects.for_user(user)
        .for_chain(Sidechain.BITCOIN)
        .select_related("sidechain_tx")
    )
    txs = list({w.sidechain_tx for w in mine if w.sidechain_tx is not None})
    depths = _tx_depths(txs)
    signed = _signatures_collected(txs)
    n = len(federation_public_keys(Sidechain.BITCOIN))
    m = threshold(n) if n else "?"
    rows = [
        WithdrawalRow(
            withdrawal=w,
            amount=amount_format(w.amount_pegged, Asset.PBTC),
            value=amount_format(w.amount, Asset.BTC),
            fee_share=amount_format(w.fee_share, Asset.BTC) if w.sidechain_tx_id else "",
            payout=amount_format(w.payout, Asset.BTC) if w.sidechain_tx_id else "",
            confirmations=depths.get(w.sidechain_tx_id),
            signatures=f"{signed.get(w.sidechain_tx_id, 0)} of {m}" if w.sidechain_tx_id else "",
        )
        for w in mine
    ]
    return rows, any(d is None for d in depths.values())


def _withdrawal_list_context(user) -> dict:
    rows, node_down = _withdrawal_rows(user)
    return {
        "rows": rows,
        "node_down": node_down,
        "confirmations_required": settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS,
    }


def _withdrawals_page(request: HttpRequest, form: WithdrawalForm, preview=None, status=200):
    mapping = bitcoin_withdrawals.withdrawal_mapping(request.user)
    context = {
        "form": form,
        "preview": preview,
        "balance": amount_format(balances_of(request.user)[Asset.PBTC], Asset.PBTC),
        "address": mapping.withdraw_address if mapping else "",
        "minimum": amount_format(settings.BITCOIN_WITHDRAWAL_MINIMUM, Asset.BTC),
        **_withdrawal_list_context(request.user),
    }
    return render(request, WITHDRAWALS, context, status=status)


def _withdrawal_confirm(request: HtmxHttpRequest, form: WithdrawalForm):
    request_id = form.cleaned_data["request_id"]
    if request_id is None:
        raise WithdrawalError("Preview the withdrawal before confirming it.")
    replay = Withdrawal.objects.for_user(request.user).filter(request_id=str(request_id))
    if not replay.exists() and _withdrawal_fee() is None:
        raise WithdrawalError("The Bitcoin node cannot estimate the fee now; try again later.")
    withdrawal = withdrawal_request(
        user=request.user, amount_pegged=form.cleaned_data["amount"], request_id=str(request_id)
    )
    message = (
        f"Withdrawal {withdrawal.pk} of {amount_format(withdrawal.amount_pegged, Asset.PBTC)} "
        "requested."
    )
    if request.htmx:
        context = {"form": WithdrawalForm(), "done": message}
        response = render(request, f"{WITHDRAWALS}#form", context)
        return trigger_client_event(response, "withdrawal-requested")
    messages.success(request, message)
    return redirect("sidechains-withdrawals")


def _withdrawal_post(request: HtmxHttpRequest):
    """Step "preview" shows what the request would do; step "confirm" makes it."""
    form = WithdrawalForm(request.POST)
    preview = None
    if form.is_valid():
        try:
            if request.POST.get("step") == "confirm":
                return _withdrawal_confirm(request, form)
            preview = _withdrawal_preview(request.user, form.cleaned_data["amount"])
        except WithdrawalError as e:
            form.add_error("amount", str(e))
    if request.htmx:
        # htmx swaps only 2xx answers; the fragment carries the form's errors.
        return render(request, f"{WITHDRAWALS}#form", {"form": form, "preview": preview})
    return _withdrawals_page(request, form, preview, status=200 if preview else 400)


@require_http_methods(["GET", "POST"])
@login_required
def withdrawals(request: HtmxHttpRequest):
    """Request a withdrawal (amount -> preview with the fee -> confirm) and watch the user's
    withdrawals; the list polls itself while the page is open."""
    if request.method == "POST":
        return _withdrawal_post(request)
    if request.htmx:
        return render(request, f"{WITHDRAWALS}#table", _withdrawal_list_context(request.user))
    return _withdrawals_page(request, WithdrawalForm())
