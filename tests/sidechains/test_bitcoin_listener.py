"""The Bitcoin deposit listener, reorgs and rescans on a real bcoin node and PostgreSQL.

The module runs its own fresh bcoin node (it invalidates blocks, which empties the mempool),
mined past segwit, and a wallet of mature coinbase outputs that pays deposits. Each test starts
the listener just above the node's tip, so earlier tests' blocks are not its business.
"""

import io
import threading
import time
from decimal import Decimal

import pytest
from bitcoin.core import CTransaction, b2lx
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from chains.bitcoin.rpc import BitcoinRPC
from mappings.models import SidechainAddress
from mappings.services import mapping_set_bitcoin
from sidechains import tasks
from sidechains.bitcoin.listener import (
    SCAN_LOCK,
    ListenerError,
    RescanError,
    Step,
    block_on_best_chain,
    could_be_deposit,
    listener_rewind,
    listener_scan,
    listener_step,
    rescan_run,
    rescan_start,
    rescan_step,
)
from sidechains.models import Alert, ChainCursor, Deposit, DepositEvent, RescanJob
from tests import fixtures
from tests.bitcoin_node import start_bcoin
from tests.mappings.helpers import pubkey_hex, regtest_p2wpkh
from tests.sidechains.regtest_wallet import RegtestWallet

pytestmark = pytest.mark.django_db

DETECTED = Deposit.Status.DETECTED
ORPHANED = Deposit.Status.ORPHANED
CREDITED = Deposit.Status.CREDITED
REORGED = Deposit.Status.REORGED
# New branches after invalidateblock are mined here, so they never repeat an old block.
OTHER_MINER = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


@pytest.fixture(scope="module")
def bitcoin_node():
    """This module's own node (overrides the session's, so the `bitcoin` fixture uses it)."""
    with start_bcoin() as node:
        yield node


@pytest.fixture(scope="module")
def wallet(bitcoin_node):
    rpc = bitcoin_node.rpc()
    yield RegtestWallet.funded(rpc)
    rpc.close()


@pytest.fixture
def rpc(bitcoin, settings):
    """The node's client, with the listener set to start at the next block."""
    settings.BITCOIN_START_HEIGHT = bitcoin.get_block_count() + 1
    settings.BITCOIN_CONFIRMATIONS = [(10_000_000, 2), (100_000_000, 3), (None, 6)]
    yield bitcoin
    bitcoin.close()


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in range(1, 4)]


def register(user) -> SidechainAddress:
    mapping, _ = mapping_set_bitcoin(
        user=user, deposit_public_key=pubkey_hex(), withdraw_address=regtest_p2wpkh()
    )
    return mapping


@pytest.fixture
def carol(user_carol, federation) -> SidechainAddress:
    return register(user_carol)


def script(mapping: SidechainAddress) -> bytes:
    return bytes(mapping.deposit_script_pubkey)


def txid(tx: CTransaction) -> str:
    return b2lx(tx.GetTxid())


def scan(rpc) -> int:
    return listener_scan(rpc=rpc, max_blocks=1000)


def events(deposit: Deposit) -> list[tuple[str, str]]:
    return [(e.old_status, e.new_status) for e in DepositEvent.objects.filter(deposit=deposit)]


def cursor() -> ChainCursor:
    return ChainCursor.objects.get(chain="bitcoin")


def assert_cursor_follows_the_node(rpc) -> None:
    current = cursor()
    assert current.height == rpc.get_block_count()
    for height, block_hash in current.recent:
        assert rpc.get_block_hash(height) == block_hash
    heights = [height for height, _ in current.recent]
    assert heights == list(range(heights[0], current.height + 1))


def test_it_records_a_deposit_in_the_block_that_pays_it(rpc, wallet, carol):
    tx = wallet.send([(script(carol), 5_000_000)])
    [block_hash] = wallet.mine()

    assert scan(rpc) == 1

    deposit = Deposit.objects.get()  # the change output is nobody's deposit
    assert (deposit.txid, deposit.vout, deposit.amount) == (txid(tx), 0, 5_000_000)
    # Its transaction as the signers check it: without the witness, hashing to the txid.
    stripped = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    assert tx.has_witness() and bytes(deposit.raw_tx) == stripped != tx.serialize()
    assert (deposit.user, deposit.mapping) == (carol.user, carol)
    assert (deposit.block_hash, deposit.block_height) == (block_hash, rpc.get_block_count())
    assert deposit.status == DETECTED
    assert deposit.confirmations_required == 2
    assert deposit.detected_at is not None
    assert events(deposit) == [("", DETECTED)]
    assert_cursor_follows_the_node(rpc)
    assert scan(rpc) == 0  # caught up


