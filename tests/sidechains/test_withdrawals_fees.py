"""Withdrawal transactions the node lost are sent again; ones left unconfirmed get a fee bump
that the SONs' real signers accept as one (docs/withdrawals.md), on PostgreSQL and bcoin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import in_mempool, withdrawals_track
from sidechains.models import Coin, SidechainTransaction, Withdrawal
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, deposit_on_chain, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


@pytest.fixture
def mapping(user_carol, federation):
    set_btc_rate("1")
    return make_bitcoin_mapping(user_carol)


@pytest.fixture
def chain(chain, settings):
    settings.BITCOIN_WITHDRAWAL_REBROADCAST_AFTER = 60
    settings.BITCOIN_WITHDRAWAL_BUMP_AFTER = 3600
    return chain


@pytest.fixture
def signers(federation, mapping, tmp_path):
    return make_signers(tmp_path, federation, mapping.deposit_timelock)


def lost(chain, mapping, user_carol, signers, settings, *, age: int) -> SidechainTransaction:
    """A signed transaction recorded as sent `age` seconds ago that the node does not have
    (it was sent to a node that restarted with an empty mempool)."""
    deposit_on_chain(chain, mapping, 2_000_000)
    credit(user_carol, 500_000)
    withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w1")
    stx = withdrawals_batch(rpc=chain.rpc)
    url, settings.BITCOIN_RPC_URL = settings.BITCOIN_RPC_URL, "http://127.0.0.1:9/"
    for signer in signers[:2]:
        signer.sign_all()
    settings.BITCOIN_RPC_URL = url
    sent_at = timezone.now() - timedelta(seconds=age)
    SidechainTransaction.objects.filter(pk=stx.pk).update(
        status=STX.BROADCAST, broadcast_at=sent_at
    )
    Withdrawal.objects.filter(sidechain_tx=stx).update(status=Withdrawal.Status.BROADCAST)
    stx.refresh_from_db()
    assert stx.signed_tx is not None
    return stx


def test_it_sends_again_a_transaction_the_node_lost(chain, mapping, user_carol, signers, settings):
    stx = lost(chain, mapping, user_carol, signers, settings, age=120)
    assert not in_mempool(chain.rpc, stx.txid)

    withdrawals_track(rpc=chain.rpc)

    assert in_mempool(chain.rpc, stx.txid)
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1
    assert Withdrawal.objects.get().status == Withdrawal.Status.SETTLED


def test_it_waits_before_sending_again(chain, mapping, user_carol, signers, settings):
    stx = lost(chain, mapping, user_carol, signers, settings, age=10)

    withdrawals_track(rpc=chain.rpc)

    assert not in_mempool(chain.rpc, stx.txid)
    assert not SidechainTransaction.objects.filter(fee_bump_of=stx).exists()
    chain.rpc.send_raw_transaction(bytes(stx.signed_tx))  # leave the node's mempool clean
    chain.mine(2)
    withdrawals_track(rpc=chain.rpc)


def test_it_bumps_the_fee_and_settles_with_the_replacement(
    chain, mapping, user_carol, signers, settings
):
    # The rebroadcast is off, so the first transaction stays out of the node: bcoin's regtest
    # launcher runs without replace-by-fee, so the bump could not replace it in the mempool.
    settings.BITCOIN_WITHDRAWAL_REBROADCAST_AFTER = 10**6
    settings.BITCOIN_WITHDRAWAL_BUMP_AFTER = 60
    old = lost(chain, mapping, user_carol, signers, settings, age=120)

    withdrawals_track(rpc=chain.rpc)

    bump = SidechainTransaction.objects.get(fee_bump_of=old)
    assert bump.status == STX.AWAITING_SIGNATURES
    assert bump.fee > old.fee and bump.feerate > old.feerate
    assert bump.change_amount == old.change_amount - (bump.fee - old.fee)
    assert list(bump.inputs.values_list("coin", flat=True)) == list(
        old.inputs.values_list("coin", flat=True)
    )
    [request] = signers[0].pending()
    assert request["fee_bump_of"] == str(old.pk)
    assert [w["id"] for w in request["withdrawals"]] == [f"w-{Withdrawal.objects.get().pk}"]
    for signer in signers[:2]:
        assert [r.status_code for r in signer.sign_all()] == [200]
    bump.refresh_from_db()
    assert bump.status == STX.BROADCAST, bump.last_error
    assert in_mempool(chain.rpc, bump.txid)
    withdrawals_track(rpc=chain.rpc)  # the old one, replaced by a sent bump, is left alone
    assert SidechainTransaction.objects.count() == 2

    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1

    old.refresh_from_db()
    bump.refresh_from_db()
    assert (old.status, bump.status) == (STX.REPLACED, STX.CONFIRMED)
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.status, withdrawal.sidechain_tx_id) == ("settled", bump.pk)
    change = Coin.objects.get(kind="change")
    assert (change.txid, change.amount) == (bump.txid, bump.change_amount)
    assert Coin.objects.get(kind="deposit").spent_by_id == bump.pk


def test_a_bump_fails_when_the_first_transaction_confirms(
    chain, mapping, user_carol, signers, settings
):
    settings.BITCOIN_WITHDRAWAL_REBROADCAST_AFTER = 60
    settings.BITCOIN_WITHDRAWAL_BUMP_AFTER = 60
    old = lost(chain, mapping, user_carol, signers, settings, age=120)

    withdrawals_track(rpc=chain.rpc)  # sent again, and a bump awaits signatures

    bump = SidechainTransaction.objects.get(fee_bump_of=old)
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1
    old.refresh_from_db()
    bump.refresh_from_db()
    assert (old.status, bump.status) == (STX.CONFIRMED, STX.FAILED)
    assert signers[0].pending() == []
    assert Withdrawal.objects.get().sidechain_tx_id == old.pk
