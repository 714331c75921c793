"""Sweeps: credited deposit coins moved into the current federation's wallet script before
their depositors could take them back alone (docs/deposits.md, "Sweeps and clawbacks").

A deposit coin stays spendable by its depositor's own key from its reclaim height (its block
+ T). Each credited coin has a sweep deadline: its block + BITCOIN_SWEEP_DEADLINE blocks (T/4
by default, never later than T - BITCOIN_RECLAIM_MARGIN). Once the most urgent available
deposit coin is half way to its deadline, one sweep takes every available deposit coin (oldest
first, up to BITCOIN_SWEEP_BATCH_SIZE) into a single output paying the federation's wallet:
one transaction for many deposits, the cheapest way to move them. The fee rate is the
withdrawals' (estimatesmartfee between floor and cap) until half way, then rises linearly to the
cap at the deadline; a sent sweep below the rate its coins now need is fee-bumped (RBF) to it.
A sweep goes through the withdrawals' machinery: signing requests with no payouts (the
signers accept only their own wallet as its output), the tracker's broadcast, rebroadcast,
fee bumps and failure, settlement (the output becomes a wallet coin). A coin still held
BITCOIN_SWEEP_ALERT_BEFORE blocks before its deadline raises an alert.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from bitcoin.core import CMutableTransaction
from django.conf import settings
from django.db import transaction

from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey
from chains.bitcoin.fees import (
    DUST_LIMIT,
    INPUT_BYTES,
    P2WSH_OUTPUT_BYTES,
    TX_OVERHEAD_BYTES,
    signed_vsize,
)
from chains.bitcoin.rpc import BitcoinRPC
from chains.bitcoin.transactions import txid_of, unsigned_transaction
from sidechains.bitcoin.anchor import anchor_add
from sidechains.bitcoin.withdrawals.builder import coins_gone, is_spendable
from sidechains.bitcoin.withdrawals.fees import (
    deposit_script_for_sizing,
    federation_keys,
    withdrawal_feerate,
)
from sidechains.bitcoin.withdrawals.signatures import PREV_TXS_BUDGET
from sidechains.bitcoin.withdrawals.tracker import sidechain_tx_bump
from sidechains.models import Alert, Coin, Deposit, SidechainTransaction, TxInput
from sidechains.transitions import coin_transition, sidechain_tx_created
from sons.models import Sidechain

log = logging.getLogger(__name__)

STX = SidechainTransaction.Status
SWEEP = SidechainTransaction.Kind.SWEEP
# Coins still to sweep: the federation holds them, or held them before a reorg.
UNSWEPT = (Coin.Status.AVAILABLE, Coin.Status.RESERVED, Coin.Status.MISSING)


class SweepError(Exception):
    """A sweep that cannot be built as planned; nothing was written."""


def deposit_sweep_fee(amount: int, *, feerate: int) -> int:
    """Satoshi a deposit of `amount` keeps back for its sweep when it is credited: the fee of a
    sweep of its coin alone (one deposit-script input, the wallet output) at `feerate`, plus
    BITCOIN_DEPOSIT_FEE_MARGIN percent; never more than the deposit. Sweeps of many coins cost
    less per coin and the fee pool keeps the difference, which pays for the sweeps that cost
    more (a rate risen towards the deadline, a fee bump)."""
    script = deposit_script_for_sizing()
    vsize = signed_vsize(TX_OVERHEAD_BYTES + INPUT_BYTES + P2WSH_OUTPUT_BYTES, [script])
    fee = math.ceil(feerate * vsize * (100 + settings.BITCOIN_DEPOSIT_FEE_MARGIN) / 100)
    return min(fee, amount)


def sweep_deadline_blocks(timelock: int) -> int:
    """Blocks after a deposit's block by which its coin is swept: the setting, T/4 by default,
    never later than T - BITCOIN_RECLAIM_MARGIN."""
    wanted = settings.BITCOIN_SWEEP_DEADLINE or timelock // 4
    return max(1, min(wanted, timelock - settings.BITCOIN_RECLAIM_MARGIN))


def sweep_deadline(deposit: Deposit) -> int:
    timelock = deposit.reclaim_height() - deposit.block_height
    return deposit.block_height + sweep_deadline_blocks(timelock)


def sweep_feerate(deposit: Deposit, *, tip: int, base: int) -> int:
    """The base rate until half way to the deadline, then linearly up to the cap at it."""
    cap = max(base, settings.BITCOIN_WITHDRAWAL_FEERATE_CAP)
    deadline = sweep_deadline(deposit)
    half = (deadline - deposit.block_height) / 2
    elapsed = (tip - (deadline - half)) / half if half else 1.0
    return base + math.ceil((cap - base) * min(1.0, max(0.0, elapsed)))


def sweeps_process(*, rpc: BitcoinRPC) -> int:
    """One beat: alerts for deadlines in danger, fee bumps for sweeps falling behind, a new
    sweep when one is due; returns how many sweeps were built or bumped."""
    tip = rpc.get_block_count()
    sweep_alerts(tip=tip)
    done = sweeps_escalate(rpc=rpc, tip=tip)
    return done + (sweep_build(rpc=rpc) is not None)


def sweep_build(*, rpc: BitcoinRPC) -> SidechainTransaction | None:
    """One sweep of the available deposit coins into the wallet, awaiting signatures; None when
    none is due, one is open already, or the coins cannot pay its fee."""
    keys = federation_keys()
    open_sweeps = SidechainTransaction.objects.for_chain(Sidechain.BITCOIN).open()
    if not keys or open_sweeps.filter(kind=SWEEP).exists():
        return None
    tip, base = rpc.get_block_count(), withdrawal_feerate(rpc=rpc)
    with transaction.atomic():
        coins = _sweepable(keys)
        if not any(tip >= _half_way(coin.deposit) for coin in coins if coin.deposit):
            return None
        coins = within_budget(coins[: settings.BITCOIN_SWEEP_BATCH_SIZE])
        gone = coins_gone(rpc, coins)
        coins = [coin for coin in coins if coin not in gone]
        if not coins:
            return None
        feerate = max(sweep_feerate(c.deposit, tip=tip, base=base) for c in coins if c.deposit)
        return _persist(coins, keys, feerate)


def _sweepable(keys: list[bytes]) -> list[Coin]:
    """Available deposit coins of the current federation, locked, most urgent first."""
    available = Coin.objects.for_chain(Sidechain.BITCOIN).available().filter(kind=Coin.Kind.DEPOSIT)
    locked = available.select_for_update(skip_locked=True, of=("self",))
    coins = [c for c in locked.select_related("deposit__mapping") if is_spendable(c, keys)]
    return sorted(coins, key=lambda c: (c.deposit.block_height if c.deposit else 0, c.pk))


def _half_way(deposit: Deposit) -> int:
    return (deposit.block_height + sweep_deadline(deposit)) // 2


def within_budget(coins: Sequence[Coin]) -> list[Coin]:
    """As many coins as the signers' request size allows (their previous transactions)."""
    chosen, carried, room = [], set(), PREV_TXS_BUDGET
    for coin in coins:
        size = len(coin.prev_tx or b"")
        if coin.txid not in carried and size > room:
            continue
        if coin.txid not in carried:
            carried.add(coin.txid)
            room -= size
        chosen.append(coin)
    return chosen


