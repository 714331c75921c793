"""Bitcoin withdrawals end to end: request, batch, the SONs' real signers through the API,
broadcast to bcoin, confirmation and settlement, on real PostgreSQL and bcoin."""

from datetime import timedelta

import pytest
from bitcoin.core import CTransaction
from django.utils import timezone

from chains.bitcoin.addresses import validate_address
from ledger.models import Entry
from ledger.services import balances_of, ledger_supply
from mappings.services import mapping_expire
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.requests import withdrawal_fail, withdrawal_request
from sidechains.bitcoin.withdrawals.signatures import signatures_submit
from sidechains.bitcoin.withdrawals.tracker import sidechain_tx_broadcast, withdrawals_track
from sidechains.models import Coin, SidechainTransaction, Withdrawal
from sons.models import SONStatistics
from tests import fixtures
from tests.sidechains.deposit_helpers import credit_for, make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import (
    credit,
    deposit_on_chain,
    federation_coin,
    make_signers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


@pytest.fixture
def mapping(user_carol, federation):
    set_btc_rate("1")
    return make_bitcoin_mapping(user_carol)


# --- Requests -----------------------------------------------------------------------------


def test_it_escrows_a_withdrawal_to_the_registered_address(mapping, user_carol):
    credit(user_carol, 50_000)

    withdrawal = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r1")

    assert withdrawal.status == Withdrawal.Status.REQUESTED
    assert (withdrawal.amount, withdrawal.address) == (20_000, mapping.withdraw_address)
    assert balances_of(user_carol)["pBTC"] == 30_000
    entry = Entry.objects.get(reason=Entry.Reason.WITHDRAWAL_ESCROW)
    assert entry.reference == f"withdrawal:{withdrawal.pk}"
    assert entry.destination.system == "son-account"


def test_it_returns_the_first_withdrawal_for_a_replayed_request_id(mapping, user_carol):
    credit(user_carol, 50_000)
    first = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r1")

    again = withdrawal_request(user=user_carol, amount_pegged=25_000, request_id="r1")

    assert again.pk == first.pk
    assert balances_of(user_carol)["pBTC"] == 30_000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (60_000, "Your balance, 0.00050000 pBTC, is less than 0.00060000 pBTC."),
        (9_999, "The minimum withdrawal is"),
        (0, "greater"),
        (-1, "greater"),
        (True, "greater"),
        (21_000_000 * 10**8 + 1, "The largest withdrawal is 21000000.00000000 pBTC."),
        (10**30, "The largest withdrawal is"),  # would not fit a bigint
    ],
)
def test_it_refuses_a_withdrawal_and_saves_nothing(mapping, user_carol, amount, message):
    credit(user_carol, 50_000)

    with pytest.raises(WithdrawalError, match=message):
        withdrawal_request(user=user_carol, amount_pegged=amount, request_id="r1")

    assert not Withdrawal.objects.exists()
    assert balances_of(user_carol)["pBTC"] == 50_000


def test_it_refuses_a_withdrawal_without_a_bitcoin_mapping(mapping, user_carol):
    credit(user_carol, 50_000)
    mapping_expire(mapping=mapping)

    with pytest.raises(WithdrawalError, match="Register a Bitcoin withdraw address"):
        withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r1")

    assert not Withdrawal.objects.exists()
    assert balances_of(user_carol)["pBTC"] == 50_000


