"""Refunds of Bitcoin deposits that were not credited (DESIGN.md, "Proposals"; docs/proposals.md).

A deposit confirmed while fewer than m of the federation's n SONs were active is refund_pending
(sidechains/bitcoin/deposits.py). The portal pays it back through the witnesses and the SONs:

    refund_pending --proposal raised, approved, executed--> refund transaction built
        (deposit stays refund_pending, "refund transaction #n awaiting signatures")
    --m SONs sign (their ratification)--> broadcast --BITCOIN_WITHDRAWAL_CONFIRMATIONS--> refunded

The refund transaction goes through the withdrawal pipeline (sidechains/bitcoin/withdrawals.py):
one input, the deposit's outpoint with its deposit script (a Coin reserved by the transaction,
never credited), one output of the amount less the fee to the user's withdraw address, no change.
Its signing request lists that output as the payout "r-<deposit id>".
"""

from __future__ import annotations

import logging
from typing import TypedDict

from bitcoin.core import CMutableTransaction
from django.db import transaction

from chains.bitcoin.fees import DUST_LIMIT, signed_vsize
from chains.bitcoin.transactions import txid_of, unsigned_transaction
from sidechains.bitcoin.withdrawals.builder import script_pubkey
from sidechains.models import Coin, Deposit, Refund, SidechainTransaction, TxInput
from sidechains.models.deposits import DepositQuerySet
from sidechains.transitions import (
    coin_created,
    coin_transition,
    deposit_transition,
    sidechain_tx_created,
)
from sons.models import Sidechain

log = logging.getLogger(__name__)

STX = SidechainTransaction.Status
# A refund whose transaction is in one of these still pays (or paid) the deposit.
LIVE = [STX.AWAITING_SIGNATURES, STX.BROADCAST, STX.CONFIRMED, STX.REPLACED]


class RefundError(Exception):
    """A refund the deposit's state does not allow; nothing changed."""


def refundable() -> DepositQuerySet:
    """refund_pending Bitcoin deposits with no live refund transaction."""
    return (
        Deposit.objects.for_chain(Sidechain.BITCOIN)
        .filter(status=Deposit.Status.REFUND_PENDING)
        .exclude(refunds__sidechain_tx__status__in=LIVE)
    )


class RefundPlan(TypedDict):
    """A refund as its proposal's payload (refund_plan)."""

    deposit: int
    outpoint: str  # "<txid>:<vout>"
    user: str
    amount: int  # satoshi, the deposit's
    destination: str  # the user's withdraw address
    feerate: int  # sat/vB
    vsize: int
    fee: int
    refund_amount: int  # amount - fee
    why: str


def refund_plan(*, deposit: Deposit, feerate: int) -> RefundPlan:
    """The refund as a proposal's payload: what the witnesses approve is what gets signed."""
    destination = deposit.mapping.withdraw_address
    script = deposit.mapping.witness_script()
    unsigned = _unsigned(deposit, destination, deposit.amount)
    vsize = signed_vsize(len(unsigned.serialize()), [script])
    fee = feerate * vsize
    return {
        "deposit": deposit.pk,
        "outpoint": f"{deposit.txid}:{deposit.vout}",
        "user": deposit.user.get_username(),
        "amount": deposit.amount,
        "destination": destination,
        "feerate": feerate,
        "vsize": vsize,
        "fee": fee,
        "refund_amount": deposit.amount - fee,
        "why": deposit.note,
    }


def refund_create(*, payload: RefundPlan, proposal_id: int | None = None) -> SidechainTransaction:
    """Build the approved refund's transaction, awaiting the SONs' signatures (caller's
    transaction: a proposal's execution). Refuses (RefundError) a deposit that is no longer
    refund_pending (e.g. orphaned by a reorg), already has a live refund, or does not match."""
    with transaction.atomic():
        deposit = (
            Deposit.objects.select_for_update()
            .select_related("mapping")
            .filter(pk=payload.get("deposit"))
            .first()
        )
        if deposit is None:
            raise RefundError(f"There is no deposit {payload.get('deposit')}.")
        _check(deposit, payload)
        tx = _unsigned(deposit, payload["destination"], payload["refund_amount"])
        script = deposit.mapping.witness_script()
        stx = SidechainTransaction.objects.create(
            chain=Sidechain.BITCOIN,
            kind=SidechainTransaction.Kind.REFUND,
            unsigned_tx=tx.serialize(),
            txid=txid_of(tx),
            fee=payload["fee"],
            vsize=signed_vsize(len(tx.serialize()), [script]),
            feerate=payload["feerate"],
        )
        sidechain_tx_created(stx, f"refund of deposit {deposit.pk}")
        TxInput.objects.create(sidechain_tx=stx, index=0, coin=_reserved_coin(deposit, stx))
        Refund.objects.create(
            deposit=deposit,
            sidechain_tx=stx,
            address=payload["destination"],
            amount=payload["refund_amount"],
            fee=payload["fee"],
            proposal_id=proposal_id,
        )
        note = f"refund transaction #{stx.pk} awaiting signatures"
        Deposit.objects.filter(pk=deposit.pk).update(note=note)
    return stx