def test_it_looks_up_only_outputs_shaped_like_deposit_scripts(carol):
    assert could_be_deposit(script(carol))
    assert could_be_deposit(b"\x00\x20" + bytes(32))
    for other in [
        b"\x00\x14" + bytes(20),  # P2WPKH
        b"\x51\x20" + bytes(32),  # P2TR
        b"\xa9\x14" + bytes(20) + b"\x87",  # P2SH
        b"\x00\x20" + bytes(31),
        b"\x6a\x20" + bytes(32),  # OP_RETURN
    ]:
        assert not could_be_deposit(other)


def test_it_records_two_deposits_in_one_transaction(rpc, wallet, carol):
    dave = register(fixtures.make_user("user_dave"))
    tx = wallet.send([(script(carol), 200_000_000), (script(dave), 50_000_000)])
    wallet.mine()

    scan(rpc)

    deposits = {d.vout: d for d in Deposit.objects.filter(txid=txid(tx))}
    assert set(deposits) == {0, 1}
    stripped = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    assert bytes(deposits[0].raw_tx) == bytes(deposits[1].raw_tx) == stripped
    assert (deposits[0].user, deposits[0].amount) == (carol.user, 200_000_000)
    assert (deposits[1].user, deposits[1].amount) == (dave.user, 50_000_000)
    assert [deposits[0].confirmations_required, deposits[1].confirmations_required] == [6, 3]
    assert DepositEvent.objects.count() == 2


def test_it_records_a_legacy_transaction_paying_a_deposit(rpc, wallet, carol):
    tx = wallet.send([(script(carol), 1_000_000)], legacy=True)
    wallet.mine()

    scan(rpc)

    deposit = Deposit.objects.get()
    assert deposit.txid == txid(tx)
    assert bytes(deposit.raw_tx) == tx.serialize()  # a legacy transaction has no witness


def test_it_attributes_a_deposit_to_an_expired_mapping(rpc, wallet, carol):
    current = register(carol.user)
    carol.refresh_from_db()
    assert carol.expires is not None and current.expires is None
    old_tx = wallet.send([(script(carol), 3_000_000)])
    new_tx = wallet.send([(script(current), 4_000_000)])
    wallet.mine()

    scan(rpc)

    old, new = Deposit.objects.get(txid=txid(old_tx)), Deposit.objects.get(txid=txid(new_tx))
    assert (old.mapping, old.user, old.amount) == (carol, carol.user, 3_000_000)
    assert (new.mapping, new.user, new.amount) == (current, carol.user, 4_000_000)


def reorg(rpc, wallet, block_hash: str, new_blocks: int) -> list[str]:
    """Invalidate block_hash (and its descendants), then mine a new branch without them."""
    rpc.call("invalidateblock", block_hash)
    return wallet.mine(new_blocks, address=OTHER_MINER)


@pytest.mark.parametrize(
    ("depth", "new_blocks"),
    [(1, 2), (3, 3), (3, 1)],
    ids=["depth-1", "depth-3-same-height", "depth-3-shorter-branch"],
)
def test_it_orphans_a_reorged_deposit_and_redetects_it_when_mined_again(
    rpc, wallet, carol, depth, new_blocks
):
    tx = wallet.send([(script(carol), 5_000_000)])
    [first, *_] = wallet.mine(depth)
    scan(rpc)
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.block_hash) == (DETECTED, first)

    reorg(rpc, wallet, first, new_blocks)
    assert not block_on_best_chain(rpc, deposit.block_height, first)
    scan(rpc)

    deposit.refresh_from_db()
    assert deposit.status == ORPHANED
    assert "orphaned" in deposit.note
    assert_cursor_follows_the_node(rpc)
    assert rpc.send_raw_transaction(tx.serialize()) == txid(tx)
    [again] = wallet.mine()
    assert scan(rpc) == 1

    deposit.refresh_from_db()
    assert (deposit.status, deposit.block_hash) == (DETECTED, again)
    assert deposit.block_height == rpc.get_block_count()
    assert events(deposit) == [("", DETECTED), (DETECTED, ORPHANED), (ORPHANED, DETECTED)]
    assert Deposit.objects.count() == 1
    assert_cursor_follows_the_node(rpc)


