"""Abandoning a rotation transaction that signer refusals stranded, and offering it again
(docs/rotation.md, "Runbook: a stalled rotation").

A refusal stands for the transaction it answers: when the SONs that refused (say, their
configuration lacked the destination version) leave fewer than m able to sign, the transaction
waits for good. An administrator abandons it, with a reason (audit-logged): it is marked failed,
its coins are released, and the next beat builds the step again.

The signers that did sign it recorded its coins in their journals as spent by that transaction:
they would refuse a different transaction spending them (CONFLICTING_SPEND). So the step is
built again as the very same transaction (same coins, fee and txid) when its coins are all still
available and the versions unchanged; the journals accept a transaction they already signed
under a new request id, and the SONs that refused it are asked afresh. Otherwise the usual step
builders take over (rotation.py).
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.db import transaction

from audit.services import audit_record, audit_target
from chains.bitcoin.rpc import BitcoinRPC
from sidechains.bitcoin.withdrawals.builder import coins_gone
from sidechains.bitcoin.withdrawals.tracker import family_coins_release
from sidechains.models import (
    Coin,
    RotationStep,
    SidechainTransaction,
    SidechainTransactionEvent,
    TxInput,
)
from sidechains.transitions import coin_transition, sidechain_tx_created, sidechain_tx_transition
from sons.federation import (
    federation_current,
    federation_version_consents,
    federation_version_ready,
)
from sons.models import FederationVersion, Sidechain

log = logging.getLogger(__name__)

STX = SidechainTransaction.Status
Kind = SidechainTransaction.Kind
Step = RotationStep.Step
ROTATION_KINDS = (Kind.ROTATION_TEST, Kind.ROTATION_SWEEP)


class AbandonError(Exception):
    """This transaction may not be abandoned (the admin shows the message)."""


def rotation_tx_abandon(*, sidechain_tx: SidechainTransaction, by: User, reason: str) -> None:
    """Fail a rotation transaction awaiting signatures that no node ever got, release its
    coins and record who did it and why. AbandonError for anything else, nothing changed."""
    reason = reason.strip()[:200]
    if not reason:
        raise AbandonError("Say why the transaction is abandoned.")
    with transaction.atomic():
        stx = SidechainTransaction.objects.select_for_update().get(pk=sidechain_tx.pk)
        _check_abandonable(stx)
        note = f"abandoned by {by}: {reason}"
        if not sidechain_tx_transition(
            stx.pk, STX.AWAITING_SIGNATURES, STX.FAILED, note[:200], abandoned_reason=reason
        ):
            raise AbandonError(f"Transaction {stx.pk} changed meanwhile: look again.")
        family_coins_release([stx.pk])
        audit_record(
            actor=by,
            action="sidechain_tx.abandoned",
            target=audit_target(stx),
            reason=reason,
            details={"kind": stx.kind, "txid": stx.txid},
        )
    log.warning("rotation transaction %s abandoned by %s: %s", stx.pk, by, reason)


def _check_abandonable(stx: SidechainTransaction) -> None:
    if stx.kind not in ROTATION_KINDS:
        raise AbandonError(f"Transaction {stx.pk} is not a rotation's test spend or sweep.")
    if stx.status != STX.AWAITING_SIGNATURES:
        raise AbandonError(f"Transaction {stx.pk} is {stx.get_status_display()}, not awaiting.")
    if stx.signed_tx is not None:
        raise AbandonError(
            f"Transaction {stx.pk} is fully signed: it may be sent, never abandoned."
        )
    if stx.fee_bump_of_id is not None or stx.fee_bumps.exists():
        raise AbandonError(f"Transaction {stx.pk} is in a fee-bump family: one of it may be mined.")
    if SidechainTransactionEvent.objects.filter(
        sidechain_tx=stx, new_status=STX.BROADCAST
    ).exists():
        raise AbandonError(f"Transaction {stx.pk} was sent once: it may still be mined.")
    if stx.withdrawals.exists():
        raise AbandonError(f"Transaction {stx.pk} pays withdrawals.")


def rotation_reoffer_abandoned(*, rpc: BitcoinRPC) -> int:
    """Offer each abandoned rotation transaction that is still its step's last again, as the
    same transaction, when it may be; returns how many were."""
    abandoned = RotationStep.objects.filter(
        sidechain_tx__status=STX.FAILED, sidechain_tx__kind__in=ROTATION_KINDS
    ).exclude(sidechain_tx__abandoned_reason="")
    offered = 0
    for step in abandoned.select_related("version", "sidechain_tx").order_by("pk"):
        offered += _reoffer(step, rpc=rpc) is not None
    return offered


def _reoffer(step: RotationStep, *, rpc: BitcoinRPC) -> SidechainTransaction | None:
    old = step.sidechain_tx
    assert old is not None  # filtered on its status
    if not _still_wanted(step, old):
        return None
    with transaction.atomic():
        FederationVersion.objects.select_for_update().get(pk=step.version_id)  # one beat at a time
        last = RotationStep.objects.filter(version=step.version, step=step.step).order_by("-pk")
        if last.first() != step:
            return None  # built again already (or offered again)
        inputs = list(old.inputs.select_related("coin").order_by("index"))
        coins = [i.coin for i in inputs]
        locked = Coin.objects.select_for_update().filter(pk__in=[c.pk for c in coins])
        if any(c.status != Coin.Status.AVAILABLE for c in locked) or coins_gone(rpc, coins):
            return None  # the builders take a new set of coins
        return _copy(old, step, coins)


def _still_wanted(step: RotationStep, old: SidechainTransaction) -> bool:
    """The step's versions are where they were when it was built."""
    destination = old.federation_version
    if destination is None:
        return False
    if step.step in (Step.TEST_FUND, Step.TEST_RETURN):
        active = federation_current(Sidechain.BITCOIN)
        ready = federation_version_ready(destination)
        return ready and active is not None and federation_version_consents(active, destination)
    open_sweeps = SidechainTransaction.objects.filter(kind=Kind.ROTATION_SWEEP).open()
    if open_sweeps.exists() or destination.status != FederationVersion.Status.ACTIVE:
        return False
    return federation_version_consents(step.version, destination)


def _copy(old: SidechainTransaction, step: RotationStep, coins: list[Coin]) -> SidechainTransaction:
    new = SidechainTransaction.objects.create(
        chain=old.chain,
        kind=old.kind,
        unsigned_tx=bytes(old.unsigned_tx),
        txid=old.txid,
        fee=old.fee,
        vsize=old.vsize,
        feerate=old.feerate,
        change_amount=old.change_amount,
        change_witness_script=old.change_witness_script,
        federation_version=old.federation_version,
    )
    note = f"transaction {old.pk}, abandoned, offered again as it was"
    sidechain_tx_created(new, note)
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=new, index=i, coin=coin) for i, coin in enumerate(coins)
    )
    for coin in coins:
        coin_transition(coin.pk, Coin.Status.AVAILABLE, Coin.Status.RESERVED, note, reserved_by=new)
    RotationStep.objects.create(version=step.version, step=step.step, sidechain_tx=new, note=note)
    log.info("rotation %s: %s as %s", step.step, note, new.pk)
    return new
