import time

from celery import shared_task
from django.conf import settings

from chains.bitcoin.rpc import BitcoinRPCUnavailable
from sidechains.bitcoin import deposits, listener, mempool, refunds, reserves, rotation, sweeps
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.bitcoin.withdrawals import builder, tracker
from sidechains.hive import deposits as hive_deposits
from sidechains.hive import listener as hive_listener
from sidechains.hive import rotation as hive_rotation
from sidechains.hive.node import hive_rpc
from sidechains.hive.reserves import hive_reserves_read
from sidechains.hive.withdrawals import tracker as hive_tracker
from sidechains.hive.withdrawals import transactions as hive_batch


@shared_task(name="sidechains.tasks.bitcoin_process_deposits")
def bitcoin_process_deposits() -> int:
    """Confirm and credit deposits (or set them aside for a refund: proposals' tick raises
    the refund proposals)."""
    rpc = bitcoin_rpc()
    try:
        return deposits.deposits_process(rpc=rpc)
    finally:
        rpc.close()


@shared_task(name="sidechains.tasks.bitcoin_withdrawals")
def bitcoin_withdrawals() -> int:
    """Batch requested withdrawals, then send finished transactions and settle deep ones."""
    rpc = bitcoin_rpc()
    try:
        batched = builder.withdrawals_batch(rpc=rpc) is not None
        return batched + tracker.withdrawals_track(rpc=rpc) + refunds.refunds_track()
    finally:
        rpc.close()


@shared_task(name="sidechains.tasks.bitcoin_mempool")
def bitcoin_mempool() -> int:
    """Note deposits seen in the node's mempool, for their depositors' pages."""
    rpc = bitcoin_rpc()
    try:
        return mempool.mempool_scan(rpc=rpc)
    except BitcoinRPCUnavailable:
        return 0
    finally:
        rpc.close()


@shared_task(name="sidechains.tasks.bitcoin_listen")
def bitcoin_listen() -> int:
    """Scan new blocks until caught up or one beat interval is spent; returns blocks scanned."""
    rpc = bitcoin_rpc()
    deadline = time.monotonic() + settings.BITCOIN_LISTENER_INTERVAL
    scanned = 0
    try:
        while time.monotonic() < deadline and (n := listener.listener_scan(rpc=rpc, max_blocks=10)):
            scanned += n
    finally:
        rpc.close()
    return scanned


@shared_task(
    name="sidechains.tasks.bitcoin_rescan",
    autoretry_for=(BitcoinRPCUnavailable,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=None,
)
def bitcoin_rescan(job_id: int) -> bool:
    """Run a rescan job for a minute, then queue the rest so other work gets a turn."""
    rpc = bitcoin_rpc()
    try:
        finished = listener.rescan_run(job_id=job_id, rpc=rpc, budget_seconds=60)
    finally:
        rpc.close()
    if not finished:
        bitcoin_rescan.delay(job_id)
    return finished


@shared_task(name="sidechains.tasks.bitcoin_sweeps")
def bitcoin_sweeps() -> int:
    """Sweep credited deposit coins into the federation's wallet before their deadlines; take
    the next step of a federation rotation (docs/rotation.md)."""
    rpc = bitcoin_rpc()
    try:
        return sweeps.sweeps_process(rpc=rpc) + rotation.rotation_process(rpc=rpc)
    finally:
        rpc.close()


@shared_task(name="sidechains.tasks.bitcoin_reserves")
def bitcoin_reserves() -> int:
    """Compare the coins the node confirms with what the federation owes; trip the breaker on
    a shortfall. Returns the margin in satoshi."""
    rpc = bitcoin_rpc()
    try:
        return reserves.reserves_check(rpc=rpc).margin
    finally:
        rpc.close()


@shared_task(name="sidechains.tasks.hive_listen")
def hive_listen() -> int:
    """Read new irreversible Hive blocks for one interval, then credit what they held."""
    if not settings.HIVE_NODE_URL:
        return 0
    rpc = hive_rpc()
    deadline = time.monotonic() + settings.HIVE_LISTENER_INTERVAL
    scanned = 0
    try:
        while time.monotonic() < deadline and (n := hive_listener.listener_scan(rpc=rpc)):
            scanned += n
    finally:
        rpc.close()
    return scanned + hive_deposits.hive_deposits_process()


@shared_task(name="sidechains.tasks.hive_withdrawals")
def hive_withdrawals() -> int:
    """Rotate the federation account's authority to an accepted version, else batch requested
    Hive withdrawals; then send, confirm or rebuild live transactions."""
    if not settings.HIVE_NODE_URL:
        return 0
    rpc = hive_rpc()
    try:
        batched = hive_rotation.hive_rotation_build(rpc=rpc) is not None
        batched = batched or hive_batch.hive_withdrawals_batch(rpc=rpc) is not None
        return batched + hive_tracker.hive_withdrawals_track(rpc=rpc)
    finally:
        rpc.close()


@shared_task(name="sidechains.tasks.hive_reserves")
def hive_reserves() -> int:
    """Read the federation account's balances for /reserves; returns its HIVE balance."""
    if not settings.HIVE_NODE_URL:
        return 0
    rpc = hive_rpc()
    try:
        return hive_reserves_read(rpc=rpc)["HIVE"]
    finally:
        rpc.close()
