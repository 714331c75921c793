"""The Hive deposit listener (docs/hive.md).

It reads irreversible blocks only, in order, from a persisted cursor (ChainCursor "hive": the
last block scanned), through block_api.get_block_range. Each range is one database
transaction: take the scanner lock, record every transfer to the federation account as a
HiveDeposit (unique on trx_id and operation index), advance the cursor. A crash before the
commit leaves nothing behind and the range is read again; nothing is ever skipped.

Irreversible blocks are never undone, so there are no reorgs to handle: a recorded deposit is
routed at once (memo, else the sender's verified mapping) or held for review.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chains.hive import transfers
from chains.hive.rpc import HiveRPC
from chains.hive.transfers import Transfer
from mappings import hive_ownership
from mappings.models import AddressClaim
from sidechains.models import ChainCursor, HiveDeposit, HiveDepositEvent
from sons.models import Sidechain

log = logging.getLogger(__name__)

CHAIN = Sidechain.HIVE
# pg_advisory_xact_lock key: "SONHIV" + 1.
SCAN_LOCK = 0x534F4E484956_01
# block_api.get_block_range answers at most 1000 blocks.
MAX_RANGE = 1000


class ListenerError(Exception):
    """The node answered something the listener cannot use; nothing was recorded."""


def listener_scan(*, rpc: HiveRPC, max_blocks: int = 100) -> int:
    """Scan irreversible blocks until caught up or max_blocks are done; returns blocks scanned.
    0: caught up, or another worker holds the scanner lock."""
    scanned = 0
    while scanned < max_blocks:
        step = listener_step(rpc=rpc, max_blocks=min(MAX_RANGE, max_blocks - scanned))
        if not step:
            break
        scanned += step
    return scanned


@transaction.atomic
def listener_step(*, rpc: HiveRPC, max_blocks: int = 100) -> int:
    """Record the deposits of the next irreversible blocks (at most max_blocks) and advance the
    cursor past them, in one transaction; returns how many blocks were scanned."""
    with connection.cursor() as c:
        c.execute("SELECT pg_try_advisory_xact_lock(%s)", [SCAN_LOCK])
        if not c.fetchone()[0]:
            return 0
    irreversible = int(rpc.get_dynamic_global_properties()["last_irreversible_block_num"])
    cursor = _cursor_for_update(irreversible)
    count = min(max_blocks, irreversible - cursor.height)
    if count <= 0:
        return 0
    blocks = rpc.get_block_range(cursor.height + 1, count)
    for expected, block in enumerate(blocks, start=cursor.height + 1):
        if transfers.block_num_of(block) != expected:
            raise ListenerError(f"asked for block {expected}, got {block.get('block_id')}")
        for transfer in transfers.transfers_to(block, settings.HIVE_FEDERATION_ACCOUNT):
            record_transfer(transfer)
    if blocks:
        last = blocks[-1]
        cursor.height = transfers.block_num_of(last)
        cursor.recent = [[cursor.height, last["block_id"]]]
        cursor.save(update_fields=["height", "recent", "updated_at"])
    return len(blocks)


def _cursor_for_update(irreversible: int) -> ChainCursor:
    start = settings.HIVE_START_BLOCK
    height = irreversible if start < 0 else start - 1
    ChainCursor.objects.get_or_create(chain=CHAIN, defaults={"height": height})
    return ChainCursor.objects.select_for_update().get(chain=CHAIN)


def record_transfer(transfer: Transfer) -> HiveDeposit | None:
    """Record one transfer to the federation, routed or held; None if it was recorded before."""
    user, route, hold = route_transfer(transfer)
    status = HiveDeposit.Status.HELD if hold else HiveDeposit.Status.RECEIVED
    deposit, created = HiveDeposit.objects.get_or_create(
        trx_id=transfer.trx_id,
        op_index=transfer.op_index,
        defaults={
            "block_num": transfer.block_num,
            "block_time": _block_time(transfer.timestamp),
            "sender": transfer.sender,
            "asset": transfer.asset,
            "amount": transfer.amount,
            "memo": transfer.memo,
            "user": user,
            "route": route,
            "hold": hold,
            "status": status,
            "detected_at": timezone.now(),
        },
    )
    if not created:
        return None
    note = f"held: {HiveDeposit.Hold(hold).label}" if hold else f"routed by {route}"
    HiveDepositEvent.objects.create(deposit=deposit, new_status=status, note=note)
    return deposit


def _block_time(text: str) -> dt.datetime:
    moment = parse_datetime(text)
    if moment is None:
        raise ListenerError(f"block time {text!r} is not a time")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def route_transfer(transfer: Transfer) -> tuple[User | None, str, str]:
    """(user, route, hold reason): who the deposit is for, or why it is held."""
    if transfer.asset not in transfers.NAI_SYMBOLS.values():
        return None, "", HiveDeposit.Hold.OTHER_ASSET
    if transfers.is_encrypted(transfer.memo):
        return None, "", HiveDeposit.Hold.ENCRYPTED_MEMO
    claim = hive_ownership.hive_claim_verify_transfer(sender=transfer.sender, memo=transfer.memo)
    if claim is not None:
        return claim.user, HiveDeposit.Route.SENDER, ""
    username = transfers.memo_username(transfer.memo)
    if username is not None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            return None, "", HiveDeposit.Hold.UNKNOWN_ACCOUNT
        return user, HiveDeposit.Route.MEMO, ""
    owner = AddressClaim.objects.filter(
        kind=AddressClaim.Kind.HIVE_ACCOUNT, value=transfer.sender
    ).first()
    if owner is None:
        return None, "", HiveDeposit.Hold.UNKNOWN_SENDER
    return owner.user, HiveDeposit.Route.SENDER, ""
