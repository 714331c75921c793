"""Hive withdrawal transactions: batching, the signing request, the SONs' signatures, and
tracking until an irreversible block holds the transaction (docs/hive.md).

    awaiting_signatures --m valid signatures (minimal set)--> signed --broadcast--> broadcast
    broadcast | signed  --in an irreversible block---------------------------------> confirmed
    any live            --expired, and its expiration block irreversible-----------> expired
                           -> rebuilt for the same withdrawals, or they fail (escrow returned)

One live transaction at a time: a withdrawal is never in two transactions that could both be
included. Intent is stored before each call to the node (status signed before broadcasting).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime

from chains.hive import transactions as hive_tx
from chains.hive.rpc import HiveRPC, HiveRPCError
from sidechains.models import (
    HiveDeposit,
    HivePayout,
    HiveSignature,
    HiveTransaction,
    Withdrawal,
)
from sidechains.transitions import withdrawal_transition
from sons.models import SON, Sidechain, SONPublicKey

log = logging.getLogger(__name__)
W = Withdrawal.Status
T = HiveTransaction.Status


class HiveSigningError(Exception):
    """A signature the portal refuses; nothing was stored."""


class HiveTxClosed(HiveSigningError):
    """The transaction no longer awaits signatures."""


def payout_id(withdrawal: Withdrawal) -> str:
    return f"w-{withdrawal.pk}"


def _time(text: str) -> dt.datetime:
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(f"not a time: {text!r}")
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _irreversible_block(rpc: HiveRPC) -> dict[str, Any]:
    lib = int(rpc.get_dynamic_global_properties()["last_irreversible_block_num"])
    block = rpc.get_block(lib)
    if block is None:
        raise HiveRPCError("block_api.get_block", f"irreversible block {lib} is missing")
    return block


def hive_withdrawals_batch(*, rpc: HiveRPC) -> HiveTransaction | None:
    """Put the requested Hive withdrawals and ordered refunds into one transaction, unless one
    is live."""
    if HiveTransaction.objects.live().exists():
        return None
    reference = _irreversible_block(rpc)
    chain_id = str(rpc.get_config()["HIVE_CHAIN_ID"])
    with transaction.atomic():
        if HiveTransaction.objects.select_for_update().live().exists():
            return None
        due = list(
            Withdrawal.objects.select_for_update(skip_locked=True)
            .filter(chain=Sidechain.HIVE, status=W.REQUESTED)
            .order_by("pk")[: settings.HIVE_WITHDRAWAL_BATCH_SIZE]
        )
        refunds = list(
            HiveDeposit.objects.select_for_update(skip_locked=True)
            .filter(status=HiveDeposit.Status.REFUNDING)
            .order_by("pk")[: settings.HIVE_WITHDRAWAL_BATCH_SIZE]
        )
        if not due and not refunds:
            return None
        htx = _build(due, refunds, reference, chain_id, previous=None)
        for w in due:
            withdrawal_transition(w.pk, W.REQUESTED, W.BATCHED, f"in Hive tx {htx.trx_id}")
        return htx


def _build(
    withdrawals: list[Withdrawal],
    refunds: list[HiveDeposit],
    reference: dict[str, Any],
    chain_id: str,
    previous: HiveTransaction | None,
) -> HiveTransaction:
    payouts = [hive_tx.Payout(payout_id(w), w.address, w.amount, w.asset) for w in withdrawals]
    payouts += [hive_tx.Payout(f"r-{d.pk}", d.sender, d.amount, d.asset) for d in refunds]
    reference_time = _time(reference["timestamp"])
    expires_in = dt.timedelta(seconds=min(settings.HIVE_TX_EXPIRATION, 3600))
    tx = hive_tx.withdrawal_transaction(
        payouts,
        federation=settings.HIVE_FEDERATION_ACCOUNT,
        reference_block_id=reference["block_id"],
        reference_time=reference_time,
        expires_in=expires_in,
    )
    htx = HiveTransaction.objects.create(
        trx_id=hive_tx.transaction_id(tx),
        chain_id=chain_id,
        tx=tx,
        reference_time=reference_time,
        expiration=reference_time.replace(microsecond=0) + expires_in,
        previous=previous,
    )
    rows = [HivePayout(hive_tx=htx, withdrawal=w) for w in withdrawals]
    HivePayout.objects.bulk_create(rows + [HivePayout(hive_tx=htx, refund=d) for d in refunds])
    return htx


def hive_signing_request(htx: HiveTransaction) -> dict[str, Any]:
    """What a signer gets (docs/signing-requests.md, "Hive"); payouts in the operations' order."""
    payouts = []
    for row in htx.payouts.select_related("withdrawal", "refund").order_by("pk"):
        if row.withdrawal is not None:
            w = row.withdrawal
            payouts.append((payout_id(w), w.address, w.amount, w.asset))
        elif row.refund is not None:
            d = row.refund
            payouts.append((f"r-{d.pk}", d.sender, d.amount, d.asset))
    return {
        "id": f"hive-{htx.pk}",
        "version": 1,
        "chain": "hive",
        "chain_id": htx.chain_id,
        "ref_block_num": htx.tx["ref_block_num"],
        "ref_block_prefix": htx.tx["ref_block_prefix"],
        "reference_time": hive_tx.format_time(htx.reference_time),
        "expiration": htx.tx["expiration"],
        "operations": htx.tx["operations"],
        "trx_id": htx.trx_id,
        "withdrawals": [
            {"id": pid, "account": account, "amount": amount, "asset": asset}
            for pid, account, amount, asset in payouts
        ],
    }


