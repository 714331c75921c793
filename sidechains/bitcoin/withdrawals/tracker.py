"""Tracking the federation's open transactions on the node, one at a time: finish and send a
fully signed one ("already known" is sent), settle a deep one, send again one the node lost,
bump the fee of one left unconfirmed too long, and fail one that can never be mined (a coin it
spends is gone), returning its withdrawals' escrow.

Each transaction is one unit of work with its own guard: an error on one is recorded on it
(last_error, attempts, retry_at with a doubling delay) and the others go on. A node that does
not answer stops the round: the next beat tries again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bitcoin.core import CMutableTransaction, CScriptWitness, CTransaction, CTxInWitness, CTxWitness
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chains.bitcoin.fees import DUST_LIMIT
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError, BitcoinRPCUnavailable
from chains.bitcoin.spend import federation_witness
from chains.bitcoin.transactions import txid_of
from core.transitions import attempt_succeeded, failed_attempt
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.fees import withdrawal_feerate
from sidechains.bitcoin.withdrawals.requests import (
    withdrawal_request_again,
    withdrawal_return_escrow,
)
from sidechains.bitcoin.withdrawals.settlement import sidechain_tx_confirm
from sidechains.bitcoin.withdrawals.signatures import chosen_signatures
from sidechains.models import (
    Coin,
    SidechainTransaction,
    SidechainTransactionEvent,
    TxInput,
    UnspendableKind,
    Withdrawal,
)
from sidechains.transitions import (
    coin_transition,
    sidechain_tx_created,
    sidechain_tx_transition,
    withdrawal_transition,
)
from sons.models import Sidechain

log = logging.getLogger(__name__)

STX = SidechainTransaction.Status
# What sendrawtransaction says about a transaction the node already has.
ALREADY_KNOWN = -27
ALREADY_KNOWN_TEXT = ("txn-already-in-mempool", "already")


def withdrawals_track(*, rpc: BitcoinRPC, now: datetime | None = None) -> int:
    """One round over the open transactions that are due; returns how many changed status."""
    now = now or timezone.now()
    due = SidechainTransaction.objects.for_chain(Sidechain.BITCOIN).due(now).order_by("pk")
    changed = 0
    for pk in due.values_list("pk", flat=True):
        try:
            changed += sidechain_tx_track(sidechain_tx_id=pk, rpc=rpc)
        except BitcoinRPCUnavailable:
            raise  # the node, not this transaction: the next beat tries them all again
        except Exception as e:
            log.exception("tracking transaction %s failed", pk)
            failed_attempt(SidechainTransaction, pk, e, now=now, field="last_error")
        else:
            attempt_succeeded(SidechainTransaction, pk)
    return changed


def sidechain_tx_track(*, sidechain_tx_id: int, rpc: BitcoinRPC) -> bool:
    """The next step of one open transaction; True if its status changed."""
    if sidechain_tx_fail_if_unspendable(sidechain_tx_id=sidechain_tx_id, rpc=rpc):
        return True
    stx = SidechainTransaction.objects.get(pk=sidechain_tx_id)
    if stx.status == STX.AWAITING_SIGNATURES:
        return sidechain_tx_broadcast(sidechain_tx_id=stx.pk, rpc=rpc).status == STX.BROADCAST
    if stx.status != STX.BROADCAST:
        return False
    depth = tx_confirmations(rpc, stx.txid)
    if depth == 0:
        _unconfirmed(stx, rpc)
        return False
    height = rpc.get_block_count() - depth + 1
    SidechainTransaction.objects.filter(pk=stx.pk).update(mined_height=height)
    if depth < settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS:
        return False
    return sidechain_tx_confirm(sidechain_tx_id=stx.pk, height=height)


# --- Finishing and sending ----------------------------------------------------------------


def sidechain_tx_broadcast(*, sidechain_tx_id: int, rpc: BitcoinRPC) -> SidechainTransaction:
    """Finish (once, stored) and send a fully signed transaction; "already known" is sent.

    Any other node error is kept in last_error and the transaction stays as it is, so the
    next call (the tracker's beat) sends it again.
    """
    stx = _finalized(sidechain_tx_id)
    if stx.status != STX.AWAITING_SIGNATURES or stx.signed_tx is None:
        return stx
    if _send(stx, bytes(stx.signed_tx), rpc):
        _mark_broadcast(stx, height=rpc.get_block_count())
    elif _inputs_gone(stx, rpc):
        # Rejected because an input is gone: failed now, never retried forever; a family the
        # node never held is rebuilt without that coin (its withdrawals requested again).
        sidechain_tx_fail_if_unspendable(sidechain_tx_id=stx.pk, rpc=rpc)
    stx.refresh_from_db()
    return stx


def _inputs_gone(stx: SidechainTransaction, rpc: BitcoinRPC) -> bool:
    """After the node refused the transaction: each input coin its confirmed UTXO set lacks
    (gettxout) is marked missing; True if there was one."""
    coins = Coin.objects.filter(tx_inputs__sidechain_tx=stx, status__in=Coin.HELD_STATUSES)
    gone = False
    for coin in coins:
        if rpc.get_tx_out(coin.txid, coin.vout, include_mempool=False) is None:
            note = f"not unspent on the node: transaction {stx.pk} was refused"
            gone |= coin_transition(coin.pk, coin.status, Coin.Status.MISSING, note)
    return gone


def _send(stx: SidechainTransaction, signed: bytes, rpc: BitcoinRPC) -> bool:
    """Send the stored signed bytes; True if the node has them now."""
    try:
        rpc.send_raw_transaction(signed)
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError as e:
        if not _already_known(e):
            log.warning("sending transaction %s failed: %s", stx.pk, e)
            SidechainTransaction.objects.filter(pk=stx.pk).update(last_error=str(e)[:2000])
            return False
    return True


def _already_known(error: BitcoinRPCError) -> bool:
    return error.code == ALREADY_KNOWN or any(t in error.message for t in ALREADY_KNOWN_TEXT)


@transaction.atomic
def _finalized(sidechain_tx_id: int) -> SidechainTransaction:
    stx = SidechainTransaction.objects.select_for_update().get(pk=sidechain_tx_id)
    if stx.signed_tx is not None or stx.status != STX.AWAITING_SIGNATURES:
        return stx
    chosen = chosen_signatures(stx)
    if chosen is None:
        return stx
    tx = CMutableTransaction.from_tx(CTransaction.deserialize(bytes(stx.unsigned_tx)))
    witnesses = []
    inputs = stx.inputs.select_related("coin").order_by("index")
    for tx_input, signatures in zip(inputs, chosen, strict=True):
        stack = federation_witness(
            bytes(tx_input.coin.witness_script),
            {key: bytes(s.signature) for key, s in signatures.items()},
        )
        witnesses.append(CTxInWitness(CScriptWitness(stack)))
    tx.wit = CTxWitness(witnesses)
    if txid_of(tx) != stx.txid:  # a witness never changes the txid; guard the invariant
        raise WithdrawalError(f"Transaction {stx.pk} changed its txid when signed.")
    stx.signed_tx = tx.serialize()
    stx.signers = sorted({s.son_id for per_input in chosen for s in per_input.values()})
    stx.save(update_fields=["signed_tx", "signers"])
    return stx


@transaction.atomic
def _mark_broadcast(stx: SidechainTransaction, *, height: int) -> None:
    sent = sidechain_tx_transition(
        stx.pk,
        STX.AWAITING_SIGNATURES,
        STX.BROADCAST,
        f"sent {stx.txid}",
        broadcast_at=timezone.now(),
        broadcast_height=height,
        last_error="",
    )
    if not sent:
        return
    for pk in stx.withdrawals.values_list("pk", flat=True):
        withdrawal_transition(
            pk, Withdrawal.Status.BATCHED, Withdrawal.Status.BROADCAST, f"sent {stx.txid}"
        )


# --- Transactions that can never be mined -------------------------------------------------


def sidechain_tx_fail_if_unspendable(*, sidechain_tx_id: int, rpc: BitcoinRPC) -> bool:
    """Fail a transaction (and its fee-bump family) that can never be mined because one of its
    input coins is gone (Coin.unspendable), returning its withdrawals' escrow. True if it
    failed now; False if every input can still be spent, or it was done before.

    A transaction the node holds (mempool or chain) is never failed: the escrow could be
    paid out twice."""
    stx = SidechainTransaction.objects.filter(pk=sidechain_tx_id).first()
    if stx is None or not stx.is_open:
        return False
    family = stx.family_ids()
    lost = _lost_input(stx, family)
    if lost is None:
        return False
    for member in SidechainTransaction.objects.filter(pk__in=family).open():
        if member.signed_tx is not None and (
            tx_confirmations(rpc, member.txid) > 0 or in_mempool(rpc, member.txid)
        ):
            log.error("transaction %s: %s, but the node holds %s", stx.pk, lost[1], member.txid)
            return False
    return _fail_family(stx.pk, family)


def _lost_input(stx: SidechainTransaction, family: list[int]) -> tuple[UnspendableKind, str] | None:
    """(kind, reason) of the first input coin it can never spend, or None."""
    inputs = stx.inputs.select_related("coin__deposit", "coin__spent_by").order_by("index")
    for tx_input in inputs:
        found = tx_input.coin.unspendable(family)
        if found is not None:
            return found[0], f"input {tx_input.index}: {found[1]}"
    return None


@transaction.atomic
def _fail_family(stx_pk: int, family: list[int]) -> bool:
    """One transaction: the family's open members failed, their other coins released, their
    withdrawals failed with the reason and their escrow returned."""
    locked = list(
        SidechainTransaction.objects.select_for_update().filter(pk__in=family).open().order_by("pk")
    )
    stx = next((member for member in locked if member.pk == stx_pk), None)
    if stx is None:
        return False  # failed (or confirmed) by a concurrent run
    lost = _lost_input(stx, family)  # again, under the lock
    if lost is None:
        return False
    kind, reason = lost
    for member in locked:
        sidechain_tx_transition(
            member.pk, member.status, STX.FAILED, reason, last_error=f"failed: {reason}"[:2000]
        )
    family_coins_release(family)
    failure = f"Its transaction {stx.txid} can never be mined: a coin it spends was {kind.label}."
    failed = _fail_withdrawals(family, failure)
    if not SidechainTransactionEvent.objects.filter(
        sidechain_tx__in=family, new_status=STX.BROADCAST
    ).exists():
        _request_again(failed)
    log.warning("transaction %s failed: %s", stx_pk, reason)
    return True


def _request_again(withdrawals: list[Withdrawal]) -> None:
    """Failed withdrawals of a family no node ever held (so none of its transactions can be
    mined later) requested again at once, as new withdrawals: the signers pay a withdrawal id
    in one fee-bump family only. One the rules refuse now (a negative balance after a
    clawback) stays failed, its escrow returned."""
    for withdrawal in withdrawals:
        try:
            again = withdrawal_request_again(
                withdrawal=withdrawal, request_id=f"rebuild-{withdrawal.pk}"
            )
        except WithdrawalError as e:
            log.warning("withdrawal %s not requested again: %s", withdrawal.pk, e)
            continue
        note = f"{withdrawal.note} Requested again as withdrawal {again.pk}."
        Withdrawal.objects.filter(pk=withdrawal.pk).update(note=note[:200])


def family_coins_release(family: list[int]) -> None:
    """The family's reserved coins that can still be spent are available again; an
    unspendable one stays reserved by the failed transaction: never batched again."""
    reserved = Coin.objects.reserved_by_any(family).select_for_update(of=("self",))
    for coin in reserved.select_related("deposit", "spent_by"):
        if coin.unspendable(family) is None:
            coin_transition(
                coin.pk, Coin.Status.RESERVED, Coin.Status.AVAILABLE, "released", reserved_by=None
            )


def _fail_withdrawals(family: list[int], failure: str) -> list[Withdrawal]:
    withdrawals = Withdrawal.objects.filter(sidechain_tx__in=family).order_by("pk")
    failed = []
    for withdrawal in withdrawals.select_related("user"):
        for old in (Withdrawal.Status.BATCHED, Withdrawal.Status.BROADCAST):
            if withdrawal_transition(
                withdrawal.pk,
                old,
                Withdrawal.Status.FAILED,
                failure,
                failure_reason=failure,
                failed_at=timezone.now(),
                note=failure,
            ):
                withdrawal_return_escrow(withdrawal)
                withdrawal.note = failure
                failed.append(withdrawal)
                break
    return failed


# --- Unconfirmed too long: rebroadcast, fee bumps -----------------------------------------


def _unconfirmed(stx: SidechainTransaction, rpc: BitcoinRPC) -> None:
    """The latest sent transaction of its family: sent again if the node lost it; bumped if
    it waited too long. An older one, replaced in the mempool by a sent bump, is left alone."""
    if stx.fee_bumps.filter(status=STX.BROADCAST).exists():
        return
    age = (timezone.now() - stx.broadcast_at).total_seconds() if stx.broadcast_at else 0
    if age >= settings.BITCOIN_WITHDRAWAL_REBROADCAST_AFTER:
        sidechain_tx_rebroadcast(sidechain_tx=stx, rpc=rpc)
    if age >= settings.BITCOIN_WITHDRAWAL_BUMP_AFTER and not stx.fee_bumps.exists():
        sidechain_tx_bump(sidechain_tx_id=stx.pk, rpc=rpc)


def sidechain_tx_rebroadcast(*, sidechain_tx: SidechainTransaction, rpc: BitcoinRPC) -> bool:
    """Send the stored signed bytes again if the node's mempool does not hold them (a node
    restart, an eviction). True if sent."""
    if sidechain_tx.signed_tx is None or in_mempool(rpc, sidechain_tx.txid):
        return False
    if not _send(sidechain_tx, bytes(sidechain_tx.signed_tx), rpc):
        return False
    log.info("sent transaction %s (%s) again", sidechain_tx.pk, sidechain_tx.txid)
    return True


def in_mempool(rpc: BitcoinRPC, txid: str) -> bool:
    try:
        rpc.call("getmempoolentry", txid)
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError:
        return False
    return True


def sidechain_tx_bump(
    *, sidechain_tx_id: int, rpc: BitcoinRPC, feerate: int | None = None
) -> SidechainTransaction | None:
    """A replacement of a sent, unconfirmed transaction: the same inputs and payouts, a higher
    fee taken from the change, fee_bump_of set; the signers sign it as a fee bump. None when
    it cannot be bumped (no change left above dust, the rate already at the cap). `feerate`
    asks for at least that rate (a sweep nearing its deadline), within the cap."""
    floor = max(withdrawal_feerate(rpc=rpc), feerate or 0)
    with transaction.atomic():
        old = SidechainTransaction.objects.select_for_update().get(pk=sidechain_tx_id)
        if old.status != STX.BROADCAST or old.fee_bumps.exists():
            return None
        cap = settings.BITCOIN_WITHDRAWAL_FEERATE_CAP
        feerate = min(max(floor, old.feerate + max(1, old.feerate // 2)), cap)
        extra = feerate * old.vsize - old.fee
        change = old.change_amount - extra
        if extra <= 0 or not old.change_amount or change < DUST_LIMIT:
            reason = f"no fee bump: {extra} sat more would leave change {change} sat"
            SidechainTransaction.objects.filter(pk=old.pk).update(last_error=reason)
            return None
        return _persist_bump(old, feerate, change)


def _persist_bump(old: SidechainTransaction, feerate: int, change: int) -> SidechainTransaction:
    tx = CMutableTransaction.from_tx(CTransaction.deserialize(bytes(old.unsigned_tx)))
    tx.vout[-1].nValue = change  # the change is the last output; the payouts stay as they are
    bump = SidechainTransaction.objects.create(
        chain=old.chain,
        kind=old.kind,
        unsigned_tx=tx.serialize(),
        txid=txid_of(tx),
        fee=old.fee + old.change_amount - change,
        vsize=old.vsize,
        feerate=feerate,
        change_amount=change,
        change_witness_script=old.change_witness_script,
        federation_version=old.federation_version,
        fee_bump_of=old,
    )
    sidechain_tx_created(bump, f"fee bump of transaction {old.pk} at {feerate} sat/vB")
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=bump, index=i.index, coin_id=i.coin_id) for i in old.inputs.all()
    )
    note = f"fee bumped: transaction {bump.pk} ({bump.txid}) at {feerate} sat/vB"
    old.family_withdrawals().update(note=note)
    log.info("transaction %s: %s", old.pk, note)
    return bump


def tx_confirmations(rpc: BitcoinRPC, txid: str) -> int:
    """Confirmations of a transaction (0 in the mempool or unknown)."""
    try:
        answer = rpc.call("getrawtransaction", txid, 1)
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError:
        return 0
    return int(answer.get("confirmations") or 0)
