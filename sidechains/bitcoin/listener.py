"""The Bitcoin deposit listener, reorg handling and rescans (docs/listener.md).

The listener reads blocks in height order from a persisted cursor (ChainCursor: the last block
scanned and the hashes of the last K = BITCOIN_REORG_DEPTH blocks). Each block is one
transaction: take the scanner lock, match every output against every registered deposit script
(current and expired mappings) in one indexed query, record Deposit(detected) rows and advance
the cursor. A block whose parent is not the cursor's tip is a reorg: the cursor walks back to the
fork point, uncredited deposits above it become orphaned, a credited one is reorged (its coin
leaves coin selection; sidechains/bitcoin/clawbacks.py claws it back unless it is mined again).

Two PostgreSQL advisory locks (transaction-scoped, so a crash never leaves one behind):
SCAN_LOCK makes one listener scan at a time (the others return at once); RECORD_LOCK orders the
listener's and rescans' writes to deposits block by block, so the two never race on one outpoint.
"""

from __future__ import annotations

import enum
import logging
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from chains.bitcoin.blocks import (
    Block,
    BlockParseError,
    Output,
    Spend,
    outpoint_key,
    parse_block,
)
from chains.bitcoin.rpc import (
    HEIGHT_OUT_OF_RANGE,
    BitcoinRPC,
    BitcoinRPCError,
    BitcoinRPCUnavailable,
)
from mappings.models import SidechainAddress
from sidechains.bitcoin import clawbacks, refunds
from sidechains.bitcoin.deposits import confirmations_required
from sidechains.models import (
    Alert,
    ChainCursor,
    Coin,
    Deposit,
    DepositEvent,
    RescanJob,
    SidechainTransaction,
)
from sidechains.transitions import deposit_transition
from sons.models import Sidechain

log = logging.getLogger(__name__)

CHAIN = Sidechain.BITCOIN
# pg_advisory_xact_lock keys (bigint), one per purpose: "SONBTC" + 1 / 2.
SCAN_LOCK = 0x534F4E425443_01
RECORD_LOCK = 0x534F4E425443_02
# getblockhash beyond the tip: Bitcoin Core and bcoin both answer -8.
# What every deposit script looks like: OP_0 <32-byte script hash>.
P2WSH_PREFIX = b"\x00\x20"
P2WSH_SIZE = 34
# A reorg's orphaning applies to these; credited ones raise an alert, the rest are settled.
ORPHANABLE = Deposit.UNCREDITED_STATUSES
# Recorded but never credited: the user may still reclaim these with their own key after T.
RECLAIMABLE = ORPHANABLE
# A credited deposit's coin the federation still holds (or held before a reorg): a spend by
# anything but the portal's own transaction (the user's key after T) is clawed back.
HELD_COIN = (*Coin.HELD_STATUSES, Coin.Status.MISSING)


class Step(enum.Enum):
    SCANNED = "scanned"  # one block recorded, the cursor advanced
    REORG = "reorg"  # the cursor rolled back to a fork point
    IDLE = "idle"  # caught up with the node
    BUSY = "busy"  # another scanner holds the lock
    STUCK = "stuck"  # a reorg deeper than the kept hashes: an operator decides


class ListenerError(Exception):
    """A request to the listener that cannot be done as asked; the message says why."""


class RescanError(ListenerError):
    """A rescan request that cannot be run as asked."""


# The listener


def listener_scan(*, rpc: BitcoinRPC, max_blocks: int = 100) -> int:
    """Scan up to max_blocks blocks, one transaction each; returns how many were scanned.

    0 means caught up, another scanner holds the lock, or the listener is stuck on a deep reorg.
    A reorg step (rolling back) counts against max_blocks but not in the result.
    """
    scanned = 0
    for _ in range(max_blocks):
        step = listener_step(rpc=rpc)
        if step is Step.SCANNED:
            scanned += 1
        elif step is not Step.REORG:
            break
    return scanned


