"""Broadcasting signed Hive withdrawal transactions and following them to an irreversible
block, or past their expiration to a rebuild (docs/hive.md)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from chains.hive.rpc import HiveRPC, HiveRPCError
from sidechains.hive.deposits import hive_deposit_transition
from sidechains.hive.rotation import hive_rotation_activate
from sidechains.hive.withdrawals.requests import hive_withdrawal_fail, hive_withdrawal_settle
from sidechains.hive.withdrawals.transactions import _build, _irreversible_block, _time
from sidechains.models import HiveDeposit, HiveTransaction, Withdrawal
from sidechains.transitions import withdrawal_transition

log = logging.getLogger(__name__)
W = Withdrawal.Status
T = HiveTransaction.Status


def hive_withdrawals_track(*, rpc: HiveRPC) -> int:
    """One pass over the live transactions; returns how many changed state."""
    changed = 0
    for htx in HiveTransaction.objects.live().order_by("pk"):
        changed += _track(htx, rpc)
    return changed


def _track(htx: HiveTransaction, rpc: HiveRPC) -> bool:
    found = rpc.get_transaction(htx.trx_id)  # irreversible blocks only
    if found is not None:
        return hive_tx_confirm(hive_tx_id=htx.pk, block_num=int(found["block_num"]))
    reference = _irreversible_block(rpc)
    if _time(reference["timestamp"]) >= htx.expiration:
        # Its expiration is in an irreversible block and it is not in one: it never will be.
        return hive_tx_expire(hive_tx_id=htx.pk, reference=reference)
    if htx.status == T.SIGNED:
        return hive_tx_broadcast(hive_tx=htx, rpc=rpc)
    return False


def signed_transaction(htx: HiveTransaction) -> dict[str, object]:
    return {**htx.tx, "signatures": list(htx.signatures)}


def hive_tx_broadcast(*, hive_tx: HiveTransaction, rpc: HiveRPC) -> bool:
    """Send a signed transaction; "duplicate transaction" means the node has it: sent."""
    try:
        rpc.broadcast_transaction(signed_transaction(hive_tx))
    except HiveRPCError as e:
        if not e.is_duplicate_transaction:
            log.warning("Hive tx %s refused: %s", hive_tx.trx_id, e.message)
            HiveTransaction.objects.filter(pk=hive_tx.pk).update(note=e.message[:200])
            return False
    with transaction.atomic():
        moved = HiveTransaction.objects.filter(pk=hive_tx.pk, status=T.SIGNED).update(
            status=T.BROADCAST, note=""
        )
        for w in Withdrawal.objects.filter(hive_payouts__hive_tx=hive_tx, status=W.BATCHED):
            withdrawal_transition(w.pk, W.BATCHED, W.BROADCAST, f"sent in {hive_tx.trx_id}")
    return bool(moved)


@transaction.atomic
def hive_tx_confirm(*, hive_tx_id: int, block_num: int) -> bool:
    htx = HiveTransaction.objects.select_for_update().get(pk=hive_tx_id)
    if htx.status not in HiveTransaction.LIVE_STATUSES:
        return False
    HiveTransaction.objects.filter(pk=htx.pk).update(status=T.CONFIRMED, block_num=block_num)
    if htx.federation_version is not None:
        note = f"{htx.trx_id} in irreversible block {block_num}"
        hive_rotation_activate(version=htx.federation_version, note=note)
    for w in Withdrawal.objects.filter(hive_payouts__hive_tx=htx).select_for_update():
        if w.status == W.BATCHED:
            withdrawal_transition(w.pk, W.BATCHED, W.BROADCAST, f"found in {htx.trx_id}")
        hive_withdrawal_settle(withdrawal=w, note=f"in irreversible block {block_num}")
    for d in HiveDeposit.objects.filter(payouts__hive_tx=htx):
        note = f"refunded to @{d.sender} by {htx.trx_id} in block {block_num}"
        hive_deposit_transition(
            d.pk, HiveDeposit.Status.REFUNDING, HiveDeposit.Status.REFUNDED, note
        )
    return True


@transaction.atomic
def hive_tx_expire(*, hive_tx_id: int, reference: dict[str, object]) -> bool:
    """expired; its withdrawals go into a rebuild, or fail after HIVE_TX_MAX_REBUILDS."""
    htx = HiveTransaction.objects.select_for_update().get(pk=hive_tx_id)
    if htx.status not in HiveTransaction.LIVE_STATUSES:
        return False
    HiveTransaction.objects.filter(pk=htx.pk).update(status=T.EXPIRED)
    if htx.federation_version_id is not None:
        return True  # a rotation: the next tick builds a new one while the version is accepted
    withdrawals = list(Withdrawal.objects.filter(hive_payouts__hive_tx=htx).order_by("pk"))
    refunds = list(HiveDeposit.objects.filter(payouts__hive_tx=htx).order_by("pk"))
    if _rebuilds(htx) >= settings.HIVE_TX_MAX_REBUILDS:
        for w in withdrawals:
            hive_withdrawal_fail(withdrawal=w, old=w.status, reason="expired unincluded")
        for d in refunds:  # a new refund proposal may order it again
            note = f"{htx.trx_id} expired unincluded too often"
            hive_deposit_transition(d.pk, d.status, HiveDeposit.Status.REFUND_PENDING, note)
        return True
    for w in withdrawals:
        if w.status == W.BROADCAST:
            withdrawal_transition(w.pk, W.BROADCAST, W.BATCHED, f"{htx.trx_id} expired")
    _build(withdrawals, refunds, dict(reference), htx.chain_id, previous=htx)
    return True


def _rebuilds(htx: HiveTransaction) -> int:
    count, current = 0, htx.previous
    while current is not None:
        count, current = count + 1, current.previous
    return count
