"""The self-refund kit of an uncredited deposit (docs/deposits.md, "Reclaiming a deposit
yourself"): from which block the depositor's key alone may spend it, and an unsigned PSBT
(BIP-174) that spends it through the script's ELSE branch to their withdraw address, which
their wallet signs. Built from the rows only; nothing is stored and no node is asked."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from chains.bitcoin.addresses import decode_address
from chains.bitcoin.psbt import PsbtError, reclaim_psbt
from sidechains.bitcoin.withdrawals.requests import withdrawal_mapping
from sidechains.models import Deposit

# A credited deposit is the federation's coin: its depositor taking it back is a clawback
# (docs/deposits.md), so the kit is offered only for deposits nobody credited.
RECLAIMABLE = (Deposit.Status.DETECTED, Deposit.Status.CONFIRMED, Deposit.Status.REFUND_PENDING)


@dataclass(frozen=True)
class ReclaimKit:
    reclaim_height: int  # the first block that may hold the spend
    psbt: bytes
    destination: str
    fee: int  # satoshi
    feerate: int  # sat/vB
    amount: int  # satoshi that arrive


def reclaim_kit(deposit: Deposit) -> ReclaimKit | None:
    """The kit, or None for a deposit that is not the depositor's to take back (credited,
    refunded, reclaimed...) or too small to pay the fee."""
    if deposit.status not in RECLAIMABLE:
        return None
    mapping = withdrawal_mapping(deposit.user) or deposit.mapping
    destination = mapping.withdraw_address
    feerate = settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR
    try:
        reclaim = reclaim_psbt(
            outpoint=(deposit.txid, deposit.vout),
            amount=deposit.amount,
            prev_tx=None if deposit.raw_tx is None else bytes(deposit.raw_tx),
            witness_script=bytes(deposit.mapping.deposit_witness_script),
            pay_to=decode_address(destination, settings.BITCOIN_NETWORK).script_pubkey,
            feerate=feerate,
        )
    except PsbtError:
        return None
    return ReclaimKit(
        reclaim_height=deposit.reclaim_height(),
        psbt=reclaim.psbt,
        destination=destination,
        fee=reclaim.fee,
        feerate=feerate,
        amount=reclaim.amount,
    )
