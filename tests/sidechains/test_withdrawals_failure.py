"""A batched withdrawal transaction that can never be mined fails and returns the escrow
(docs/withdrawals.md, "Failure"): its depositor reclaimed one of its input coins with their own
key after the timelock; on real PostgreSQL and bcoin."""

import coincurve
import pytest
from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CScriptWitness,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
    lx,
)

from chains.bitcoin.spend import REFUND_TX_VERSION, refund_sequence, sign_input, user_witness
from ledger.models import Entry
from ledger.services import balances_of, ledger_check
from sidechains.bitcoin.clawbacks import coin_lost
from sidechains.bitcoin.listener import listener_scan
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import (
    sidechain_tx_fail_if_unspendable,
    withdrawals_track,
)
from sidechains.models import Alert, Coin, SidechainTransaction, Withdrawal, WithdrawalEvent
from tests.mappings.helpers import new_key
from tests.sidechains.deposit_helpers import credit_for
from tests.sidechains.withdrawal_helpers import (
    deposit_on_chain,
    federation_of_three,
    make_signers,
    mapping_with_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status
TIMELOCK = 10
FEE = 5_000


@pytest.fixture
def chain(chain, settings):
    settings.BITCOIN_DEPOSIT_TIMELOCK = TIMELOCK  # before the mapping is registered
    settings.BITCOIN_RECLAIM_MARGIN = 2
    return chain


@pytest.fixture
def federation(db):
    return federation_of_three()


@pytest.fixture
def user_key():
    return new_key()


@pytest.fixture
def mapping(chain, federation, user_carol, user_key):
    mapping = mapping_with_key(user_carol, user_key)
    assert mapping.deposit_timelock == TIMELOCK
    return mapping


def reclaim(coin: Coin, key: coincurve.PrivateKey, pay_to: bytes) -> CMutableTransaction:
    """The depositor's own spend of their deposit: the script's ELSE branch, nSequence = T."""
    script = bytes(coin.witness_script)
    txin = CMutableTxIn(COutPoint(lx(coin.txid), coin.vout), nSequence=refund_sequence(script))
    tx = CMutableTransaction(
        [txin], [CTxOut(coin.amount - FEE, pay_to)], nVersion=REFUND_TX_VERSION
    )
    signature = sign_input(tx, 0, script, coin.amount, key.secret)
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness(user_witness(script, signature)))])
    return tx


def snapshot() -> tuple:
    return (
        list(SidechainTransaction.objects.values_list("pk", "status", "last_error")),
        list(Coin.objects.values_list("pk", "status", "reserved_by_id")),
        list(Withdrawal.objects.values_list("pk", "status", "failure_reason")),
        WithdrawalEvent.objects.count(),
        Entry.objects.count(),
        Alert.objects.count(),
    )


def test_a_reclaimed_input_fails_the_transaction_and_returns_the_escrow(
    chain, mapping, user_carol, user_key
):
    rpc = chain.rpc
    big = deposit_on_chain(chain, mapping, 1_500_000)
    small = deposit_on_chain(chain, mapping, 1_000_000)
    assert balances_of(user_carol)["pBTC"] == credit_for(1_500_000) + credit_for(1_000_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=2_000_000, request_id="w1")
    stx = withdrawals_batch(rpc=rpc)
    assert sorted(stx.inputs.values_list("coin_id", flat=True)) == sorted([big.pk, small.pk])
    assert (
        balances_of(user_carol)["pBTC"] == credit_for(1_500_000) + credit_for(1_000_000) - 2_000_000
    )

    # The depositor spends the bigger coin with their own key once its deposit is T deep.
    tx = reclaim(big, user_key, chain.p2wpkh.to_scriptPubKey())
    chain.mine(big.deposit.reclaim_height() - rpc.get_block_count() - 1)
    rpc.send_raw_transaction(tx.serialize())
    chain.mine(1)
    listener_scan(rpc=rpc)

    big.refresh_from_db()
    assert big.status == Coin.Status.LOST
    alert = Alert.objects.get(kind=Alert.Kind.CREDITED_COIN_LOST)
    assert alert.deposit_id == big.deposit_id
    assert b2lx(tx.GetTxid()) in alert.message

    assert withdrawals_track(rpc=rpc) == 1

    stx.refresh_from_db()
    assert stx.status == STX.FAILED
    assert f"coin {big.pk} ({big.txid}:{big.vout})" in stx.last_error
    assert "spent outside the portal" in stx.last_error
    small.refresh_from_db()
    assert (small.status, small.reserved_by_id) == (Coin.Status.AVAILABLE, None)
    big.refresh_from_db()
    assert big.status == Coin.Status.LOST  # never batched again
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.FAILED
    assert stx.txid in withdrawal.failure_reason
    assert "reclaimed by its depositor" in withdrawal.failure_reason
    assert [e.new_status for e in withdrawal.events.all()] == ["requested", "batched", "failed"]
    # The escrow came back; the reclaimed deposit's credit was clawed back.
    assert balances_of(user_carol)["pBTC"] == credit_for(1_000_000)
    clawback = Entry.objects.get(
        reason=Entry.Reason.CLAWBACK, reference=f"deposit:{big.deposit_id}"
    )
    assert clawback.amount == credit_for(1_500_000)
    entry = Entry.objects.get(reason=Entry.Reason.WITHDRAWAL_RETURN)
    assert entry.reference == f"withdrawal:{withdrawal.pk}"
    assert ledger_check() == []

    before = snapshot()
    assert withdrawals_track(rpc=rpc) == 0  # a second run changes nothing
    assert sidechain_tx_fail_if_unspendable(sidechain_tx_id=stx.pk, rpc=rpc) is False
    assert snapshot() == before
    assert withdrawals_batch(rpc=rpc) is None  # nothing requested: the user may ask again


def test_a_transaction_the_node_holds_is_never_failed(
    chain, mapping, user_carol, federation, tmp_path
):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 2_000_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w1")
    stx = withdrawals_batch(rpc=rpc)
    for signer in make_signers(tmp_path, federation, TIMELOCK)[:2]:
        signer.sign_all()
    stx.refresh_from_db()
    assert stx.status == STX.BROADCAST, stx.last_error
    # The listener's path for a foreign spend, as if a conflicting spend had been seen.
    coin_lost(coin, "00" * 32, 0, "00" * 32)

    assert withdrawals_track(rpc=rpc) == 0  # in the mempool: it may still be mined

    stx.refresh_from_db()
    assert stx.status == STX.BROADCAST
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.BROADCAST
    assert not Entry.objects.filter(reason=Entry.Reason.WITHDRAWAL_RETURN).exists()
    chain.mine(2)
    assert withdrawals_track(rpc=rpc) == 1
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SETTLED
