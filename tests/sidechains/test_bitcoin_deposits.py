"""Confirming and crediting Bitcoin deposits on a real bcoin node and PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from bitcoin.core import CTransaction, b2lx
from django.db import connection, transaction

from ledger.models import Entry, LedgerAccount
from ledger.services import balances_of, ledger_account_for, ledger_transfer, system_account
from sidechains import tasks
from sidechains.bitcoin.deposits import (
    DepositError,
    DepositNotOnBestChain,
    confirmations_required,
    deposit_confirm_due,
    deposit_credit,
    deposits_process,
)
from sidechains.bitcoin.listener import listener_scan
from sidechains.models import ChainCursor, Coin, Deposit, DepositEvent
from sons.models import SON
from tests.sidechains.deposit_helpers import (
    credit_for,
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    mine,
    set_btc_rate,
    sweep_fee,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

CONFIRMED = Deposit.Status.CONFIRMED


@pytest.fixture
def federation(db):
    return make_federation(3)


@pytest.fixture
def mapping(user_carol, federation):
    return make_bitcoin_mapping(user_carol)


def statuses(deposit: Deposit) -> list[tuple[str, str]]:
    return [(e.old_status, e.new_status) for e in DepositEvent.objects.filter(deposit=deposit)]


def reload(deposit: Deposit) -> Deposit:
    deposit.refresh_from_db()
    return deposit


@pytest.mark.parametrize(
    ("amount", "count"),
    [(1, 2), (9_999_999, 2), (10_000_000, 3), (99_999_999, 3), (100_000_000, 6), (10**15, 6)],
)
def test_it_requires_confirmations_by_amount(amount, count):
    assert confirmations_required(amount) == count


def test_it_reads_the_confirmations_table_from_settings(settings):
    settings.BITCOIN_CONFIRMATIONS = [(500, 1), (None, 4)]
    assert [confirmations_required(a) for a in (499, 500)] == [1, 4]


def test_it_confirms_a_deposit_once_it_is_deep_enough(mapping, bitcoin):
    deposit = make_deposit(mapping, bitcoin, amount=20_000_000)  # 3 confirmations
    assert deposit.confirmations_required == 3

    assert deposit_confirm_due(rpc=bitcoin) == 0  # 1 confirmation
    mine(bitcoin)
    assert deposit_confirm_due(rpc=bitcoin) == 0  # 2
    assert reload(deposit).status == Deposit.Status.DETECTED
    mine(bitcoin)
    assert deposit_confirm_due(rpc=bitcoin) == 1  # 3

    deposit = reload(deposit)
    assert deposit.status == CONFIRMED
    assert deposit.confirmed_at is not None
    assert deposit.note == f"3 confirmations at height {deposit.block_height + 2} (needs 3)"
    assert statuses(deposit) == [("detected", "confirmed")]
    assert deposit_confirm_due(rpc=bitcoin) == 0  # nothing twice


def test_it_does_not_confirm_a_deposit_whose_block_was_reorged_out(mapping, bitcoin):
    deposit = make_deposit(mapping, bitcoin)
    bitcoin.call("invalidateblock", deposit.block_hash)
    mine(bitcoin, 3)

    assert deposit_confirm_due(rpc=bitcoin) == 0

    assert reload(deposit).status == Deposit.Status.DETECTED  # the listener orphans it


def test_it_credits_a_confirmed_deposit_at_the_rate_in_force(mapping, bitcoin, user_carol):
    set_btc_rate("0.995")
    deposit = make_deposit(mapping, bitcoin, amount=1_234_567)
    mine(bitcoin)

    assert deposits_process(rpc=bitcoin) == 2  # confirmed, then credited

    deposit = reload(deposit)
    assert deposit.status == Deposit.Status.CREDITED
    assert deposit.rate == Decimal("0.995")
    # The sweep fee at the floor rate of 2 sat/vB: a sweep of this coin alone plus 10 %.
    assert deposit.sweep_fee == sweep_fee() == 374
    assert deposit.credited_amount == 1_228_022  # floor((1_234_567 - 374) * 0.995)
    assert deposit.credited_at is not None
    assert deposit.note == (
        "0.01228022 pBTC at 0.99500000 BTC/pBTC after a sweep fee of 374 sat (2 sat/vB); "
        "3 of 3 SONs active"
    )
    assert balances_of(user_carol)["pBTC"] == 1_228_022
    user_entry, pool_entry = Entry.objects.order_by("id")
    assert (user_entry.reason, user_entry.reference) == ("deposit", f"deposit:{deposit.pk}")
    assert user_entry.source.system == LedgerAccount.System.ISSUANCE
    # The fee pool gets the rest of what the deposit is worth: floor(1_234_567 * 0.995) - credit.
    assert (pool_entry.reason, pool_entry.amount) == ("deposit_fee", 1_228_394 - 1_228_022)
    assert pool_entry.destination.system == LedgerAccount.System.FEE_POOL
    assert statuses(deposit) == [("detected", "confirmed"), ("confirmed", "credited")]


def test_it_credits_with_one_of_three_sons_down(mapping, bitcoin, federation):
    set_btc_rate("1")
    SON.objects.filter(pk=federation[0].pk).update(status=SON.Status.IN_MAINTENANCE)
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)

    deposit = deposit_credit(deposit_id=deposit.pk, rpc=bitcoin)

    assert deposit.status == Deposit.Status.CREDITED
    assert deposit.note.endswith("2 of 3 SONs active")


def test_it_sets_a_deposit_aside_for_refund_when_too_few_sons_are_active(
    mapping, bitcoin, federation, user_carol
):
    set_btc_rate("1")
    SON.objects.filter(pk__in=[s.pk for s in federation[:2]]).update(
        status=SON.Status.IN_MAINTENANCE
    )
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)

    deposit = deposit_credit(deposit_id=deposit.pk, rpc=bitcoin)

    assert deposit.status == Deposit.Status.REFUND_PENDING
    assert deposit.note == "1 of 3 SONs active, 2 needed to credit: refund pending"
    assert (deposit.credited_amount, deposit.rate) == (None, None)
    assert balances_of(user_carol)["pBTC"] == 0
    assert not Entry.objects.exists()
    assert statuses(deposit) == [("confirmed", "refund_pending")]
    # Even when the SONs come back, the decision stands: a refund proposal settles it.
    SON.objects.update(status=SON.Status.ACTIVE)
    assert deposit_credit(deposit_id=deposit.pk).status == Deposit.Status.REFUND_PENDING


def test_it_credits_a_deposit_once_when_asked_twice(mapping, bitcoin, user_carol):
    set_btc_rate("1")
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)

    first = deposit_credit(deposit_id=deposit.pk)
    second = deposit_credit(deposit_id=deposit.pk)

    assert first.status == second.status == Deposit.Status.CREDITED
    assert first.credited_at == second.credited_at
    assert Entry.objects.count() == 2  # the credit and the sweep fee
    assert balances_of(user_carol)["pBTC"] == credit_for(deposit.amount)
    assert len(statuses(deposit)) == 1


def test_it_credits_once_when_retried_after_a_crash_before_commit(mapping, bitcoin, user_carol):
    set_btc_rate("1")
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)

    class Crash(Exception):
        pass

    # The ledger entry and the status change are written, then the process dies before COMMIT.
    with pytest.raises(Crash), transaction.atomic():
        assert deposit_credit(deposit_id=deposit.pk).status == Deposit.Status.CREDITED
        assert balances_of(user_carol)["pBTC"] == credit_for(deposit.amount)
        raise Crash

    assert reload(deposit).status == CONFIRMED
    assert not Entry.objects.exists()
    assert deposits_process(rpc=bitcoin) == 1  # the next beat

    assert reload(deposit).status == Deposit.Status.CREDITED
    assert Entry.objects.count() == 2
    assert balances_of(user_carol)["pBTC"] == credit_for(deposit.amount)


def test_it_credits_once_when_the_status_was_lost_but_the_entry_kept(mapping, bitcoin, user_carol):
    """A credit written by an earlier attempt (same natural key) is found, not repeated."""
    set_btc_rate("1")
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)
    ledger_transfer(
        source=system_account(LedgerAccount.System.ISSUANCE),
        destination=ledger_account_for(user_carol),
        asset="pBTC",
        amount=credit_for(deposit.amount),
        reason=Entry.Reason.DEPOSIT,
        reference=f"deposit:{deposit.pk}",
    )

    assert deposit_credit(deposit_id=deposit.pk).status == Deposit.Status.CREDITED

    assert Entry.objects.count() == 2  # the credit found, the fee pool's share added
    assert balances_of(user_carol)["pBTC"] == credit_for(deposit.amount)


@pytest.mark.django_db(transaction=True)
def test_it_credits_once_when_workers_race(user_carol, bitcoin):
    make_federation(3)
    set_btc_rate("1")
    deposit = make_deposit(make_bitcoin_mapping(user_carol), bitcoin, status=CONFIRMED)
    barrier = threading.Barrier(6)

    def credit(_):
        try:
            barrier.wait()
            return deposit_credit(deposit_id=deposit.pk).status
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(credit, range(6)))

    assert results == [Deposit.Status.CREDITED] * 6
    assert Entry.objects.count() == 2
    assert DepositEvent.objects.filter(new_status="credited").count() == 1
    assert balances_of(user_carol)["pBTC"] == credit_for(deposit.amount)


def test_it_refuses_to_credit_a_deposit_that_is_not_confirmed(mapping, bitcoin):
    for status in (Deposit.Status.DETECTED, Deposit.Status.ORPHANED):
        deposit = make_deposit(mapping, bitcoin, status=status)
        with pytest.raises(DepositError, match=f"is {status}, not confirmed"):
            deposit_credit(deposit_id=deposit.pk)
    assert not Entry.objects.exists()


def test_it_does_not_credit_a_confirmed_deposit_reorged_out_since(mapping, bitcoin, user_carol):
    set_btc_rate("1")
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)
    bitcoin.call("invalidateblock", deposit.block_hash)
    mine(bitcoin, 2)

    with pytest.raises(DepositNotOnBestChain):
        deposit_credit(deposit_id=deposit.pk, rpc=bitcoin)
    assert deposits_process(rpc=bitcoin) == 0

    assert reload(deposit).status == CONFIRMED
    assert balances_of(user_carol)["pBTC"] == 0


def test_it_does_not_credit_a_deposit_above_a_tip_that_a_reorg_lowered(mapping, bitcoin):
    set_btc_rate("1")
    deposit = make_deposit(mapping, bitcoin, status=CONFIRMED)
    bitcoin.call("invalidateblock", deposit.block_hash)  # the tip is now below the deposit

    with pytest.raises(DepositNotOnBestChain):
        deposit_credit(deposit_id=deposit.pk, rpc=bitcoin)
    assert deposits_process(rpc=bitcoin) == 0

    assert reload(deposit).status == CONFIRMED
    assert reload(deposit).note == ""


def test_it_credits_the_others_when_one_deposit_fails(mapping, bitcoin, user_carol):
    set_btc_rate("1")
    bad, good = (make_deposit(mapping, bitcoin, status=CONFIRMED) for _ in range(2))
    # Its natural key is taken by a different movement: a permanent error for this deposit only.
    ledger_transfer(
        source=system_account(LedgerAccount.System.ISSUANCE),
        destination=ledger_account_for(user_carol),
        asset="pBTC",
        amount=1,
        reason=Entry.Reason.DEPOSIT,
        reference=f"deposit:{bad.pk}",
    )

    assert deposits_process(rpc=bitcoin) == 1

    assert reload(good).status == Deposit.Status.CREDITED
    bad = reload(bad)
    assert bad.status == CONFIRMED
    assert bad.note.startswith("credit failed, will retry: EntryConflict: ")


def test_it_credits_nothing_for_a_deposit_worth_less_than_one_base_unit(mapping, bitcoin):
    set_btc_rate("0.5")
    deposit = make_deposit(mapping, bitcoin, amount=1, status=CONFIRMED)

    deposit = deposit_credit(deposit_id=deposit.pk)

    assert (deposit.status, deposit.credited_amount) == (Deposit.Status.CREDITED, 0)
    assert not Entry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_processes_deposits_in_the_beat_task_on_a_real_worker(
    user_carol, bitcoin, celery_worker
):
    make_federation(3)
    set_btc_rate("2")
    deposit = make_deposit(make_bitcoin_mapping(user_carol), bitcoin, amount=3_000)
    mine(bitcoin)

    assert tasks.bitcoin_process_deposits.delay().get(timeout=30) == 2

    assert reload(deposit).status == Deposit.Status.CREDITED
    assert balances_of(user_carol)["pBTC"] == credit_for(3_000, rate="2") == 2 * (3_000 - 374)


def test_it_credits_a_real_deposit_after_n_blocks(mapping, wallet, user_carol, settings):
    settings.BITCOIN_CONFIRMATIONS = [(None, 3)]
    set_btc_rate("0.995")
    rpc = wallet.rpc
    listener_scan(rpc=rpc, max_blocks=10)  # a new cursor starts at the node's tip
    tx = wallet.send([(bytes(mapping.deposit_script_pubkey), 2_500_000)])

    seen = []
    for _ in range(3):
        mine(rpc)
        listener_scan(rpc=rpc, max_blocks=10)
        deposits_process(rpc=rpc)
        deposit = Deposit.objects.get(txid=b2lx(tx.GetTxid()))
        cursor = ChainCursor.objects.get(chain="bitcoin")
        seen.append((deposit.confirmations(cursor), deposit.status))

    assert seen == [(1, "detected"), (2, "detected"), (3, "credited")]
    assert (deposit.vout, deposit.amount, deposit.confirmations_required) == (0, 2_500_000, 3)
    assert deposit.mapping == mapping
    assert (deposit.rate, deposit.credited_amount) == (Decimal("0.995"), 2_487_127)
    assert balances_of(user_carol) == {"pBTC": 2_487_127, "pHIVE": 0, "pHBD": 0}
    assert [e.new_status for e in deposit.events.all()] == ["detected", "confirmed", "credited"]
    # The coin carries the transaction the signers take its amount from.
    coin = Coin.objects.get(deposit=deposit)
    prev = CTransaction.deserialize(bytes(coin.prev_tx))
    assert bytes(coin.prev_tx) == bytes(deposit.raw_tx)
    assert b2lx(prev.GetTxid()) == coin.txid and not prev.has_witness()
    assert prev.vout[coin.vout].nValue == coin.amount == 2_500_000
