"""Confirming and crediting Bitcoin deposits (DESIGN.md, "Deposit (BTC)").

The listener records a Deposit(detected) for every output paying a registered deposit script
and orphans the uncredited ones a reorg takes away. Here, on each beat:

    detected  --depth >= required, block still on the best chain-->  confirmed
    confirmed --at least m of the federation's n SONs active------->  credited (ledger entry)
    confirmed --fewer than m active-------------------------------->  refund_pending
    confirmed --fewer than BITCOIN_RECLAIM_MARGIN blocks before the depositor may reclaim
                it alone--------------------------------------------->  refund_pending

Each step is one transaction per deposit and a conditional UPDATE with a row-count check, so a
second worker, a retry or a crash in between never moves a deposit twice; the credit's ledger
entry has the natural key (deposit, "deposit:<id>", pBTC), so it is written at most once.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chains.bitcoin.federation import threshold
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCUnavailable
from core.transitions import attempt_succeeded, failed_attempt
from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from rates.assets import Asset, Pair, amount_format
from rates.conversion import to_pegged
from rates.models import rate_in_force
from sidechains.bitcoin.clawbacks import clawbacks_due
from sidechains.bitcoin.sweeps import deposit_sweep_fee
from sidechains.bitcoin.withdrawals.fees import withdrawal_feerate
from sidechains.models import ChainCursor, Coin, Deposit
from sidechains.transitions import coin_created, deposit_transition
from sons.models import SON, Sidechain

log = logging.getLogger(__name__)

# getblockhash beyond the tip: Bitcoin Core and bcoin both answer -8.


class DepositError(Exception):
    """The deposit is not in a state that allows the step."""


class DepositNotOnBestChain(DepositError):
    """The deposit's block is no longer on the node's best chain (the listener orphans it)."""


def confirmations_required(amount: int) -> int:
    """Confirmations a deposit of `amount` satoshi needs (settings.BITCOIN_CONFIRMATIONS)."""
    for limit, count in settings.BITCOIN_CONFIRMATIONS:
        if limit is None or amount < limit:
            return count
    raise AssertionError("BITCOIN_CONFIRMATIONS ends with a catch-all")  # checked at startup


def deposit_confirm_due(*, rpc: BitcoinRPC) -> int:
    """Confirm every detected deposit deep enough and still on the best chain; returns how many.

    The depth needed is the deposit's confirmations_required, fixed when it was detected.
    """
    tip = rpc.get_block_count()
    due = (
        Deposit.objects.for_chain(Sidechain.BITCOIN)
        .confirmable()
        .filter(block_height__lte=tip + 1 - F("confirmations_required"))
        .order_by("block_height", "pk")
    )
    best: dict[int, str | None] = {}
    confirmed = 0
    for deposit in due:
        if deposit.block_height not in best:
            best[deposit.block_height] = rpc.best_block_hash(deposit.block_height)
        if best[deposit.block_height] != deposit.block_hash:
            continue  # reorged out: the listener orphans it on its next scan
        confirmed += deposit_confirm(deposit=deposit, tip=tip)
    return confirmed


@transaction.atomic
def deposit_confirm(*, deposit: Deposit, tip: int) -> bool:
    """detected -> confirmed; False if another worker moved it first."""
    depth = tip - deposit.block_height + 1
    note = f"{depth} confirmations at height {tip} (needs {deposit.confirmations_required})"
    return deposit_transition(
        deposit.pk,
        Deposit.Status.DETECTED,
        Deposit.Status.CONFIRMED,
        note,
        confirmed_at=timezone.now(),
    )


@transaction.atomic
def deposit_credit(*, deposit_id: int, rpc: BitcoinRPC | None = None) -> Deposit:
    """Credit a confirmed deposit in pBTC, or set it aside for a refund; returns the deposit.

    Credits when at least m = threshold(n) of the federation's n SONs are active, at the
    BTC/pBTC rate in force now, less the deposit's sweep fee (the fee pool's, priced at the
    node's fee rate with `rpc`, else at the floor). Ledger entries, status, rate and audit event
    commit together. A deposit already credited or set aside is returned unchanged; with `rpc`,
    the deposit's block must still be on the best chain (else DepositNotOnBestChain, and nothing
    changes).
    """
    deposit = Deposit.objects.select_for_update().get(pk=deposit_id)
    if deposit.status in (Deposit.Status.CREDITED, Deposit.Status.REFUND_PENDING):
        return deposit  # a retry, or a second worker that waited for our lock
    if deposit.status != Deposit.Status.CONFIRMED:
        raise DepositError(f"Deposit {deposit.pk} is {deposit.status}, not confirmed.")
    if rpc is not None and rpc.best_block_hash(deposit.block_height) != deposit.block_hash:
        raise DepositNotOnBestChain(
            f"Block {deposit.block_height} of deposit {deposit.pk} is no longer on the best chain."
        )
    active, total = SON.objects.active().count(), SON.objects.federation().count()
    needed = threshold(total) if total else 1
    too_late = _too_close_to_reclaim(deposit, rpc)
    if active < needed or too_late:
        note = too_late or f"{active} of {total} SONs active, {needed} needed to credit"
        deposit_transition(
            deposit.pk,
            Deposit.Status.CONFIRMED,
            Deposit.Status.REFUND_PENDING,
            f"{note}: refund pending",
        )
    else:
        _credit(deposit, active=active, total=total, feerate=_feerate(rpc))
    deposit.refresh_from_db()
    return deposit


def _too_close_to_reclaim(deposit: Deposit, rpc: BitcoinRPC | None) -> str:
    """Why a credit now would race the depositor's own reclaim, or "": fewer than
    BITCOIN_RECLAIM_MARGIN blocks are left before they may spend the coin alone, too few to
    sweep it (docs/deposits.md)."""
    tip = rpc.get_block_count() if rpc is not None else ChainCursor.height_of(deposit.chain)
    if tip is None:
        return ""
    left = deposit.reclaim_height() - tip
    margin = settings.BITCOIN_RECLAIM_MARGIN
    if left >= margin:
        return ""
    return (
        f"{left} block(s) left at height {tip} before the depositor may reclaim it "
        f"(height {deposit.reclaim_height()}), fewer than the margin of {margin}"
    )


def _feerate(rpc: BitcoinRPC | None) -> int:
    """The rate a credit's sweep fee is priced at: the withdrawals' rate now (the floor without
    a node to ask)."""
    if rpc is None:
        return settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR
    return withdrawal_feerate(rpc=rpc)


def _credit(deposit: Deposit, *, active: int, total: int, feerate: int) -> None:
    """The deposit less its sweep fee to its user, the fee to the fee pool, both in pBTC at the
    rate in force: together exactly what the whole deposit is worth."""
    now = timezone.now()
    rate = rate_in_force(Pair.BTC_PBTC, now).rate
    sweep_fee = deposit_sweep_fee(deposit.amount, feerate=feerate)
    credited = to_pegged(deposit.amount - sweep_fee, rate, Pair.BTC_PBTC)
    to_pool = to_pegged(deposit.amount, rate, Pair.BTC_PBTC) - credited
    # A few satoshi at a rate < 1 can be worth less than one base unit: no entry for nothing.
    for destination, amount, reason in (
        (ledger_account_for(deposit.user), credited, Entry.Reason.DEPOSIT),
        (system_account(LedgerAccount.System.FEE_POOL), to_pool, Entry.Reason.DEPOSIT_FEE),
    ):
        if amount > 0:
            ledger_transfer(
                source=system_account(LedgerAccount.System.ISSUANCE),
                destination=destination,
                asset=Asset.PBTC,
                amount=amount,
                reason=reason,
                reference=f"deposit:{deposit.pk}",
            )
    note = (
        f"{amount_format(credited, Asset.PBTC)} at {rate} BTC/pBTC after a sweep fee of "
        f"{sweep_fee} sat ({feerate} sat/vB); {active} of {total} SONs active"
    )
    moved = deposit_transition(
        deposit.pk,
        Deposit.Status.CONFIRMED,
        Deposit.Status.CREDITED,
        note,
        rate=rate,
        credited_amount=credited,
        sweep_fee=sweep_fee,
        credited_at=now,
    )
    if not moved:  # cannot happen under our row lock; never keep a credit without its status
        raise DepositError(f"Deposit {deposit.pk} changed while it was being credited.")
    _keep_coin(deposit)


def _keep_coin(deposit: Deposit) -> None:
    """The credited output is now the federation's to spend."""
    coin, created = Coin.objects.get_or_create(
        chain=deposit.chain,
        txid=deposit.txid,
        vout=deposit.vout,
        defaults={
            "amount": deposit.amount,
            "witness_script": deposit.mapping.witness_script(),
            "prev_tx": deposit.raw_tx,
            "kind": Coin.Kind.DEPOSIT,
            "deposit": deposit,
        },
    )
    if created:
        coin_created(coin, f"deposit {deposit.pk} credited")


