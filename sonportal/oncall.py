"""What the person on call looks at first, on the admin status panel: each figure with the
admin list that shows it (docs/runbook.md, "Status panel").

Beat's health task computes these with the checks and stores them (sonportal.models.HealthReport);
the panel reads the stored figures, so a poll costs one query however large the tables are.
Amounts are Bitcoin's, in BTC with the unit.
"""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.urls import reverse
from django.utils import timezone

from chains.bitcoin.rpc import BitcoinRPCError
from proposals.models import Proposal
from rates.assets import Asset, amount_format
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.models import Alert, ChainCursor, CircuitBreaker, Deposit, ReservesCheck, Withdrawal
from sons.models import Sidechain

BTC = Sidechain.BITCOIN
# Blocks the listener may trail the node's tip before the figure asks for attention.
LISTENER_LAG_ATTENTION = 2
# Seconds since the last block before the figure asks for attention (mainnet: ~600 s a block).
BLOCK_AGE_ATTENTION = 3600

# Each figure's admin list: URL name and query string.
LINKS = {
    "alerts": ("admin:sidechains_alert_changelist", "?state=open"),
    "withdrawals": (
        "admin:sidechains_withdrawal_changelist",
        "?status__exact=batched&chain__exact=bitcoin",
    ),
    "refunds": (
        "admin:sidechains_deposit_changelist",
        "?status__exact=refund_pending&chain__exact=bitcoin",
    ),
    "proposals": ("admin:proposals_proposal_changelist", "?status__exact=open"),
    "listener": ("admin:sidechains_chaincursor_changelist", ""),
    "block": ("admin:sidechains_chaincursor_changelist", ""),
    "reserves": ("admin:sidechains_reservescheck_changelist", "?chain__exact=bitcoin"),
}


def link(key: str) -> str:
    name, query = LINKS[key]
    return reverse(name) + query


def _figure(key: str, label: str, value: str, attention: bool) -> dict:
    return {"key": key, "label": label, "value": value, "attention": attention}


def _since(at: datetime, now: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    return f"since {at:%Y-%m-%d %H:%M} UTC ({minutes} min)"


def open_alerts(now: datetime) -> dict:
    n = Alert.objects.filter(resolved_at__isnull=True).count()
    return _figure("alerts", "Open alerts", str(n), n > 0)


def withdrawals_awaiting_signatures(now: datetime) -> dict:
    batched = Withdrawal.objects.filter(status=Withdrawal.Status.BATCHED, chain=BTC)
    row = batched.aggregate(
        n=Count("id"), amount=Sum("amount"), oldest=Min("sidechain_tx__created_at")
    )
    if not row["n"]:
        return _figure("withdrawals", "Withdrawals awaiting signatures", "none", False)
    value = f"{row['n']}, {amount_format(row['amount'], Asset.BTC)}"
    if row["oldest"] is not None:
        value += f", oldest waiting {_since(row['oldest'], now)}"
    return _figure("withdrawals", "Withdrawals awaiting signatures", value, True)


def refund_pending_deposits(now: datetime) -> dict:
    pending = Deposit.objects.filter(status=Deposit.Status.REFUND_PENDING, chain=BTC)
    row = pending.aggregate(n=Count("id"), amount=Sum("amount"))
    if not row["n"]:
        return _figure("refunds", "Refund-pending deposits", "none", False)
    value = f"{row['n']}, {amount_format(row['amount'], Asset.BTC)}"
    return _figure("refunds", "Refund-pending deposits", value, True)


def open_proposals(now: datetime) -> dict:
    row = Proposal.objects.filter(status=Proposal.Status.OPEN).aggregate(
        n=Count("id"), first=Min("expires_at")
    )
    if not row["n"]:
        return _figure("proposals", "Open proposals", "none", False)
    value = f"{row['n']}, the first expires {row['first']:%Y-%m-%d %H:%M} UTC"
    return _figure("proposals", "Open proposals", value, True)


def listener_and_last_block(now: datetime) -> list[dict]:
    """How far the listener trails the node's tip, and how old the tip's block is."""
    try:
        rpc = bitcoin_rpc()
        tip = rpc.get_block_count()
        header = rpc.call("getblockheader", rpc.get_block_hash(tip), True)
    except BitcoinRPCError as e:
        error = f"the node did not answer: {e}"
        return [
            _figure("listener", "Listener lag behind the node's tip", error, True),
            _figure("block", "Age of the last block", error, True),
        ]
    cursor = ChainCursor.height_of(BTC)
    if cursor is None:
        lag = _figure("listener", "Listener lag behind the node's tip", "not started", True)
    else:
        behind = tip - cursor
        value = f"{behind} block(s) (listener at {cursor}, node at {tip})"
        lag = _figure(
            "listener",
            "Listener lag behind the node's tip",
            value,
            behind >= LISTENER_LAG_ATTENTION,
        )
    age = int(now.timestamp()) - int(header["time"])
    value = f"{age // 60} min {age % 60} s (block {tip})"
    return [lag, _figure("block", "Age of the last block", value, age > BLOCK_AGE_ATTENTION)]


def reserves_margin(now: datetime) -> dict:
    """How far the last reserves check was above the level that trips the circuit breaker."""
    label = "Reserves margin above the breaker's threshold"
    last = ReservesCheck.objects.filter(chain=BTC).first()
    if last is None:
        return _figure("reserves", label, "not checked yet", True)
    breaker = CircuitBreaker.objects.filter(chain=BTC).first()
    accepted = breaker.accepted_shortfall if breaker else 0
    above = last.margin + settings.BITCOIN_RESERVES_TOLERANCE + accepted
    value = (
        f"{amount_format(above, Asset.BTC)} (margin {amount_format(last.margin, Asset.BTC)},"
        f" checked at {last.checked_at:%Y-%m-%d %H:%M} UTC)"
    )
    tripped = breaker is not None and breaker.tripped
    if tripped:
        value += "; the circuit breaker is tripped"
    return _figure("reserves", label, value, tripped or above <= 0)


FIGURES: list[Callable[[datetime], dict | list[dict]]] = [
    open_alerts,
    withdrawals_awaiting_signatures,
    refund_pending_deposits,
    open_proposals,
    listener_and_last_block,
    reserves_margin,
]


def oncall_figures(now: datetime | None = None) -> list[dict]:
    """Every figure; one that cannot be read says why instead of hiding the others."""
    now = now or timezone.now()
    figures: list[dict] = []
    for compute in FIGURES:
        try:
            found = compute(now)
        except Exception as e:
            name = compute.__name__.replace("_", " ")
            found = _figure(name, name.capitalize(), f"could not be read: {e}", True)
        figures.extend(found if isinstance(found, list) else [found])
    return figures