def sweep_transaction(
    coins: Sequence[Coin], wallet_spk: bytes, feerate: int
) -> tuple[CMutableTransaction, int, int]:
    """(unsigned transaction, fee, vsize) moving every coin into one wallet output."""
    total = sum(c.amount for c in coins)
    draft = unsigned_transaction([(c.txid, c.vout) for c in coins], [(wallet_spk, total)])
    vsize = signed_vsize(len(draft.serialize()), [bytes(c.witness_script) for c in coins])
    fee = feerate * vsize
    tx = unsigned_transaction([(c.txid, c.vout) for c in coins], [(wallet_spk, total - fee)])
    return tx, fee, vsize


def _persist(coins: list[Coin], keys: list[bytes], feerate: int) -> SidechainTransaction | None:
    script = federation_witness_script(keys)
    tx, fee, vsize = sweep_transaction(coins, p2wsh_script_pubkey(script), feerate)
    output = sum(c.amount for c in coins) - fee
    if output < DUST_LIMIT:
        log.warning("no sweep: %s coin(s) cannot pay its fee of %s sat", len(coins), fee)
        return None
    tx, fee, vsize, output = anchor_add(tx, fee=fee, vsize=vsize, change=output, feerate=feerate)
    stx = SidechainTransaction.objects.create(
        chain=Sidechain.BITCOIN,
        kind=SWEEP,
        unsigned_tx=tx.serialize(),
        txid=txid_of(tx),
        fee=fee,
        vsize=vsize,
        feerate=feerate,
        change_amount=output,  # the wallet output: a federation coin once it confirms
        change_witness_script=script,
    )
    sidechain_tx_created(stx, f"sweep of {len(coins)} deposit coin(s) at {feerate} sat/vB")
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=stx, index=i, coin=coin) for i, coin in enumerate(coins)
    )
    note = f"swept by transaction {stx.pk} ({stx.txid})"
    for coin in coins:
        if not coin_transition(
            coin.pk, Coin.Status.AVAILABLE, Coin.Status.RESERVED, note, reserved_by=stx
        ):  # cannot happen under our row locks; never sweep a coin another transaction holds
            raise SweepError(f"Coin {coin.pk} was taken while the sweep was built.")
    log.info("sweep %s: %s coin(s), %s sat fee", stx.pk, len(coins), fee)
    return stx