@transaction.atomic
def listener_step(*, rpc: BitcoinRPC) -> Step:
    """One unit of the listener's work in one transaction: scan the next block, or roll back."""
    if not _try_lock(SCAN_LOCK):
        return Step.BUSY
    cursor = _cursor_for_update(rpc)
    if cursor is None:
        return Step.IDLE
    block = fetch_block(rpc, cursor.height + 1)
    if block is None:
        return _check_tip(cursor, rpc)
    if cursor.recent and block.prev_hash != cursor.tip_hash:
        return _reorg(cursor, rpc)
    _record_block(block, cursor.height + 1)
    _advance(cursor, cursor.height + 1, block.hash)
    return Step.SCANNED


def fetch_block(rpc: BitcoinRPC, height: int) -> Block | None:
    """The best chain's block at height, with only the outputs that could be deposits and the
    inputs spending an uncredited deposit; None above the node's tip."""
    block_hash = rpc.best_block_hash(height)
    if block_hash is None:
        return None
    watch = _reclaimable_outpoints() or None
    return parse_block(rpc.get_block_raw(block_hash), keep=could_be_deposit, watch=watch)


def _reclaimable_outpoints() -> set[bytes]:
    rows = Deposit.objects.for_chain(CHAIN).filter(status__in=RECLAIMABLE)
    coins = Coin.objects.filter(chain=CHAIN, kind=Coin.Kind.DEPOSIT, status__in=HELD_COIN)
    return {
        outpoint_key(txid, vout)
        for query in (rows, coins)
        for txid, vout in query.values_list("txid", "vout")
    }


def block_on_best_chain(rpc: BitcoinRPC, height: int, block_hash: str) -> bool:
    return rpc.best_block_hash(height) == block_hash


