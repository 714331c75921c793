"""Batching: requested withdrawals into one unsigned transaction over the federation's coins.

Coin selection takes the largest coins first, of one federation version per transaction: the
active version's coins, else (during a rotation) those of each older version in turn
(docs/decisions.md); every payout carries an equal share of the size-aware fee; the change
goes to the active version's wallet. The transaction, its inputs,
the reserved coins and the batched withdrawals commit as one, before any signer can fetch it.
A withdrawal the coins cannot pay waits (with the reason on its row) without holding back the
ones behind it; one whose address today's rules refuse is held for review.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from bitcoin.core import CMutableTransaction
from django.conf import settings
from django.db import transaction

from chains.bitcoin.addresses import AddressError, decode_address
from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey, script_keys
from chains.bitcoin.fees import DUST_LIMIT, signed_vsize
from chains.bitcoin.rpc import BitcoinRPC
from chains.bitcoin.script import ScriptError
from chains.bitcoin.transactions import txid_of, unsigned_transaction
from mappings.destinations import federation_scripts, withdraw_destination
from sidechains.bitcoin.anchor import anchor_add
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.fees import (
    federation_keys,
    older_federation_keys,
    withdrawal_feerate,
)
from sidechains.bitcoin.withdrawals.requests import withdrawal_hold
from sidechains.bitcoin.withdrawals.signatures import MAX_PREV_TX_BYTES, PREV_TXS_BUDGET
from sidechains.models import CircuitBreaker, Coin, SidechainTransaction, TxInput, Withdrawal
from sidechains.transitions import (
    coin_transition,
    sidechain_tx_created,
    withdrawal_transition,
)
from sons.models import Sidechain

log = logging.getLogger(__name__)

WAITING_FOR_COINS = "waiting: the federation's coins cannot pay it now"
BREAKER_TRIPPED = (
    "waiting: new batches are stopped until an administrator resumes them (the federation's "
    "reserves fell short of what it owes)"
)


@dataclass
class Plan:
    withdrawals: list[Withdrawal]
    coins: list[Coin]
    tx: CMutableTransaction
    fee: int
    fee_share: int  # each withdrawal's share of the network fee
    vsize: int
    change: int
    charged: dict[int, int]  # withdrawal id -> the fee it pays: its quote, or fee_share


def charged_fee(withdrawal: Withdrawal, fee_share: int) -> int:
    """What a withdrawal pays: the fee it was quoted, or without a quote its batch's share."""
    return withdrawal.fee_share if withdrawal.fee_quoted else fee_share


def withdrawals_batch(*, rpc: BitcoinRPC) -> SidechainTransaction | None:
    """Batch the oldest requested withdrawals the coins can pay into one unsigned transaction;
    None if there is nothing to batch or no coins to pay any of them."""
    keys = federation_keys()
    if not keys or _breaker_tripped():
        return None
    feerate = withdrawal_feerate(rpc=rpc)
    with transaction.atomic():
        withdrawals = list(
            Withdrawal.objects.batchable()
            .for_chain(Sidechain.BITCOIN)
            .select_for_update(skip_locked=True)
            .order_by("created_at", "pk")[: settings.BITCOIN_WITHDRAWAL_BATCH_SIZE]
        )
        withdrawals = _hold_undeliverable(withdrawals)
        if not withdrawals:
            return None
        tip = rpc.get_block_count()
        for version_keys in [keys, *older_federation_keys()]:  # one version's coins per batch
            coins = _spendable_coins(version_keys, tip=tip)
            plan = plan_batch(withdrawals, coins, keys, feerate)
            while plan is not None and (gone := coins_gone(rpc, plan.coins)):
                coins = [coin for coin in coins if coin not in gone]
                plan = plan_batch(withdrawals, coins, keys, feerate)
            if plan is not None:
                return _persist(plan, keys, feerate)
        return None


def coins_gone(rpc: BitcoinRPC, coins: Sequence[Coin]) -> list[Coin]:
    """Those of `coins` the node does not show unspent (gettxout, mempool included), each
    marked missing at once: out of coin selection until the node shows it again."""
    gone = [c for c in coins if rpc.get_tx_out(c.txid, c.vout, include_mempool=True) is None]
    for coin in gone:
        note = "not unspent on the node when selected (gettxout)"
        log.warning("coin %s (%s): %s", coin.pk, coin.outpoint, note)
        coin_transition(coin.pk, coin.status, Coin.Status.MISSING, note)
    return gone