def test_it_orphans_a_confirmed_deposit_but_leaves_other_blocks_alone(rpc, wallet, carol):
    kept_tx = wallet.send([(script(carol), 1_000_000)])
    [kept_block] = wallet.mine()
    wallet.send([(script(carol), 2_000_000)])
    [lost_block] = wallet.mine()
    scan(rpc)
    Deposit.objects.filter(block_hash=lost_block).update(status=Deposit.Status.CONFIRMED)

    reorg(rpc, wallet, lost_block, 2)
    scan(rpc)

    assert Deposit.objects.get(txid=txid(kept_tx)).status == DETECTED
    lost = Deposit.objects.get(block_hash=lost_block)
    assert events(lost)[-1] == (Deposit.Status.CONFIRMED, ORPHANED)
    assert block_on_best_chain(rpc, rpc.get_block_count() - 2, kept_block)


def test_it_suspends_a_reorged_credited_deposit_and_restores_it_when_mined_again(
    rpc, wallet, carol
):
    tx = wallet.send([(script(carol), 5_000_000)])
    [block_hash] = wallet.mine()
    scan(rpc)
    credited = {"status": CREDITED, "credited_amount": 5_000_000, "rate": Decimal("1")}
    Deposit.objects.update(credited_at=timezone.now(), **credited)

    [new_block, _] = reorg(rpc, wallet, block_hash, 2)
    scan(rpc)

    deposit = Deposit.objects.get()
    assert deposit.status == REORGED
    assert "left the best chain" in deposit.note
    assert (deposit.on_best_chain(cursor()), deposit.confirmations(cursor())) == (False, 0)
    alert = Alert.objects.get()
    assert (alert.kind, alert.deposit) == (Alert.Kind.CREDITED_DEPOSIT_REORGED, deposit)
    assert txid(tx) in alert.message
    # Mined again: credited again, in its new block; then its new block reorged out again:
    # still one deposit and one open alert.
    rpc.send_raw_transaction(tx.serialize())
    [mined_again] = wallet.mine()
    scan(rpc)
    deposit.refresh_from_db()
    assert (deposit.status, deposit.block_hash) == (CREDITED, mined_again)
    assert deposit.confirmations(cursor()) == 1
    reorg(rpc, wallet, mined_again, 4)
    scan(rpc)
    assert Deposit.objects.count() == Alert.objects.count() == 1
    assert Deposit.objects.get().status == REORGED


def test_it_catches_up_after_50_blocks_of_downtime(rpc, wallet, carol):
    wallet.mine()
    scan(rpc)
    stopped_at = cursor().height
    paid = {}
    for n in range(50):
        if n in (0, 17, 49):
            paid[stopped_at + n + 1] = txid(wallet.send([(script(carol), 1_000_000 + n)]))
        wallet.mine()

    assert scan(rpc) == 50

    assert_cursor_follows_the_node(rpc)
    assert cursor().height == stopped_at + 50
    recorded = {d.block_height: d.txid for d in Deposit.objects.all()}
    assert recorded == paid
    assert DepositEvent.objects.count() == 3


def test_it_stops_on_a_reorg_deeper_than_the_kept_hashes_until_rewound(
    rpc, wallet, carol, settings
):
    settings.BITCOIN_REORG_DEPTH = 6
    fork = rpc.get_block_count()
    wallet.send([(script(carol), 1_000_000)])
    hashes = wallet.mine(8)
    scan(rpc)
    assert len(cursor().recent) == 6

    reorg(rpc, wallet, hashes[0], 9)
    assert scan(rpc) == 0
    assert scan(rpc) == 0

    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.DEEP_REORG and alert.deposit is None
    assert cursor().height == fork + 8  # not guessed
    assert Deposit.objects.get().status == DETECTED
    with pytest.raises(ListenerError):
        listener_rewind(rpc=rpc, height=fork + 9)

    listener_rewind(rpc=rpc, height=fork)

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert Deposit.objects.get().status == ORPHANED
    assert scan(rpc) == 9
    assert_cursor_follows_the_node(rpc)