def listener_rewind(*, rpc: BitcoinRPC, height: int) -> ChainCursor:
    """Put the cursor back to `height` on the node's best chain, as a reorg to there would.

    The operator's way out of a deep reorg (docs/listener.md): deposits above `height` are
    orphaned (credited ones raise alerts), open deep-reorg alerts are resolved, and the listener
    scans forward again from there.
    """
    with transaction.atomic():
        _lock(SCAN_LOCK)  # waits for a running scan
        cursor = ChainCursor.objects.select_for_update().filter(chain=CHAIN).first()
        if cursor is None or not 0 <= height <= cursor.height:
            top = "no cursor yet" if cursor is None else f"the cursor is at {cursor.height}"
            raise ListenerError(f"Cannot rewind to height {height}: {top}.")
        _roll_back(cursor, height, reason=f"rewound by an operator to height {height}")
        cursor.recent = _recent_hashes(rpc, height)
        cursor.save(update_fields=["recent", "updated_at"])
        Alert.objects.filter(kind=Alert.Kind.DEEP_REORG, resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
    return cursor


def _try_lock(key: int) -> bool:
    with connection.cursor() as c:
        c.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        locked: bool = c.fetchone()[0]
        return locked


def _lock(key: int) -> None:
    with connection.cursor() as c:
        c.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _cursor_for_update(rpc: BitcoinRPC) -> ChainCursor | None:
    cursor = ChainCursor.objects.select_for_update().filter(chain=CHAIN).first()
    return cursor or _cursor_create(rpc)


def _cursor_create(rpc: BitcoinRPC) -> ChainCursor | None:
    """A new install's cursor: just below BITCOIN_START_HEIGHT, or below the tip if it is -1.

    None while the node has not reached the start height yet.
    """
    tip = rpc.get_block_count()
    start = settings.BITCOIN_START_HEIGHT
    height = tip - 1 if start < 0 else start - 1
    if height > tip:
        return None
    recent = _recent_hashes(rpc, height)
    log.info("Bitcoin listener starts after block %s", height)
    return ChainCursor.objects.create(chain=CHAIN, height=height, recent=recent)


def _recent_hashes(rpc: BitcoinRPC, height: int) -> list[list[int | str]]:
    """[[h, hash], ...] of the K best-chain blocks up to height, oldest first."""
    first = max(0, height - settings.BITCOIN_REORG_DEPTH + 1)
    return [[h, rpc.get_block_hash(h)] for h in range(first, height + 1)]


def _advance(cursor: ChainCursor, height: int, block_hash: str) -> None:
    cursor.height = height
    cursor.recent = [*cursor.recent, [height, block_hash]][-settings.BITCOIN_REORG_DEPTH :]
    cursor.save(update_fields=["height", "recent", "updated_at"])


def _check_tip(cursor: ChainCursor, rpc: BitcoinRPC) -> Step:
    """Caught up: still a reorg if the cursor's own block left the best chain."""
    if cursor.recent and rpc.best_block_hash(cursor.height) != cursor.tip_hash:
        return _reorg(cursor, rpc)
    return Step.IDLE


# Reorgs


def _reorg(cursor: ChainCursor, rpc: BitcoinRPC) -> Step:
    fork = _fork_point(cursor, rpc)
    if fork is None:
        _alert_deep_reorg(cursor)
        return Step.STUCK
    log.warning("Bitcoin reorg: rolling the cursor back from %s to %s", cursor.height, fork)
    _roll_back(cursor, fork, reason=f"reorg, fork at height {fork}")
    return Step.REORG


def _fork_point(cursor: ChainCursor, rpc: BitcoinRPC) -> int | None:
    """The highest kept block still on the best chain; None if none of them is."""
    height: int  # cursor.recent is JSON: [[height, hash], ...]
    block_hash: str
    for height, block_hash in reversed(cursor.recent):
        if rpc.best_block_hash(height) == block_hash:
            return height
    return None


def _roll_back(cursor: ChainCursor, fork: int, *, reason: str) -> None:
    _lock(RECORD_LOCK)
    cursor.height = fork
    cursor.recent = [entry for entry in cursor.recent if entry[0] <= fork]
    cursor.save(update_fields=["height", "recent", "updated_at"])
    above = Deposit.objects.for_chain(CHAIN).filter(block_height__gt=fork)
    for deposit in above.select_for_update().order_by("pk"):
        if deposit.status in ORPHANABLE:
            _orphan(deposit, reason)
        elif deposit.status == Deposit.Status.CREDITED:
            clawbacks.deposit_reorged(deposit, fork=fork, reason=reason)


def _orphan(deposit: Deposit, reason: str) -> None:
    note = f"block {deposit.block_height} {deposit.block_hash} orphaned: {reason}"
    deposit_transition(deposit.pk, deposit.status, Deposit.Status.ORPHANED, note)


def _alert_deep_reorg(cursor: ChainCursor) -> None:
    if Alert.objects.filter(kind=Alert.Kind.DEEP_REORG, resolved_at__isnull=True).exists():
        return
    oldest = cursor.recent[0][0] if cursor.recent else cursor.height
    message = (
        f"None of the {len(cursor.recent)} block hashes the Bitcoin listener keeps (heights "
        f"{oldest} to {cursor.height}) is on the node's best chain any more. The listener has "
        "stopped; find the fork point and run `manage.py bitcoin_listener_rewind <height>`."
    )
    Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message=message)
    log.error("%s", message)


# Recording (the listener and rescans)


def _record_block(block: Block, height: int) -> int:
    """Record the block's deposits and reclaims; returns how many were new or re-detected."""
    if block.spends:
        _lock(RECORD_LOCK)
        _record_spends(block, height)
    hits = _match(block.outputs)
    if not hits:
        return 0
    _lock(RECORD_LOCK)
    existing = _existing_deposits(hits)
    fresh = [hit for hit in hits if (hit[0].txid, hit[0].vout) not in existing]
    _create_deposits(fresh, block, height)
    redetected = sum(
        _redetect(deposit, block, height)
        for deposit in existing.values()
        if deposit.status == Deposit.Status.ORPHANED
    )
    for deposit in existing.values():
        if deposit.status == Deposit.Status.REORGED:
            redetected += clawbacks.deposit_remined(deposit, block_hash=block.hash, height=height)
    return len(fresh) + redetected


def could_be_deposit(script: bytes) -> bool:
    """Every deposit script is P2WSH (chains.bitcoin.federation.p2wsh_script_pubkey): a 34-byte
    version-0 witness program. Other outputs cannot match, so they are not even looked up."""
    return len(script) == P2WSH_SIZE and script[:2] == P2WSH_PREFIX


