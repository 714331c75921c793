"""Coins are checked unspent on the node when selected (gettxout), a coin near its reclaim
height is never selected, and a transaction the node refuses because an input is gone is
rebuilt without it at once; on real PostgreSQL, bcoin and the SONs' signers."""

import pytest

from chains.bitcoin.federation import p2wsh_script_pubkey
from ledger.services import balances_of
from sidechains.bitcoin.listener import listener_scan
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Coin, SidechainTransaction, Withdrawal
from tests import fixtures
from tests.sidechains.deposit_helpers import made_up_tx, make_bitcoin_mapping, set_btc_rate
from tests.sidechains.test_clawbacks import MARGIN, TIMELOCK, chain, federation, mapping, user_key
from tests.sidechains.test_withdrawals_failure import reclaim
from tests.sidechains.withdrawal_helpers import (
    credit,
    deposit_on_chain,
    federation_coin,
    make_signers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]
__all__ = ["chain", "federation", "mapping", "user_key"]  # fixtures shared with test_clawbacks

STX = SidechainTransaction.Status


def test_a_coin_the_node_does_not_hold_is_never_selected(chain, mapping, user_carol):
    set_btc_rate("1")
    real = federation_coin(chain, 1_000_000)
    txid, prev_tx = made_up_tx(p2wsh_script_pubkey(bytes(real.witness_script)), 5_000_000)
    phantom = Coin.objects.create(
        txid=txid,
        vout=0,
        amount=5_000_000,
        witness_script=bytes(real.witness_script),
        prev_tx=prev_tx,
        kind=Coin.Kind.CHANGE,
    )
    credit(user_carol, 500_000)
    withdrawal_request(user=user_carol, amount_pegged=200_000, request_id="w1")

    stx = withdrawals_batch(rpc=chain.rpc)  # the phantom is the largest: tried first

    assert list(stx.inputs.values_list("coin_id", flat=True)) == [real.pk]
    phantom.refresh_from_db()
    assert phantom.status == Coin.Status.MISSING
    assert "gettxout" in phantom.events.last().note


def test_a_deposit_coin_near_its_reclaim_height_is_never_selected(chain, mapping, user_carol):
    coin = deposit_on_chain(chain, mapping, 1_000_000)
    reclaim_at = coin.deposit.reclaim_height()
    chain.mine(reclaim_at - MARGIN - chain.rpc.get_block_count() + 1)  # MARGIN - 1 blocks left
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=200_000, request_id="w1")

    assert withdrawals_batch(rpc=chain.rpc) is None

    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.REQUESTED
    assert "coins cannot pay it now" in withdrawal.note
    coin.refresh_from_db()
    assert coin.status == Coin.Status.AVAILABLE


def test_a_transaction_refused_for_a_gone_input_is_rebuilt_without_it(
    chain, mapping, user_carol, user_key, federation, tmp_path
):
    rpc = chain.rpc
    deposit_coin = deposit_on_chain(chain, mapping, 3_000_000)
    wallet_coin = federation_coin(chain, 2_000_000)
    dave = fixtures.make_user("user_dave")
    credit(dave, 1_000_000)
    make_bitcoin_mapping(dave)
    first = withdrawal_request(user=dave, amount_pegged=1_000_000, request_id="d1")
    stx = withdrawals_batch(rpc=rpc)
    assert list(stx.inputs.values_list("coin_id", flat=True)) == [deposit_coin.pk]
    # The depositor takes the coin back after T; the portal's listener has not seen it yet.
    tx = reclaim(deposit_coin, user_key, chain.p2wpkh.to_scriptPubKey())
    chain.mine(deposit_coin.deposit.reclaim_height() - rpc.get_block_count() - 1)
    rpc.send_raw_transaction(tx.serialize())
    chain.mine(1)

    signers = make_signers(tmp_path, federation, TIMELOCK)
    for signer in signers[:2]:
        signer.sign_all()  # the second completes it; the node refuses it: the input is gone

    stx.refresh_from_db()
    assert stx.status == STX.FAILED
    assert "not unspent on the node" in stx.last_error
    deposit_coin.refresh_from_db()
    assert deposit_coin.status == Coin.Status.MISSING
    first.refresh_from_db()
    assert first.status == Withdrawal.Status.FAILED
    again = Withdrawal.objects.get(request_id=f"rebuild-{first.pk}")
    assert again.status == Withdrawal.Status.REQUESTED
    assert f"withdrawal {again.pk}" in first.note
    assert balances_of(dave)["pBTC"] == 0  # escrowed once, for the new request

    rebuilt = withdrawals_batch(rpc=rpc)
    assert list(rebuilt.inputs.values_list("coin_id", flat=True)) == [wallet_coin.pk]
    for signer in signers[:2]:
        signer.sign_all()
    rebuilt.refresh_from_db()
    assert rebuilt.status == STX.BROADCAST, rebuilt.last_error
    chain.mine(2)
    assert withdrawals_track(rpc=rpc) == 1
    again.refresh_from_db()
    assert again.status == Withdrawal.Status.SETTLED
    listener_scan(rpc=rpc, max_blocks=50)  # now it sees the reclaim: the credit clawed back
    deposit_coin.refresh_from_db()
    assert deposit_coin.status == Coin.Status.LOST
    assert balances_of(user_carol)["pBTC"] == 0