def test_it_rewinds_the_cursor_from_the_command_line(rpc, wallet):
    wallet.mine(3)
    scan(rpc)
    height = cursor().height
    out = io.StringIO()

    call_command("bitcoin_listener_rewind", str(height - 2), stdout=out)

    assert cursor().height == height - 2
    assert f"continues after block {height - 2}" in out.getvalue()
    with pytest.raises(CommandError, match="Cannot rewind"):
        call_command("bitcoin_listener_rewind", str(height + 1))
    assert scan(rpc) == 2


def test_it_starts_at_the_tip_when_the_start_height_is_minus_one(rpc, wallet, carol, settings):
    wallet.send([(script(carol), 1_000_000)])
    [tip_hash] = wallet.mine()
    settings.BITCOIN_START_HEIGHT = -1

    assert scan(rpc) == 1

    assert Deposit.objects.get().block_hash == tip_hash
    assert len(cursor().recent) == settings.BITCOIN_REORG_DEPTH
    assert_cursor_follows_the_node(rpc)


def test_it_waits_for_a_start_height_above_the_tip(rpc, wallet, settings):
    settings.BITCOIN_START_HEIGHT = rpc.get_block_count() + 3

    wallet.mine()
    assert scan(rpc) == 0
    assert not ChainCursor.objects.exists()
    wallet.mine(2)
    assert scan(rpc) == 1
    assert cursor().height == settings.BITCOIN_START_HEIGHT


def test_it_returns_at_once_while_another_scanner_holds_the_lock(rpc, wallet, bitcoin_node):
    wallet.mine()
    held, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with transaction.atomic(), connection.cursor() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", [SCAN_LOCK])
            held.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        assert scan(rpc) == 0
        assert time.monotonic() - started < 1
    finally:
        release.set()
        holder.join()
    assert scan(rpc) == 1


class SlowRPC(BitcoinRPC):
    """Holds each block's transaction (and so the scanner lock) open a little longer."""

    def get_block_raw(self, block_hash: str) -> bytes:
        time.sleep(0.01)
        return super().get_block_raw(block_hash)