def deposit_outputs(outputs: list[Output]) -> list[tuple[Output, int, int]]:
    """(output, mapping id, user id) of the outputs paying a deposit script (the mempool
    watcher uses the listener's own matching)."""
    return _match(outputs)


def _match(outputs: list[Output]) -> list[tuple[Output, int, int]]:
    """(output, mapping id, user id) for each output paying a registered deposit script.

    One indexed query for the whole block, over current and expired mappings; a script that
    several of a user's mappings share goes to the newest.
    """
    candidates = [o for o in outputs if o.value > 0 and could_be_deposit(o.script_pubkey)]
    if not candidates:
        return []
    scripts = {output.script_pubkey for output in candidates}
    rows = (
        SidechainAddress.objects.filter(deposit_script_pubkey__in=scripts)
        .order_by("valid_from", "pk")
        .values_list("deposit_script_pubkey", "pk", "user_id")
    )
    owners = {
        bytes(script): (pk, user_id)
        for script, pk, user_id in rows
        if script is not None  # the query excludes NULL already; this tells the type checker
    }
    return [(o, *owners[o.script_pubkey]) for o in candidates if o.script_pubkey in owners]


def _existing_deposits(hits: list[tuple[Output, int, int]]) -> dict[tuple[str, int], Deposit]:
    txids = {output.txid for output, _, _ in hits}
    rows = Deposit.objects.for_chain(CHAIN).filter(txid__in=txids).select_for_update()
    return {(d.txid, d.vout): d for d in rows.order_by("pk")}


def _create_deposits(hits: list[tuple[Output, int, int]], block: Block, height: int) -> None:
    now = timezone.now()
    deposits = Deposit.objects.bulk_create(
        [
            Deposit(
                chain=CHAIN,
                txid=output.txid,
                vout=output.vout,
                amount=output.value,
                mapping_id=mapping_id,
                user_id=user_id,
                block_hash=block.hash,
                block_height=height,
                raw_tx=block.tx_bytes(output.txid),  # the signers verify its coin against it
                confirmations_required=confirmations_required(output.value),
                detected_at=now,
            )
            for output, mapping_id, user_id in hits
        ]
    )
    note = f"in block {height} {block.hash}"
    DepositEvent.objects.bulk_create(
        DepositEvent(deposit=d, new_status=Deposit.Status.DETECTED, note=note) for d in deposits
    )


def _redetect(deposit: Deposit, block: Block, height: int) -> bool:
    """An orphaned deposit whose transaction was mined again: detected, in its new block."""
    return deposit_transition(
        deposit.pk,
        Deposit.Status.ORPHANED,
        Deposit.Status.DETECTED,
        f"mined again in block {height} {block.hash}",
        block_hash=block.hash,
        block_height=height,
        confirmed_at=None,
    )


def _record_spends(block: Block, height: int) -> None:
    """An uncredited deposit spent by anything but the portal's refund was reclaimed by its
    user with their own key (after the deposit script's timelock)."""
    for spend in block.spends:
        deposit = (
            Deposit.objects.for_chain(CHAIN)
            .filter(txid=spend.prev_txid, vout=spend.prev_vout, status__in=RECLAIMABLE)
            .select_for_update()
            .first()
        )
        if deposit is not None and not refunds.is_portal_spend(deposit, spend.txid):
            _reclaim(deposit, spend, height, block.hash)
        elif deposit is None:
            _record_coin_spend(spend, height, block.hash)


def _record_coin_spend(spend: Spend, height: int, block_hash: str) -> None:
    """A credited deposit's coin spent by a transaction that is not the portal's: lost."""
    coin = (
        Coin.objects.filter(
            chain=CHAIN,
            txid=spend.prev_txid,
            vout=spend.prev_vout,
            kind=Coin.Kind.DEPOSIT,
            status__in=HELD_COIN,
        )
        .select_for_update(of=("self",))
        .select_related("deposit")
        .first()
    )
    if coin is None or SidechainTransaction.objects.filter(chain=CHAIN, txid=spend.txid).exists():
        return
    clawbacks.coin_lost(coin, spend.txid, height, block_hash)


