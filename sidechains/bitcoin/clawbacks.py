"""Credits the chain took back (docs/deposits.md, "Sweeps and clawbacks").

A credited deposit's coin can disappear in two ways:

    credited --its block left the best chain (listener)--> reorged, the coin missing
    reorged  --mined again (listener)------------------->  credited, the coin available
    reorged  --not mined again within BITCOIN_CLAWBACK_WINDOW blocks--> clawed_back
    credited/reorged --its coin spent outside the portal (the depositor's reclaim)--> clawed_back

A clawback debits the user the credited pBTC (a "clawback" ledger entry referencing the
deposit, whose note holds the evidence; the balance may go negative), marks the coin lost and
raises an alert naming the deposit and the evidence. Each step is one transaction with a
conditional UPDATE, so a retry or a second worker never claws back twice (and the entry's
natural key collides anyway).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from rates.assets import Asset, amount_format
from sidechains.models import Alert, Coin, Deposit
from sidechains.transitions import coin_transition, deposit_transition
from sons.models import Sidechain

log = logging.getLogger(__name__)

CLAWABLE = (Deposit.Status.CREDITED, Deposit.Status.REORGED)
# A coin whose deposit may still come back: it leaves the available set but is not lost.
SUSPENDED_FROM = (Coin.Status.AVAILABLE,)


def deposit_reorged(deposit: Deposit, *, fork: int, reason: str) -> bool:
    """A credited deposit whose block left the best chain: reorged, its coin out of coin
    selection at once (the caller's transaction, under the listener's locks)."""
    note = (
        f"block {deposit.block_height} {deposit.block_hash} left the best chain ({reason}); "
        f"clawed back unless mined again within {settings.BITCOIN_CLAWBACK_WINDOW} blocks"
    )
    if not deposit_transition(
        deposit.pk, Deposit.Status.CREDITED, Deposit.Status.REORGED, note, reorged_height=fork
    ):
        return False
    coin = Coin.objects.filter(deposit=deposit, status__in=SUSPENDED_FROM).first()
    if coin is not None:
        coin_transition(coin.pk, coin.status, Coin.Status.MISSING, note)
    _alert(Alert.Kind.CREDITED_DEPOSIT_REORGED, deposit, f"Deposit {_name(deposit)}: {note}.")
    return True


def deposit_remined(deposit: Deposit, *, block_hash: str, height: int) -> bool:
    """A reorged deposit mined again: credited again, in its new block, its coin available."""
    note = f"mined again in block {height} {block_hash}; the credit stands"
    if not deposit_transition(
        deposit.pk,
        Deposit.Status.REORGED,
        Deposit.Status.CREDITED,
        note,
        block_hash=block_hash,
        block_height=height,
        reorged_height=None,
    ):
        return False
    coin = Coin.objects.filter(deposit=deposit, status=Coin.Status.MISSING).first()
    if coin is not None:
        coin_transition(coin.pk, Coin.Status.MISSING, Coin.Status.AVAILABLE, note)
    Alert.objects.filter(
        kind=Alert.Kind.CREDITED_DEPOSIT_REORGED, deposit=deposit, resolved_at__isnull=True
    ).update(message=f"Deposit {_name(deposit)} was {note}.")
    return True


def clawbacks_due(*, height: int) -> int:
    """Claw back every reorged deposit not mined again within the window by the listener's
    `height`; returns how many."""
    window = settings.BITCOIN_CLAWBACK_WINDOW
    due = Deposit.objects.for_chain(Sidechain.BITCOIN).filter(
        status=Deposit.Status.REORGED, reorged_height__lte=height - window
    )
    done = 0
    for deposit in due.order_by("pk"):
        evidence = (
            f"its block {deposit.block_height} {deposit.block_hash} left the best chain at "
            f"height {deposit.reorged_height} and it was not mined again within {window} blocks"
        )
        done += deposit_claw_back(deposit_id=deposit.pk, evidence=evidence)
    return done


@transaction.atomic
def deposit_claw_back(*, deposit_id: int, evidence: str) -> bool:
    """Take back a credited deposit's pBTC: the clawback entry (the balance may go negative),
    the deposit clawed_back with the evidence, its coin lost, an alert. False if it was done
    before or the deposit was never credited."""
    deposit = Deposit.objects.select_for_update().select_related("user").get(pk=deposit_id)
    if deposit.status not in CLAWABLE:
        return False
    credited = deposit.credited_amount or 0
    if credited > 0:
        ledger_transfer(
            source=ledger_account_for(deposit.user),
            destination=system_account(LedgerAccount.System.ISSUANCE),
            asset=Asset.PBTC,
            amount=credited,
            reason=Entry.Reason.CLAWBACK,
            reference=f"deposit:{deposit.pk}",
            allow_negative=True,
        )
    _sweep_fee_back(deposit)
    note = f"clawed back {amount_format(credited, Asset.PBTC)}: {evidence}"
    deposit_transition(deposit.pk, deposit.status, Deposit.Status.CLAWED_BACK, note)
    coin = Coin.objects.filter(deposit=deposit).exclude(status=Coin.Status.SPENT).first()
    if coin is not None and coin.status != Coin.Status.LOST:
        coin_transition(coin.pk, coin.status, Coin.Status.LOST, evidence)
    message = (
        f"Deposit {_name(deposit)} ({deposit.amount} sat) of {deposit.user}: {note}. "
        "The user's withdrawals are refused while their balance is negative."
    )
    _alert(Alert.Kind.DEPOSIT_CLAWED_BACK, deposit, message)
    return True


def _sweep_fee_back(deposit: Deposit) -> None:
    """The fee pool gives back what the deposit paid it for a sweep that will never be: the
    coin is gone."""
    paid = Entry.objects.filter(
        reason=Entry.Reason.DEPOSIT_FEE, reference=f"deposit:{deposit.pk}", asset=Asset.PBTC
    ).first()
    if paid is None:
        return
    ledger_transfer(
        source=system_account(LedgerAccount.System.FEE_POOL),
        destination=system_account(LedgerAccount.System.ISSUANCE),
        asset=Asset.PBTC,
        amount=paid.amount,
        reason=Entry.Reason.CLAWBACK,
        reference=f"deposit-fee:{deposit.pk}",
    )


def coin_lost(coin: Coin, spending_txid: str, height: int, block_hash: str) -> bool:
    """A federation coin spent outside the portal (the depositor's reclaim with their own key
    after the timelock): lost, with an alert, and its deposit's credit clawed back. The
    withdrawal tracker fails a transaction spending it."""
    spent = f"spent by {spending_txid} in block {height} {block_hash}"
    if not coin_transition(coin.pk, coin.status, Coin.Status.LOST, spent):
        return False
    deposit = coin.deposit
    message = (
        f"Coin {coin.txid}:{coin.vout} ({coin.amount} sat, was {coin.status}) was {spent}, "
        "not by the portal: the depositor reclaimed it with their own key after the timelock."
    )
    _alert(Alert.Kind.CREDITED_COIN_LOST, deposit, message)
    if deposit is not None:
        evidence = f"its coin was reclaimed by the depositor: {spent}"
        deposit_claw_back(deposit_id=deposit.pk, evidence=evidence)
    return True


def _name(deposit: Deposit) -> str:
    return f"{deposit.pk} ({deposit.txid}:{deposit.vout})"


def _alert(kind: str, deposit: Deposit | None, message: str) -> None:
    _, created = Alert.objects.get_or_create(
        kind=kind, deposit=deposit, resolved_at=None, defaults={"message": message}
    )
    if created:
        log.error("%s", message)