def _breaker_tripped() -> bool:
    """No new batches while the chain's circuit breaker is tripped (reserves short); the
    waiting withdrawals say so."""
    if not CircuitBreaker.is_tripped(Sidechain.BITCOIN):
        return False
    waiting = Withdrawal.objects.batchable().for_chain(Sidechain.BITCOIN)
    waiting.update(note=BREAKER_TRIPPED)
    return True


def _hold_undeliverable(withdrawals: list[Withdrawal]) -> list[Withdrawal]:
    """The withdrawals the portal may pay; each other one is held for review (e.g. its address
    was registered before a rule that now refuses it, or a SON's key now pays to it)."""
    scripts = federation_scripts()
    payable = []
    for withdrawal in withdrawals:
        try:
            withdraw_destination(withdrawal.address, scripts=scripts)
        except AddressError as e:
            withdrawal_hold(withdrawal=withdrawal, reason=f"Its address is refused: {e}")
        else:
            payable.append(withdrawal)
    return payable


def _spendable_coins(keys: list[bytes], *, tip: int) -> list[Coin]:
    """Available coins of the version with these keys, locked, largest first; never a deposit coin
    within BITCOIN_RECLAIM_MARGIN blocks of its reclaim height (the spend would race the
    depositor's own)."""
    available = Coin.objects.for_chain(Sidechain.BITCOIN).available()
    locked = available.select_for_update(skip_locked=True, of=("self",))
    coins = [
        c
        for c in locked.select_related("deposit__mapping")
        if is_spendable(c, keys) and not near_reclaim(c, tip)
    ]
    return sorted(coins, key=lambda c: (-c.amount, c.pk))


def near_reclaim(coin: Coin, tip: int) -> bool:
    """A deposit coin its depositor may take back alone within the margin."""
    deposit = coin.deposit if coin.deposit_id is not None else None
    if deposit is None:
        return False
    return deposit.reclaim_height() - tip < settings.BITCOIN_RECLAIM_MARGIN


def is_spendable(coin: Coin, keys: list[bytes]) -> bool:
    """Only coins under the scripts of the version with these keys (each input is signed by
    its own version's keys) whose previous transaction is kept and within the signers' limit
    (they take no amount on trust)."""
    if coin.prev_tx is None or len(coin.prev_tx) > MAX_PREV_TX_BYTES:
        return False
    try:
        return list(script_keys(bytes(coin.witness_script))[0]) == keys
    except ScriptError:
        return False


def plan_batch(
    withdrawals: Sequence[Withdrawal], coins: Sequence[Coin], keys: list[bytes], feerate: int
) -> Plan | None:
    """The transaction paying as many of `withdrawals` as the coins can, oldest first: one the
    coins cannot pay (alone or with the others) waits, with the reason, and the rest go on; one
    whose share of the fee leaves it below dust waits too."""
    change_spk = p2wsh_script_pubkey(federation_witness_script(keys))
    pending = list(withdrawals)
    while pending:
        plan = _select(pending, coins, change_spk, feerate)
        if plan is None:
            largest = max(pending, key=lambda w: (w.amount, w.pk))
            _note([largest], WAITING_FOR_COINS)
            pending.remove(largest)
            continue
        too_small = [w for w in pending if w.amount - plan.charged[w.pk] < DUST_LIMIT]
        if not too_small:
            return plan
        _note(
            too_small, f"waiting: its share of the fee ({plan.fee_share} sat) leaves it below dust"
        )
        pending = [w for w in pending if w not in too_small]
    return None


def _note(withdrawals: list[Withdrawal], note: str) -> None:
    log.info("withdrawals %s: %s", [w.pk for w in withdrawals], note)
    Withdrawal.objects.filter(pk__in=[w.pk for w in withdrawals]).update(note=note[:200])