@pytest.mark.django_db(transaction=True)
def test_it_never_double_records_with_two_scanners_at_once(rpc, wallet, carol, bitcoin_node):
    for _ in range(20):
        wallet.send([(script(carol), 1_000_000)])
        wallet.send([(script(carol), 2_000_000), (script(carol), 3_000_000)])
        wallet.mine()
    tip = rpc.get_block_count()
    start = threading.Barrier(2)
    steps: list[Step] = []

    def scanner():
        client = SlowRPC(bitcoin_node.url, user="sonportal", password=bitcoin_node.api_key)
        start.wait()  # both create the cursor and scan from the same moment
        try:
            while not ChainCursor.objects.filter(height=tip).exists():
                steps.append(listener_step(rpc=client))
        finally:
            client.close()
            connection.close()

    threads = [threading.Thread(target=scanner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert steps.count(Step.SCANNED) == 20  # every block scanned once, by one of them
    assert Step.BUSY in steps  # they did meet
    assert Deposit.objects.count() == DepositEvent.objects.count() == 60
    assert_cursor_follows_the_node(rpc)


def test_it_records_nothing_new_when_rescanning_scanned_blocks(rpc, wallet, carol):
    first = rpc.get_block_count() + 1
    wallet.send([(script(carol), 1_000_000), (script(carol), 2_000_000)])
    wallet.mine(3)
    scan(rpc)
    before = list(Deposit.objects.values_list("pk", "status", "block_hash"))

    job = rescan_start(chain="bitcoin", from_height=first)
    assert rescan_run(job_id=job.pk, rpc=rpc) is True

    job.refresh_from_db()
    assert (job.status, job.to_height, job.next_height) == ("done", first + 2, first + 3)
    assert (job.deposits_found, job.progress, job.error) == (0, 100, "")
    assert job.finished_at is not None
    assert list(Deposit.objects.values_list("pk", "status", "block_hash")) == before
    assert DepositEvent.objects.count() == 2


def test_it_records_deposits_the_listener_missed_in_a_rescan(rpc, wallet, carol, settings):
    missed = wallet.send([(script(carol), 1_000_000)])
    [missed_block] = wallet.mine()
    wallet.mine(3)
    settings.BITCOIN_START_HEIGHT = rpc.get_block_count()  # a new install, after the deposit
    scan(rpc)
    assert not Deposit.objects.exists()
    height = rpc.get_block_count() - 3
    before = cursor()

    job = rescan_start(chain="bitcoin", from_height=height - 1, to_height=height + 1)
    assert rescan_step(job_id=job.pk, rpc=rpc) is True
    job.refresh_from_db()
    assert (job.status, job.next_height, job.progress) == ("running", height, 33)
    assert rescan_run(job_id=job.pk, rpc=rpc) is True  # continues from next_height

    job.refresh_from_db()
    assert (job.status, job.deposits_found) == ("done", 1)
    deposit = Deposit.objects.get()
    assert (deposit.txid, deposit.block_hash) == (txid(missed), missed_block)
    assert (cursor().height, cursor().recent) == (before.height, before.recent)


def test_it_redetects_an_orphaned_deposit_in_a_rescan(rpc, wallet, carol):
    tx = wallet.send([(script(carol), 1_000_000)])
    [block_hash] = wallet.mine()
    scan(rpc)
    Deposit.objects.update(status=ORPHANED)
    height = rpc.get_block_count()

    rescan_run(job_id=rescan_start(chain="bitcoin", from_height=height).pk, rpc=rpc)

    deposit = Deposit.objects.get()
    assert (deposit.txid, deposit.status, deposit.block_hash) == (txid(tx), DETECTED, block_hash)
    assert RescanJob.objects.get().deposits_found == 1


def test_it_fails_a_rescan_job_whose_block_is_gone(rpc, wallet):
    hashes = wallet.mine(3)
    scan(rpc)
    height = rpc.get_block_count()
    job = rescan_start(chain="bitcoin", from_height=height - 2)
    rpc.call("invalidateblock", hashes[1])  # the node's tip is now below the range's end

    assert rescan_run(job_id=job.pk, rpc=rpc) is True

    job.refresh_from_db()
    assert (job.status, job.next_height) == ("failed", height - 1)
    assert f"height {height - 1}" in job.error
    assert job.finished_at is not None
    assert rescan_run(job_id=job.pk, rpc=rpc) is True  # a failed job stays failed


def test_it_leaves_blocks_above_a_rolled_back_cursor_to_the_listener(rpc, wallet, carol):
    first = rpc.get_block_count() + 1
    wallet.mine(4)
    scan(rpc)
    job = rescan_start(chain="bitcoin", from_height=first)
    listener_rewind(rpc=rpc, height=first + 1)  # as a reorg would

    assert rescan_run(job_id=job.pk, rpc=rpc) is True

    job.refresh_from_db()
    assert (job.status, job.next_height) == ("done", first + 2)
    assert "above the listener's cursor" in job.error


@pytest.mark.parametrize(
    ("from_height", "to_height", "message"),
    [
        (-1, None, "0 or more"),
        (5, 4, "above the to height"),
        (0, "cursor+1", "scanned up to height"),
    ],
)
def test_it_refuses_a_rescan_range_it_cannot_run(rpc, wallet, from_height, to_height, message):
    with pytest.raises(RescanError, match="not scanned any block"):
        rescan_start(chain="bitcoin", from_height=0)
    wallet.mine()
    scan(rpc)
    if to_height == "cursor+1":
        to_height = cursor().height + 1

    with pytest.raises(RescanError, match=message):
        rescan_start(chain="bitcoin", from_height=from_height, to_height=to_height)
    assert not RescanJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_scans_and_rescans_through_a_real_worker(rpc, wallet, carol, celery_worker):
    height = rpc.get_block_count() + 1
    wallet.send([(script(carol), 1_000_000)])
    wallet.mine(2)

    assert tasks.bitcoin_listen.delay().get(timeout=30) == 2
    assert Deposit.objects.count() == 1
    job = rescan_start(chain="bitcoin", from_height=height)
    assert tasks.bitcoin_rescan.delay(job.pk).get(timeout=30) is True

    job.refresh_from_db()
    assert (job.status, job.deposits_found) == ("done", 0)