def deposits_process(*, rpc: BitcoinRPC) -> int:
    """One beat's work: confirm what is due, claw back reorged credits past their window, then
    credit or set aside every confirmed deposit.

    Returns the number of status changes. Each deposit has its own transaction; one that fails
    is logged and noted on its row and retried on the next beat, never blocking the others.
    """
    now = timezone.now()
    changed = deposit_confirm_due(rpc=rpc)
    height = ChainCursor.height_of(Sidechain.BITCOIN)
    if height is not None:
        changed += clawbacks_due(height=height)
    due = Deposit.objects.for_chain(Sidechain.BITCOIN).creditable(now).order_by("pk")
    for deposit_id in due.values_list("pk", flat=True):
        try:
            deposit = deposit_credit(deposit_id=deposit_id, rpc=rpc)
        except DepositNotOnBestChain as e:
            log.info("%s", e)
            continue
        except BitcoinRPCUnavailable:
            raise  # the node, not this deposit: the next beat tries again
        except Exception as e:
            log.exception("Crediting deposit %s failed", deposit_id)
            failed_attempt(
                Deposit, deposit_id, e, now=now, field="note", prefix="credit failed, will retry: "
            )
            continue
        attempt_succeeded(Deposit, deposit_id)
        changed += deposit.status != Deposit.Status.CONFIRMED
    return changed