def _reclaim(deposit: Deposit, spend: Spend, height: int, block_hash: str) -> None:
    note = f"spent by the user's {spend.txid} in block {height} {block_hash}"
    if deposit_transition(deposit.pk, deposit.status, Deposit.Status.RECLAIMED, note):
        log.info("Deposit %s:%s reclaimed by its user", deposit.txid, deposit.vout)


# Rescans


def rescan_start(
    *, chain: str = CHAIN, from_height: int, to_height: int | None = None, user: User | None = None
) -> RescanJob:
    """Record a request to scan blocks from_height..to_height again (default: to the cursor).

    Only blocks the listener has passed can be rescanned; the caller hands the job to the
    sidechains.tasks.bitcoin_rescan task once the transaction commits.
    """
    if chain != CHAIN:
        raise RescanError(f"Only the Bitcoin listener can rescan, not {chain}.")
    cursor = ChainCursor.objects.filter(chain=chain).first()
    if cursor is None:
        raise RescanError("The listener has not scanned any block yet; there is nothing to rescan.")
    to_height = cursor.height if to_height is None else to_height
    _check_range(from_height, to_height, cursor.height)
    return RescanJob.objects.create(
        chain=chain,
        from_height=from_height,
        to_height=to_height,
        next_height=from_height,
        created_by=user,
    )


def _check_range(from_height: int, to_height: int, cursor_height: int) -> None:
    if from_height < 0:
        raise RescanError(f"The from height must be 0 or more, not {from_height}.")
    if to_height > cursor_height:
        raise RescanError(
            f"The listener has scanned up to height {cursor_height}; a rescan can go up to "
            f"there, not to {to_height} (the listener scans the blocks above itself)."
        )
    if from_height > to_height:
        raise RescanError(f"The from height {from_height} is above the to height {to_height}.")


def rescan_run(*, job_id: int, rpc: BitcoinRPC, budget_seconds: float = 60.0) -> bool:
    """Scan the job's blocks one transaction each until done or out of time; True when finished.

    The cursor does not move; deposits are recorded exactly as the listener records them.
    Progress (next_height, deposits_found) commits with each block, so a retried or re-queued
    job continues where it stopped. A node that does not answer raises (the task retries);
    any other error marks the job failed with the reason.
    """
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        if not rescan_step(job_id=job_id, rpc=rpc):
            return True
    return False


@transaction.atomic
def rescan_step(*, job_id: int, rpc: BitcoinRPC) -> bool:
    """Rescan the job's next block; False once the job is finished (or gone)."""
    job = RescanJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.status in (RescanJob.Status.DONE, RescanJob.Status.FAILED):
        return False
    if job.next_height > _cursor_height(job.chain):
        # A reorg rolled the cursor back into the range: the listener scans the rest itself,
        # and only it notices if those blocks are reorged out again.
        note = f"stopped before height {job.next_height}, above the listener's cursor (reorg)"
        _rescan_finish(job, RescanJob.Status.DONE, note)
        return False
    try:
        block = _block_at(rpc, job.next_height)
    except BitcoinRPCUnavailable:
        raise
    except (BitcoinRPCError, BlockParseError) as e:
        _rescan_finish(job, RescanJob.Status.FAILED, f"height {job.next_height}: {e}")
        return False
    job.deposits_found += _record_block(block, job.next_height)
    job.next_height += 1
    job.status = RescanJob.Status.RUNNING
    job.save(update_fields=["deposits_found", "next_height", "status"])
    if job.next_height > job.to_height:
        _rescan_finish(job, RescanJob.Status.DONE)
        return False
    return True


def _cursor_height(chain: str) -> int:
    height = ChainCursor.objects.filter(chain=chain).values_list("height", flat=True).first()
    return -1 if height is None else height


def _block_at(rpc: BitcoinRPC, height: int) -> Block:
    block = fetch_block(rpc, height)
    if block is None:
        raise BitcoinRPCError("getblockhash", f"no block at height {height}", HEIGHT_OUT_OF_RANGE)
    return block


def _rescan_finish(job: RescanJob, status: str, error: str = "") -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    log.info("Rescan %s %s: %s deposit(s) found %s", job.pk, status, job.deposits_found, error)