def _check(deposit: Deposit, payload: RefundPlan) -> None:
    if deposit.status != Deposit.Status.REFUND_PENDING:
        raise RefundError(
            f"Deposit {deposit.pk} is {deposit.status}, not refund pending: it is not paid."
        )
    if deposit.refunds.filter(sidechain_tx__status__in=LIVE).exists():
        raise RefundError(f"Deposit {deposit.pk} already has a refund transaction.")
    if f"{deposit.txid}:{deposit.vout}" != payload["outpoint"] or (
        payload["refund_amount"] + payload["fee"] != deposit.amount
    ):
        raise RefundError(f"The proposal does not match deposit {deposit.pk} any more.")
    if payload["refund_amount"] < DUST_LIMIT:
        raise RefundError(f"Deposit {deposit.pk} is too small to refund after the fee.")
    if deposit.raw_tx is None:  # recorded before the listener kept transactions
        raise RefundError(f"Deposit {deposit.pk} has no stored transaction for the signers.")


def _reserved_coin(deposit: Deposit, stx: SidechainTransaction) -> Coin:
    """The deposit's output as a coin reserved by the refund: never available to withdrawals."""
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
            "status": Coin.Status.RESERVED,
            "reserved_by": stx,
        },
    )
    if created:
        return coin_created(coin, f"held for the refund of deposit {deposit.pk}")
    # An earlier refund transaction failed: its coin is reserved again.
    note = f"held for the refund of deposit {deposit.pk}, again"
    usable = coin.deposit_id == deposit.pk and coin.status != Coin.Status.SPENT
    if not usable or not coin_transition(
        coin.pk, coin.status, Coin.Status.RESERVED, note, reserved_by=stx
    ):
        raise RefundError(f"The output of deposit {deposit.pk} is spent or not its own.")
    return coin


def _unsigned(deposit: Deposit, destination: str, amount: int) -> CMutableTransaction:
    return unsigned_transaction(
        [(deposit.txid, deposit.vout)], [(script_pubkey(destination), amount)]
    )


def refunds_track() -> int:
    """refund_pending -> refunded for every refund whose transaction the withdrawal tracker
    confirmed (withdrawals_track, same beat); returns how many deposits were refunded."""
    done = Refund.objects.filter(
        sidechain_tx__status=STX.CONFIRMED, deposit__status=Deposit.Status.REFUND_PENDING
    ).select_related("deposit", "sidechain_tx")
    refunded = 0
    for refund in done.order_by("pk"):
        stx = refund.sidechain_tx
        note = (
            f"refunded {refund.amount} sat to {refund.address} in {stx.txid} "
            f"(height {stx.confirmed_height})"
        )
        with transaction.atomic():
            refunded += deposit_transition(
                refund.deposit.pk, Deposit.Status.REFUND_PENDING, Deposit.Status.REFUNDED, note
            )
    sent = Refund.objects.filter(
        sidechain_tx__status=STX.BROADCAST, deposit__status=Deposit.Status.REFUND_PENDING
    )
    for refund in sent.select_related("sidechain_tx"):
        note = f"refund transaction #{refund.sidechain_tx_id} sent ({refund.sidechain_tx.txid})"
        Deposit.objects.filter(pk=refund.deposit_id, status=Deposit.Status.REFUND_PENDING).update(
            note=note
        )
    return refunded


def is_portal_spend(deposit: Deposit, spending_txid: str) -> bool:
    """Whether a transaction spending the deposit's output is one of the portal's (a refund)."""
    return SidechainTransaction.objects.filter(
        txid=spending_txid, inputs__coin__txid=deposit.txid, inputs__coin__vout=deposit.vout
    ).exists()