def test_it_returns_the_escrow_of_a_failed_withdrawal(mapping, user_carol):
    credit(user_carol, 50_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r1")

    withdrawal = withdrawal_fail(withdrawal=withdrawal, reason="the address is no longer valid")
    withdrawal_fail(withdrawal=withdrawal, reason="again")  # a no-op

    assert withdrawal.status == Withdrawal.Status.FAILED
    assert withdrawal.failure_reason == "the address is no longer valid"
    assert balances_of(user_carol)["pBTC"] == 50_000
    assert Entry.objects.filter(reason=Entry.Reason.WITHDRAWAL_RETURN).count() == 1


def test_it_leaves_withdrawals_requested_without_coins(mapping, user_carol, bitcoin):
    credit(user_carol, 50_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r1")

    assert withdrawals_batch(rpc=bitcoin) is None

    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.REQUESTED
    assert "coins cannot pay it now" in withdrawal.note
    assert not SidechainTransaction.objects.exists()


# --- On a real node -----------------------------------------------------------------------


@pytest.fixture
def signers(federation, mapping, tmp_path):
    return make_signers(tmp_path, federation, mapping.deposit_timelock)


def paid(rpc, txid: str) -> dict[bytes, int]:
    tx = CTransaction.deserialize(rpc.get_raw_transaction(txid))
    return {bytes(out.scriptPubKey): out.nValue for out in tx.vout}


def test_it_pays_a_withdrawal_end_to_end(chain, mapping, user_carol, signers):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 2_500_000)
    assert (coin.kind, coin.status, coin.amount) == ("deposit", "available", 2_500_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=1_000_000, request_id="w1")

    stx = withdrawals_batch(rpc=rpc)

    assert stx.status == STX.AWAITING_SIGNATURES
    coin.refresh_from_db()
    assert (coin.status, coin.reserved_by_id) == ("reserved", stx.pk)
    first, second, third = signers
    [request] = first.pending()
    assert request["withdrawals"][0]["address"] == mapping.withdraw_address

    assert first.sign_all()[0].json() == {"accepted": 1, "complete": False}
    assert second.sign_all()[0].json() == {"accepted": 1, "complete": True}

    stx.refresh_from_db()
    assert stx.status == STX.BROADCAST, stx.last_error
    assert third.pending() == []  # finished: nothing left to sign
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.BROADCAST
    assert withdrawals_track(rpc=rpc) == 0  # in the mempool
    chain.mine(2)
    assert withdrawals_track(rpc=rpc) == 1

    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SETTLED
    address = validate_address(mapping.withdraw_address, "regtest").script_pubkey
    assert paid(rpc, stx.txid)[address] == 1_000_000 - withdrawal.fee_share
    assert balances_of(user_carol)["pBTC"] == credit_for(2_500_000) - 1_000_000
    # The escrow was burned; the supply counts the fee pool's sweep fee too.
    assert ledger_supply()["pBTC"] == 1_500_000
    coin.refresh_from_db()
    assert coin.status == "spent"
    change = Coin.objects.get(kind="change")
    stx.refresh_from_db()
    assert (change.txid, change.vout, change.amount) == (stx.txid, 1, 1_500_000)
    assert bytes(change.prev_tx) == bytes(stx.unsigned_tx)  # what its txid hashes
    assert stx.fee == withdrawal.fee_share
    signed = dict(
        SONStatistics.objects.filter(sidechain="bitcoin").values_list("son__name", "txs_signed")
    )
    assert signed == {"son-1": 1, "son-2": 1, "son-3": 0}
    assert [e.new_status for e in withdrawal.events.all()] == [
        "requested",
        "batched",
        "broadcast",
        "settled",
    ]


def test_it_pays_thirty_withdrawals_in_one_transaction(chain, mapping, user_carol, signers):
    deposit_on_chain(chain, mapping, 5_000_000)
    users = [fixtures.make_user(f"user_{i}") for i in range(29)]
    for user in users:
        make_bitcoin_mapping(user)
        credit(user, 100_000)
    withdrawals = [withdrawal_request(user=user_carol, amount_pegged=100_000, request_id="c")]
    withdrawals += [withdrawal_request(user=u, amount_pegged=50_000, request_id="x") for u in users]

    stx = withdrawals_batch(rpc=chain.rpc)

    assert stx.withdrawals.count() == 30
    assert withdrawals_batch(rpc=chain.rpc) is None
    for signer in signers[1:]:
        signer.sign_all()
    stx.refresh_from_db()
    assert stx.status == STX.BROADCAST, stx.last_error
    chain.mine(2)
    withdrawals_track(rpc=chain.rpc)
    assert set(Withdrawal.objects.values_list("status", flat=True)) == {"settled"}
    outputs = paid(chain.rpc, stx.txid)
    assert len(outputs) == 31  # thirty payouts and the change
    fee_share = stx.withdrawals.first().fee_share
    assert stx.fee == 30 * fee_share


def test_it_sends_the_stored_transaction_again_after_a_restart(
    chain, mapping, user_carol, signers, settings
):
    deposit_on_chain(chain, mapping, 2_000_000)
    withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w1")
    stx = withdrawals_batch(rpc=chain.rpc)
    settings.BITCOIN_RPC_URL = "http://127.0.0.1:9/"  # the node is unreachable when complete
    for signer in signers[:2]:
        signer.sign_all()
    stx.refresh_from_db()
    assert stx.status == STX.AWAITING_SIGNATURES
    signed = bytes(stx.signed_tx)
    # The node received it before the portal "crashed" without recording that.
    chain.rpc.send_raw_transaction(signed)

    stx = sidechain_tx_broadcast(sidechain_tx_id=stx.pk, rpc=chain.rpc)
    again = sidechain_tx_broadcast(sidechain_tx_id=stx.pk, rpc=chain.rpc)

    assert stx.status == again.status == STX.BROADCAST
    assert bytes(again.signed_tx) == signed
    assert again.txid == CTransaction.deserialize(signed).GetTxid()[::-1].hex()
    assert SidechainTransaction.objects.count() == 1
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1


def test_it_records_a_node_error_and_keeps_the_transaction(
    chain, mapping, user_carol, signers, settings
):
    deposit_on_chain(chain, mapping, 2_000_000)
    withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w1")
    stx = withdrawals_batch(rpc=chain.rpc)
    settings.BITCOIN_RPC_URL = "http://127.0.0.1:9/"
    for signer in signers[:2]:
        signer.sign_all()
    # Stored bytes the node refuses (the witnesses stripped).
    SidechainTransaction.objects.filter(pk=stx.pk).update(signed_tx=bytes(stx.unsigned_tx))

    stx = sidechain_tx_broadcast(sidechain_tx_id=stx.pk, rpc=chain.rpc)

    assert stx.status == STX.AWAITING_SIGNATURES
    assert stx.last_error.startswith("sendrawtransaction: ")
    assert Withdrawal.objects.get().status == Withdrawal.Status.BATCHED


def test_it_batches_and_tracks_in_the_beat_task(chain, mapping, user_carol, signers):
    from sidechains import tasks

    deposit_on_chain(chain, mapping, 2_000_000)
    withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w1")

    assert tasks.bitcoin_withdrawals() == 1  # batched
    for signer in signers[:2]:
        signer.sign_all()
    chain.mine(2)
    tasks.bitcoin_withdrawals()

    assert Withdrawal.objects.get().status == Withdrawal.Status.SETTLED


def test_a_withdrawal_too_large_for_the_coins_does_not_block_a_smaller_one_behind_it(
    mapping, user_carol, chain
):
    bitcoin = chain.rpc
    credit(user_carol, 5_000_000)
    coin = federation_coin(chain, 1_000_000)
    too_large = withdrawal_request(user=user_carol, amount_pegged=3_000_000, request_id="big")
    small = withdrawal_request(user=user_carol, amount_pegged=200_000, request_id="small")

    stx = withdrawals_batch(rpc=bitcoin)

    assert stx is not None
    assert list(stx.withdrawals.values_list("pk", flat=True)) == [small.pk]
    assert list(stx.inputs.values_list("coin", flat=True)) == [coin.pk]
    too_large.refresh_from_db()
    assert too_large.status == Withdrawal.Status.REQUESTED
    assert too_large.note == "waiting: the federation's coins cannot pay it now"
    assert withdrawals_batch(rpc=bitcoin) is None  # still no coin for it; nothing else to pay


def test_a_failing_transaction_does_not_stop_the_tracker_for_the_others(
    chain, mapping, user_carol, signers, settings
):
    settings.BITCOIN_WITHDRAWAL_BUMP_AFTER = 1
    broken = SidechainTransaction.objects.create(  # its bump cannot even read it
        unsigned_tx=b"\x02\x00\x00\x00\x01",
        txid="ab" * 32,
        fee=1_000,
        vsize=200,
        feerate=5,
        change_amount=100_000,
        status=STX.BROADCAST,
        broadcast_at=timezone.now() - timedelta(hours=1),
    )
    deposit_on_chain(chain, mapping, 2_500_000)
    withdrawal_request(user=user_carol, amount_pegged=1_000_000, request_id="w1")
    stx = withdrawals_batch(rpc=chain.rpc)
    for signer in signers[:2]:  # stored without the API's own send: the tracker sends it
        [request] = signer.pending()
        signatures_submit(son=signer.son, sidechain_tx_id=stx.pk, answer=signer.answer(request))
    assert stx.pk > broken.pk  # the round meets the broken one first

    assert withdrawals_track(rpc=chain.rpc) == 1

    stx.refresh_from_db()
    assert stx.status == STX.BROADCAST
    broken.refresh_from_db()
    assert broken.status == STX.BROADCAST  # untouched, but marked
    assert (broken.attempts, broken.retry_at is not None) == (1, True)
    assert "SerializationTruncationError" in broken.last_error
    withdrawals_track(rpc=chain.rpc)  # within its retry delay: not tried again
    broken.refresh_from_db()
    assert broken.attempts == 1