def sweeps_escalate(*, rpc: BitcoinRPC, tip: int) -> int:
    """Fee-bump each sent sweep (its latest member; a rotation's too) whose deposit coins now
    need a higher rate."""
    sent = SidechainTransaction.objects.for_chain(Sidechain.BITCOIN).filter(
        kind__in=(
            SWEEP,
            SidechainTransaction.Kind.ROTATION_SWEEP,
        ),  # a rotation's: docs/rotation.md
        status=STX.BROADCAST,
        fee_bumps__isnull=True,
    )
    base = withdrawal_feerate(rpc=rpc)
    bumped = 0
    for stx in sent.order_by("pk"):
        inputs = stx.inputs.select_related("coin__deposit__mapping")
        deposits = [i.coin.deposit for i in inputs if i.coin.deposit is not None]
        needed = max((sweep_feerate(d, tip=tip, base=base) for d in deposits), default=0)
        if needed > stx.feerate:
            bumped += sidechain_tx_bump(sidechain_tx_id=stx.pk, rpc=rpc, feerate=needed) is not None
    return bumped


def sweep_alerts(*, tip: int) -> int:
    """An alert for each credited deposit coin still unswept BITCOIN_SWEEP_ALERT_BEFORE blocks
    before its sweep deadline (once per deposit); returns how many were raised."""
    unswept = Coin.objects.for_chain(Sidechain.BITCOIN).filter(
        kind=Coin.Kind.DEPOSIT, status__in=UNSWEPT, deposit__status=Deposit.Status.CREDITED
    )
    raised = 0
    for coin in unswept.select_related("deposit__mapping", "deposit__user"):
        assert coin.deposit is not None  # filtered on its status
        deadline = sweep_deadline(coin.deposit)
        if deadline - tip > settings.BITCOIN_SWEEP_ALERT_BEFORE:
            continue
        message = (
            f"Deposit {coin.deposit.pk} ({coin.outpoint}, {coin.amount} sat, {coin.deposit.user}) "
            f"must be swept by height {deadline}; at height {tip} its coin is {coin.status}. "
            f"Its depositor may reclaim it alone from height {coin.deposit.reclaim_height()}: "
            "check the signers and the sweep's fee."
        )
        _, created = Alert.objects.get_or_create(
            kind=Alert.Kind.SWEEP_DEADLINE,
            deposit=coin.deposit,
            resolved_at=None,
            defaults={"message": message},
        )
        if created:
            log.error("%s", message)
            raised += 1
    return raised
