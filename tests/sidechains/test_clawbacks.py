"""Credits the chain took back (docs/deposits.md, "Sweeps and clawbacks"): a credited deposit
reorged out by a conflicting spend, or reclaimed by its depositor after T while the signers are
down, is clawed back; a deposit too close to its reclaim height is not credited. On real
PostgreSQL and bcoin."""

import pytest
from bitcoin.core import b2lx

from ledger.models import Entry
from ledger.services import balances_of, ledger_receivables
from sidechains.bitcoin.deposits import deposits_process
from sidechains.bitcoin.listener import listener_scan
from sidechains.bitcoin.sweeps import sweep_deadline, sweeps_process
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Alert, ChainCursor, Coin, Deposit, SidechainTransaction, Withdrawal
from tests import fixtures
from tests.mappings.helpers import new_key
from tests.sidechains.deposit_helpers import credit_for, make_bitcoin_mapping
from tests.sidechains.test_withdrawals_failure import reclaim
from tests.sidechains.withdrawal_helpers import (
    deposit_on_chain,
    federation_of_three,
    mapping_with_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

TIMELOCK = 12
MARGIN = 3
WINDOW = 3
OTHER_MINER = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


@pytest.fixture
def chain(chain, settings):
    settings.BITCOIN_DEPOSIT_TIMELOCK = TIMELOCK  # before the mappings are registered
    settings.BITCOIN_RECLAIM_MARGIN = MARGIN
    settings.BITCOIN_CLAWBACK_WINDOW = WINDOW
    return chain


@pytest.fixture
def federation(db):
    return federation_of_three()


@pytest.fixture
def user_key():
    return new_key()


@pytest.fixture
def mapping(chain, federation, user_carol, user_key):
    return mapping_with_key(user_carol, user_key)


def step(rpc, blocks: int = 1) -> None:
    """Blocks go by and the beat runs: listener, then deposits (confirm, claw back, credit)."""
    for _ in range(blocks):
        rpc.generate_to_address(1, OTHER_MINER)
        listener_scan(rpc=rpc, max_blocks=50)
        deposits_process(rpc=rpc)


def test_a_reorg_with_a_conflicting_spend_claws_back_the_credit(chain, mapping, user_carol):
    rpc = chain.rpc
    dave = fixtures.make_user("user_dave")
    daves = deposit_on_chain(chain, make_bitcoin_mapping(dave), 3_000_000)
    listener_scan(rpc=rpc, max_blocks=10)
    tx = chain.send([(bytes(mapping.deposit_script_pubkey), 1_000_000)])
    [block_hash] = chain.mine(1)
    step(rpc, 0)
    listener_scan(rpc=rpc)
    deposits_process(rpc=rpc)
    deposit = Deposit.objects.get(txid=b2lx(tx.GetTxid()))
    assert deposit.status == Deposit.Status.CREDITED, deposit.note
    withdrawal_request(user=user_carol, amount_pegged=400_000, request_id="c1")

    # A deeper branch holds a conflicting spend of the deposit's own input.
    rpc.call("invalidateblock", block_hash)
    rpc.send_raw_transaction(chain.double_spend(tx).serialize())
    step(rpc)

    deposit.refresh_from_db()
    coin = Coin.objects.get(deposit=deposit)
    assert deposit.status == Deposit.Status.REORGED
    assert deposit.confirmations(ChainCursor.objects.get()) == 0
    assert coin.status == Coin.Status.MISSING  # out of coin selection at once
    with pytest.raises(WithdrawalError, match="left the best chain"):  # in doubt: no more
        withdrawal_request(user=user_carol, amount_pegged=10_000, request_id="c0")
    stx = withdrawals_batch(rpc=rpc)  # carol's withdrawal is paid from dave's coin only
    assert list(stx.inputs.values_list("coin_id", flat=True)) == [daves.pk]

    step(rpc, WINDOW)

    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.CLAWED_BACK
    assert "not mined again within 3 blocks" in deposit.note
    entry = Entry.objects.get(reason=Entry.Reason.CLAWBACK, reference=f"deposit:{deposit.pk}")
    assert entry.amount == credit_for(1_000_000) == deposit.credited_amount
    # The sweep fee goes back from the fee pool: the coin it was to pay for is gone.
    fee_back = Entry.objects.get(
        reason=Entry.Reason.CLAWBACK, reference=f"deposit-fee:{deposit.pk}"
    )
    assert (fee_back.amount, fee_back.source.system) == (deposit.sweep_fee, "fee-pool")
    assert balances_of(user_carol)["pBTC"] == -400_000
    assert ledger_receivables()["pBTC"] == 400_000
    coin.refresh_from_db()
    assert coin.status == Coin.Status.LOST
    alert = Alert.objects.get(kind=Alert.Kind.DEPOSIT_CLAWED_BACK)
    assert (alert.deposit, str(deposit.pk) in alert.message) == (deposit, True)
    with pytest.raises(WithdrawalError, match="balance is negative"):
        withdrawal_request(user=user_carol, amount_pegged=10_000, request_id="c2")
    assert Withdrawal.objects.filter(user=user_carol).count() == 1
    step(rpc)  # nothing more: a clawback happens once
    assert Entry.objects.filter(reason=Entry.Reason.CLAWBACK).count() == 2  # credit and fee


def test_a_reclaim_after_t_with_signers_down_claws_back_the_credit(
    chain, mapping, user_carol, user_key
):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 1_500_000)
    withdrawal_request(user=user_carol, amount_pegged=1_000_000, request_id="c1")
    deposit = coin.deposit
    # The sweep is built, but no signer answers: the depositor takes the coin back after T.
    step(rpc, sweep_deadline(deposit) - rpc.get_block_count())
    assert sweeps_process(rpc=rpc) == 1
    sweep = SidechainTransaction.objects.get(kind=SidechainTransaction.Kind.SWEEP)
    assert Alert.objects.filter(kind=Alert.Kind.SWEEP_DEADLINE, deposit=deposit).exists()
    tx = reclaim(coin, user_key, chain.p2wpkh.to_scriptPubKey())
    left = deposit.reclaim_height() - rpc.get_block_count() - 1
    step(rpc, left)
    rpc.send_raw_transaction(tx.serialize())
    step(rpc)

    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.CLAWED_BACK
    assert b2lx(tx.GetTxid()) in deposit.note
    coin.refresh_from_db()
    assert coin.status == Coin.Status.LOST
    assert withdrawals_track(rpc=rpc) == 1  # the unsigned sweep can never be mined: failed
    sweep.refresh_from_db()
    assert sweep.status == SidechainTransaction.Status.FAILED
    assert balances_of(user_carol)["pBTC"] == -1_000_000
    with pytest.raises(WithdrawalError, match="balance is negative"):
        withdrawal_request(user=user_carol, amount_pegged=10_000, request_id="c2")


def test_a_deposit_too_close_to_its_reclaim_height_goes_to_refund_pending(
    chain, mapping, user_carol, settings
):
    settings.BITCOIN_CONFIRMATIONS = [(None, TIMELOCK - MARGIN + 2)]  # 2 blocks left then
    rpc = chain.rpc
    listener_scan(rpc=rpc, max_blocks=10)
    chain.send([(bytes(mapping.deposit_script_pubkey), 1_000_000)])
    step(rpc, TIMELOCK - MARGIN + 2)

    deposit = Deposit.objects.get(mapping=mapping)
    assert deposit.status == Deposit.Status.REFUND_PENDING
    assert "before the depositor may reclaim it" in deposit.note
    assert f"fewer than the margin of {MARGIN}" in deposit.note
    assert balances_of(user_carol)["pBTC"] == 0
    assert not Coin.objects.filter(deposit=deposit).exists()