def _select(
    withdrawals: list[Withdrawal], coins: Sequence[Coin], change_spk: bytes, feerate: int
) -> Plan | None:
    """Largest coins first until they pay every amount (payouts + fee) and leave either no
    change or change above dust."""
    owed = sum(w.amount for w in withdrawals)
    chosen: list[Coin] = []
    carried: set[str] = set()  # the previous transactions the signing request will carry
    room = PREV_TXS_BUDGET
    for coin in coins:
        assert coin.prev_tx is not None  # only coins with one are spendable (is_spendable)
        if coin.txid not in carried:
            if len(coin.prev_tx) > room:
                continue  # over the signers' request size: it waits for another batch
            carried.add(coin.txid)
            room -= len(coin.prev_tx)
        chosen.append(coin)
        if sum(c.amount for c in chosen) < owed:
            continue
        plan = _priced(withdrawals, chosen, change_spk, feerate)
        if plan is not None:
            return plan
    if chosen and sum(c.amount for c in chosen) >= owed:
        # Every coin leaves change below dust: it goes to the fee instead.
        return _priced(withdrawals, chosen, change_spk, feerate, dust_to_fee=True)
    return None


def _priced(
    withdrawals: list[Withdrawal],
    coins: list[Coin],
    change_spk: bytes,
    feerate: int,
    *,
    dust_to_fee: bool = False,
) -> Plan | None:
    """The payouts carry the fees charged (each withdrawal's quote, or its equal share of the
    network fee), so the change is what the coins hold beyond the withdrawals' amounts, plus
    what the quotes charged above the network fee (or less what they fall short of it)."""
    with_change = _unsigned(withdrawals, coins, change_spk, 1, {})
    vsize = signed_vsize(len(with_change.serialize()), [bytes(c.witness_script) for c in coins])
    fee_share = math.ceil(feerate * vsize / len(withdrawals))
    charged = {w.pk: charged_fee(w, fee_share) for w in withdrawals}
    change = sum(c.amount for c in coins) - sum(w.amount for w in withdrawals)
    change += sum(charged.values()) - fee_share * len(withdrawals)
    if change < 0:
        return None  # the fee pool's part needs more coins
    if 0 < change < DUST_LIMIT:
        if not dust_to_fee:
            return None
        change = 0
    tx = _unsigned(withdrawals, coins, change_spk, change, charged)
    fee = sum(c.amount for c in coins) - sum(o.nValue for o in tx.vout)
    return Plan(list(withdrawals), list(coins), tx, fee, fee_share, vsize, change, charged)


def _unsigned(
    withdrawals: list[Withdrawal],
    coins: list[Coin],
    change_spk: bytes,
    change: int,
    charged: dict[int, int],
) -> CMutableTransaction:
    outputs = [(script_pubkey(w.address), w.amount - charged.get(w.pk, 0)) for w in withdrawals]
    if change:
        outputs.append((change_spk, change))
    return unsigned_transaction([(c.txid, c.vout) for c in coins], outputs)


def script_pubkey(address: str) -> bytes:
    """Withdrawals reach here checked (_hold_undeliverable); refunds (refunds.py) do not."""
    return decode_address(address, settings.BITCOIN_NETWORK).script_pubkey


def _persist(plan: Plan, keys: list[bytes], feerate: int) -> SidechainTransaction:
    plan.tx, plan.fee, plan.vsize, plan.change = anchor_add(
        plan.tx, fee=plan.fee, vsize=plan.vsize, change=plan.change, feerate=feerate
    )
    stx = SidechainTransaction.objects.create(
        chain=Sidechain.BITCOIN,
        unsigned_tx=plan.tx.serialize(),
        txid=txid_of(plan.tx),
        fee=plan.fee,
        vsize=plan.vsize,
        feerate=feerate,
        change_amount=plan.change,
        change_witness_script=federation_witness_script(keys) if plan.change else None,
    )
    sidechain_tx_created(stx, f"batch of {len(plan.withdrawals)} withdrawal(s)")
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=stx, index=i, coin=coin) for i, coin in enumerate(plan.coins)
    )
    note = f"in transaction {stx.pk} ({stx.txid})"
    for coin in plan.coins:
        if not coin_transition(
            coin.pk, Coin.Status.AVAILABLE, Coin.Status.RESERVED, note, reserved_by=stx
        ):  # cannot happen under our row locks
            raise WithdrawalError("A coin was taken while the batch was built.")
    for withdrawal in plan.withdrawals:
        moved = withdrawal_transition(
            withdrawal.pk,
            Withdrawal.Status.REQUESTED,
            Withdrawal.Status.BATCHED,
            note,
            sidechain_tx=stx,
            fee_share=plan.charged[withdrawal.pk],
            network_fee_share=plan.fee_share,
            note=note,
        )
        if not moved:
            raise WithdrawalError(f"Withdrawal {withdrawal.pk} changed while it was batched.")
    return stx
