"""What happens next to a user's Bitcoin deposit or withdrawal, in words, for every stage (the
deposits list and the deposit's and withdrawal's pages): who acts, what it costs, where the
money goes, and what the user can do alone. Read from the rows only; no node is asked."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from rates.assets import Asset, amount_format
from sidechains.bitcoin.refunds import refund_plan
from sidechains.models import Deposit, Refund, SidechainTransaction, Withdrawal

S = Deposit.Status


@dataclass(frozen=True)
class RefundPaid:
    """A refund transaction that confirmed: what the user got, where, in which transaction."""

    txid: str
    amount: str
    fee: str
    address: str


def refund_paid(deposit: Deposit) -> RefundPaid | None:
    """The confirmed refund of a refunded deposit (its refunds prefetched or not)."""
    confirmed = SidechainTransaction.Status.CONFIRMED
    paid = [r for r in deposit.refunds.all() if r.sidechain_tx.status == confirmed]
    if not paid:
        return None
    refund: Refund = paid[0]
    return RefundPaid(
        txid=refund.sidechain_tx.txid,
        amount=amount_format(refund.amount, Asset.BTC),
        fee=amount_format(refund.fee, Asset.BTC),
        address=refund.address,
    )


def deposit_next_step(deposit: Deposit, tip: int | None) -> str:
    """One or two sentences: what happens next to `deposit`, or what happened for good."""
    status = deposit.status
    if status == S.REFUND_PENDING:
        return _refund_pending(deposit, tip)
    if status == S.REFUNDED:
        paid = refund_paid(deposit)
        if paid is None:
            return "Refunded to your withdraw address."
        return (
            f"Refunded: {paid.amount} paid to {paid.address} in transaction {paid.txid} "
            f"(network fee {paid.fee}). Nothing more happens."
        )
    return _OTHERS.get(status, "")


_OTHERS = {
    S.DETECTED: "Waiting for confirmations; it is credited in pBTC once it has enough and "
    "enough SONs are active.",
    S.CONFIRMED: "Deep enough: it is credited within a minute if enough SONs are active, or "
    "set aside for a refund if not.",
    S.CREDITED: "Done: the pBTC are in your balance.",
    S.ORPHANED: "Its block left the best chain: if the transaction is mined again it shows up "
    "again; nothing is credited meanwhile.",
    S.RECLAIMED: "You took it back with your own key: nothing more happens.",
    S.REORGED: "Its block left the best chain after it was credited: your withdrawals wait "
    "until it is mined again, or its credit is taken back.",
    S.CLAWED_BACK: "Its credit was taken back from your balance: the chain no longer holds it "
    "for the federation.",
}


def _refund_pending(deposit: Deposit, tip: int | None) -> str:
    """Witnesses approve, the SONs sign (whenever enough are back), the address, the cost, and
    the user's own way out after T blocks."""
    floor = settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR
    plan = refund_plan(deposit=deposit, feerate=floor)
    fee = amount_format(plan["fee"], Asset.BTC)
    reclaim = deposit.reclaim_height()
    if tip is None:
        when = f"from block {reclaim}"
    elif tip + 1 >= reclaim:
        when = f"now (since block {reclaim})"
    else:
        when = f"from block {reclaim}, in about {reclaim - tip - 1} blocks"
    return (
        "Not credited. Next: the witnesses must approve its refund; the SONs then sign the "
        "refund transaction, which waits until enough of them are active. It goes to your "
        f"withdraw address {plan['destination']}, less a network fee of about {fee} (more if "
        "the network is busy). You can also take it back alone with your deposit key "
        f"{when}: see the self-refund on your deposit address page."
    )


W = Withdrawal.Status


def withdrawal_next_step(withdrawal: Withdrawal) -> str:
    """What happens next to a Bitcoin withdrawal, in words."""
    fee = amount_format(withdrawal.fee_share, Asset.BTC)
    payout = amount_format(withdrawal.payout, Asset.BTC)
    fixed = f"You pay a network fee of {fee}: {payout} arrive." if withdrawal.fee_quoted else ""
    steps = {
        W.REQUESTED: "Waiting to be batched with other withdrawals into one transaction (every "
        f"{settings.BITCOIN_LISTENER_INTERVAL} s when the federation's coins can pay it). {fixed}",
        W.HELD: "Held for review: an operator fails it and the pBTC return to your balance; "
        "register another address and withdraw again.",
        W.BATCHED: "In a transaction awaiting the SONs' signatures; it is sent as soon as enough "
        f"of them have signed. {fixed}",
        W.BROADCAST: "Sent to the Bitcoin network; settled after "
        f"{settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS} confirmations.",
        W.SETTLED: f"Paid: {payout} to {withdrawal.address}. Nothing more happens.",
        W.FAILED: "Failed: the pBTC were returned to your balance.",
    }
    return steps.get(withdrawal.status, "").strip()  # type: ignore[call-overload]