def hive_signature_submit(
    *, son: SON, hive_tx_id: int, signature: str, authority: dict[str, Any]
) -> bool:
    """Keep a SON's signature if it recovers to the SON's registered Hive key; True when the
    transaction now has a minimal set meeting `authority` (federation_authority: the
    account's active one, or its owner one for a rotation that changes the owner)."""
    raw = _signature_bytes(signature)
    with transaction.atomic():
        htx = HiveTransaction.objects.select_for_update().filter(pk=hive_tx_id).first()
        if htx is None or htx.status != T.AWAITING_SIGNATURES:
            raise HiveTxClosed(f"Hive transaction {hive_tx_id} does not await signatures.")
        key = (
            SONPublicKey.objects.filter(son=son, sidechain=Sidechain.HIVE)
            .values_list("public_key", flat=True)
            .first()
        )
        key = None if key is None else hive_tx.public_key_text(key)
        if key is None or hive_tx.recover_key(htx.tx, htx.chain_id, raw) != key:
            raise HiveSigningError("The signature is not by this SON's registered Hive key.")
        HiveSignature.objects.get_or_create(
            hive_tx=htx, son=son, defaults={"public_key": key, "signature": raw.hex()}
        )
        chosen = minimal_set(list(htx.son_signatures.all()), authority)
        if chosen is None:
            return False
        HiveTransaction.objects.filter(pk=htx.pk).update(status=T.SIGNED, signatures=chosen)
        return True


def _signature_bytes(text: str) -> bytes:
    if not isinstance(text, str) or len(text) != 130:
        raise HiveSigningError("A signature is 130 hexadecimal characters.")
    try:
        return bytes.fromhex(text)
    except ValueError as e:
        raise HiveSigningError("A signature is 130 hexadecimal characters.") from e


def minimal_set(signatures: list[HiveSignature], authority: dict[str, Any]) -> list[str] | None:
    """The fewest signatures whose keys' weights reach the threshold (heaviest first), or None.
    Nodes refuse a transaction with a signature beyond what the authority needs."""
    weights = {key: int(weight) for key, weight in authority["key_auths"]}
    usable = sorted(
        (s for s in signatures if s.public_key in weights),
        key=lambda s: (-weights[s.public_key], s.public_key),
    )
    chosen, total = [], 0
    for s in usable:
        if total >= int(authority["weight_threshold"]):
            break
        chosen.append(s.signature)
        total += weights[s.public_key]
    return chosen if total >= int(authority["weight_threshold"]) else None


def federation_authority(rpc: HiveRPC, *, hive_tx_id: int | None = None) -> dict[str, Any]:
    """The federation account's authority on the node that the transaction's signatures must
    meet: its active authority, or its owner authority for a rotation that also changes the
    owner (hived requires the owner authority for that, and only it)."""
    name = settings.HIVE_FEDERATION_ACCOUNT
    for account in rpc.get_accounts([name]):
        if account["name"] == name:
            return dict(account["owner" if _changes_owner(hive_tx_id) else "active"])
    raise HiveRPCError("database_api.find_accounts", f"no account {name}")


def _changes_owner(hive_tx_id: int | None) -> bool:
    if hive_tx_id is None:
        return False
    tx = HiveTransaction.objects.filter(pk=hive_tx_id).values_list("tx", flat=True).first()
    return tx is not None and any(
        kind == "account_update" and body.get("owner") is not None
        for kind, body in tx["operations"]
    )
