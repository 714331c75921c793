import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page
from django.db.models import Count, Prefetch
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from accounts.second_factor import has_second_factor
from chains.bitcoin.federation import threshold
from chains.bitcoin.fees import DUST_LIMIT
from chains.bitcoin.rpc import BitcoinRPCError
from core.htmx import HtmxHttpRequest
from core.pagination import page_of
from ledger.services import balances_of
from rates.assets import Asset, amount_format
from sidechains.bitcoin import mempool
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.fees import FeeQuote, FeeQuoteExpired, fee_quote_make
from sidechains.bitcoin.withdrawals.requests import (
    withdrawal_mapping,
    withdrawal_quote,
    withdrawal_request,
)
from sidechains.forms import WithdrawalForm
from sidechains.hive.pages import hive_deposits_context
from sidechains.hive.views import hive_withdrawals_context
from sidechains.models import (
    ChainCursor,
    Deposit,
    MempoolDeposit,
    Refund,
    SidechainTransaction,
    SignerRefusal,
    TxSignature,
    Withdrawal,
)
from sidechains.next_steps import deposit_next_step
from sidechains.refusals import refusals_summary
from sidechains.self_refund import RECLAIMABLE
from sons.federation import federation_public_keys
from sons.models import Sidechain

# The asset a deposit on each chain arrives in, and the pegged token it is credited in.
DEPOSIT_ASSETS = {Sidechain.BITCOIN: (Asset.BTC, Asset.PBTC)}
# A page waits this long at most for the node's fee estimate.
TIP_TIMEOUT = 3
# Rows per page of the deposits and withdrawals lists (and of their polls, which re-render
# only the page shown).
PER_PAGE = 50


# A refund transaction's serialized forms, which the deposits page never shows.
REFUND_TX = ("sidechain_tx__unsigned_tx", "sidechain_tx__signed_tx")


@dataclass(frozen=True)
class DepositRow:
    deposit: Deposit
    amount: str
    credited: str
    confirmations: int | None  # None: the listener's tip is unknown; capped at the requirement
    done: bool  # deep enough
    on_best_chain: bool
    next_step: str  # what happens next, in words
    reclaim_from: int | None  # uncredited: the block from which the depositor's key may spend it


def _deposit_row(deposit: Deposit, cursor: ChainCursor | None) -> DepositRow:
    asset, pegged = DEPOSIT_ASSETS[Sidechain(deposit.chain)]
    credited = deposit.credited_amount
    depth = None if cursor is None else deposit.confirmations(cursor)
    required = deposit.confirmations_required
    return DepositRow(
        deposit=deposit,
        amount=amount_format(deposit.amount, asset),
        credited="" if credited is None else amount_format(credited, pegged),
        confirmations=None if depth is None else min(depth, required),
        done=depth is not None and depth >= required,
        on_best_chain=cursor is None or deposit.on_best_chain(cursor),
        next_step=deposit_next_step(deposit, None if cursor is None else cursor.height),
        reclaim_from=deposit.reclaim_height() if deposit.status in RECLAIMABLE else None,
    )


@require_GET
@login_required
def deposits(request: HtmxHttpRequest):
    """The user's deposits with their stage; the table polls itself while the page is open."""
    hive = hive_deposits_context(request.user)
    if request.htmx and request.GET.get("part") == "hive":
        return render(request, "sidechains/_hive_deposits.html", hive)
    mine = (
        Deposit.objects.for_user(request.user)
        .for_chain(Sidechain.BITCOIN)
        .defer("raw_tx")  # a previous transaction for the signers, never shown
        .select_related("mapping")
        .prefetch_related(
            Prefetch("refunds", Refund.objects.select_related("sidechain_tx").defer(*REFUND_TX))
        )
    )
    page = page_of(request, mine, PER_PAGE)
    cursor = ChainCursor.objects.filter(chain=Sidechain.BITCOIN).first()
    tip = None if cursor is None else cursor.height
    rows = [_deposit_row(deposit, cursor) for deposit in page]
    template = "sidechains/deposits.html#table" if request.htmx else "sidechains/deposits.html"
    context = {"rows": rows, "page": page, "tip": tip, "now": timezone.now(), **hive}
    context["in_mempool"] = [
        _mempool_row(seen) for seen in mempool.mempool_deposits_for(request.user)
    ]
    return render(request, template, context)


@dataclass(frozen=True)
class MempoolRow:
    seen: MempoolDeposit
    amount: str
    estimate: str  # "about 30 min"


def _mempool_row(seen: MempoolDeposit) -> MempoolRow:
    minutes = int(mempool.credit_estimate(seen.confirmations_required).total_seconds() // 60)
    estimate = f"about {minutes} min" if minutes < 120 else f"about {minutes // 60} h"
    return MempoolRow(seen, amount_format(seen.amount, Asset.BTC), estimate)


# --- Withdrawals --------------------------------------------------------------------------

WITHDRAWALS = "sidechains/withdrawals.html"
TX_SENT = SidechainTransaction.Status.BROADCAST
TX_CONFIRMED = SidechainTransaction.Status.CONFIRMED
# A transaction's serialized forms: kilobytes per row that the list never shows.
TX_BYTES = ("unsigned_tx", "signed_tx", "change_witness_script")


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
    quote: FeeQuote | None  # the fee quoted: what the withdrawal is charged


@dataclass(frozen=True)
class WithdrawalRow:
    withdrawal: Withdrawal
    amount: str
    value: str
    fee_share: str  # the fee charged; "" for one without a quote until batched
    payout: str
    confirmations: int | None  # None: the node cannot tell
    signatures: str  # "k of n SON signatures (m needed)" once in a transaction
    refusals: str  # "waiting: 2 SONs refused: ..." while awaiting signatures


def _fee_quote(user) -> FeeQuote | None:
    rpc = bitcoin_rpc()
    rpc.timeout = min(rpc.timeout, TIP_TIMEOUT)
    try:
        return fee_quote_make(user=user, rpc=rpc)
    except BitcoinRPCError:
        return None
    finally:
        rpc.close()


def _withdrawal_preview(user, amount_pegged: int) -> WithdrawalPreview:
    """What requesting amount_pegged would do, with the fee quoted; WithdrawalError for what
    the request itself would refuse (the same rules: withdrawal_quote; it decides again on
    confirmation)."""
    quote = withdrawal_quote(user=user, amount_pegged=amount_pegged)
    fee = _fee_quote(user)
    if fee is not None and quote.amount - fee.fee < DUST_LIMIT:
        raise WithdrawalError("This amount is too small to pay its share of the network fee.")
    return WithdrawalPreview(
        amount=amount_format(amount_pegged, Asset.PBTC).split()[0],
        request_id=str(uuid.uuid4()),
        balance=amount_format(quote.balance, Asset.PBTC),
        address=quote.address,
        rate=quote.rate,
        value=amount_format(quote.amount, Asset.BTC),
        fee="" if fee is None else fee.fee_text,
        receive="" if fee is None else amount_format(quote.amount - fee.fee, Asset.BTC),
        quote=fee,
    )


def _tx_depths(txs: list[SidechainTransaction]) -> dict[int, int | None]:
    """Confirmations of each sent transaction, counted from the block the tracker saw it in
    to the listener's tip (the database's view; no page asks the node)."""
    sent = [t for t in txs if t.status in (TX_SENT, TX_CONFIRMED)]
    tip = ChainCursor.height_of(Sidechain.BITCOIN) if sent else None
    return {t.pk: t.depth(tip) for t in sent}


def _signatures_collected(txs: list[SidechainTransaction]) -> dict[int, int]:
    """Distinct SONs that signed each transaction's first input."""
    counts = (
        TxSignature.objects.filter(sidechain_tx__in=txs, input_index=0)
        .values("sidechain_tx")
        .annotate(k=Count("son", distinct=True))
        .order_by()
    )
    return {c["sidechain_tx"]: c["k"] for c in counts}


def _refusals(txs: list[SidechainTransaction]) -> dict[int, str]:
    """The signers' refusals of each transaction still awaiting signatures, in words."""
    waiting = [t for t in txs if t.status == SidechainTransaction.Status.AWAITING_SIGNATURES]
    found: dict[int, list[list[str]]] = {}
    rows = SignerRefusal.objects.filter(sidechain_tx__in=waiting).order_by("son__name")
    for tx_id, reasons in rows.values_list("sidechain_tx", "reasons"):
        found.setdefault(tx_id, []).append(reasons)
    return {tx_id: refusals_summary(reasons) for tx_id, reasons in found.items()}


def _withdrawal_rows(page: Page) -> tuple[list[WithdrawalRow], bool]:
    """A page of the user's withdrawals and whether the node was needed and down."""
    mine = list(page)
    txs = list({w.sidechain_tx for w in mine if w.sidechain_tx is not None})
    depths = _tx_depths(txs)
    signed = _signatures_collected(txs)
    refused = _refusals(txs)
    n = len(federation_public_keys(Sidechain.BITCOIN))
    m = threshold(n) if n else "?"
    rows = [
        WithdrawalRow(
            withdrawal=w,
            amount=amount_format(w.amount_pegged, Asset.PBTC),
            value=amount_format(w.amount, Asset.BTC),
            fee_share=amount_format(w.fee_share, Asset.BTC) if _fee_fixed(w) else "",
            payout=amount_format(w.payout, Asset.BTC) if _fee_fixed(w) else "",
            confirmations=depths.get(w.sidechain_tx_id),
            signatures=(
                f"{signed.get(w.sidechain_tx_id, 0)} of {n} SON signatures ({m} needed)"
                if w.sidechain_tx_id
                else ""
            ),
            refusals=refused.get(w.sidechain_tx_id, "") if w.sidechain_tx_id else "",
        )
        for w in mine
    ]
    return rows, any(d is None for d in depths.values())


def _fee_fixed(w: Withdrawal) -> bool:
    """Its fee is known: quoted with the request, or its batch's share once batched."""
    return w.fee_quoted or w.sidechain_tx_id is not None


def _withdrawals_of(user):
    """The user's withdrawals with their transaction's status and txid, not its bytes."""
    return (
        Withdrawal.objects.for_user(user)
        .for_chain(Sidechain.BITCOIN)
        .select_related("sidechain_tx")
        .defer(*(f"sidechain_tx__{name}" for name in TX_BYTES))
    )


def _withdrawal_list_context(request: HttpRequest) -> dict:
    page = page_of(request, _withdrawals_of(request.user), PER_PAGE)
    rows, node_down = _withdrawal_rows(page)
    return {
        "rows": rows,
        "page": page,
        "node_down": node_down,
        "confirmations_required": settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS,
    }


def _withdrawals_page(request: HttpRequest, form: WithdrawalForm, preview=None, status=200):
    mapping = withdrawal_mapping(request.user)
    context = {
        "form": form,
        "preview": preview,
        "balance": amount_format(balances_of(request.user)[Asset.PBTC], Asset.PBTC),
        "address": mapping.withdraw_address if mapping else "",
        "needs_second_factor": not has_second_factor(request.user),
        "minimum": amount_format(settings.BITCOIN_WITHDRAWAL_MINIMUM, Asset.BTC),
        **_withdrawal_list_context(request),
        **hive_withdrawals_context(request.user),
    }
    return render(request, WITHDRAWALS, context, status=status)


def _withdrawal_confirm(request: HtmxHttpRequest, form: WithdrawalForm):
    request_id = form.cleaned_data["request_id"]
    if request_id is None or not form.cleaned_data["quote"]:
        raise WithdrawalError("Preview the withdrawal before confirming it.")
    withdrawal = withdrawal_request(
        user=request.user,
        amount_pegged=form.cleaned_data["amount"],
        request_id=str(request_id),
        quote=form.cleaned_data["quote"],
    )
    message = (
        f"Withdrawal {withdrawal.pk} of {amount_format(withdrawal.amount_pegged, Asset.PBTC)} "
        f"requested. Its fee is {amount_format(withdrawal.fee_share, Asset.BTC)}."
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
        except FeeQuoteExpired as e:
            preview = _fresh_preview(request, form, str(e))
        except WithdrawalError as e:
            form.add_error("amount", str(e))
    if request.htmx:
        # htmx swaps only 2xx answers; the fragment carries the form's errors.
        return render(request, f"{WITHDRAWALS}#form", {"form": form, "preview": preview})
    return _withdrawals_page(request, form, preview, status=200 if preview else 400)


def _fresh_preview(request: HtmxHttpRequest, form: WithdrawalForm, expired: str):
    """An expired quote: the preview again with a fresh one, saying why."""
    try:
        preview = _withdrawal_preview(request.user, form.cleaned_data["amount"])
    except WithdrawalError as e:
        form.add_error("amount", str(e))
        return None
    form.add_error(None, expired)
    return preview


@require_http_methods(["GET", "POST"])
@login_required
def withdrawals(request: HtmxHttpRequest):
    """Request a withdrawal (amount -> preview with the fee -> confirm) and watch the user's
    withdrawals; the list polls itself while the page is open."""
    if request.method == "POST":
        return _withdrawal_post(request)
    if request.htmx:
        return render(request, f"{WITHDRAWALS}#table", _withdrawal_list_context(request))
    return _withdrawals_page(request, WithdrawalForm())
