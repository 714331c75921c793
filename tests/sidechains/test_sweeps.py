"""Sweeps of credited deposit coins into the federation's wallet before their deadlines, the
fee escalating as a deadline nears, the alert when one cannot be met; on real PostgreSQL,
bcoin and the SONs' signers (docs/deposits.md, "Sweeps and clawbacks")."""

import pytest
from bitcoin.core import CTransaction

from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey
from chains.bitcoin.rpc import BitcoinRPCError
from ledger.models import Entry
from ledger.services import balances_of, ledger_fee_pool
from sidechains.bitcoin.reserves import reserves_check
from sidechains.bitcoin.sweeps import (
    sweep_alerts,
    sweep_deadline,
    sweep_deadline_blocks,
    sweep_feerate,
    sweeps_escalate,
    sweeps_process,
)
from sidechains.bitcoin.withdrawals.signatures import signing_request_for
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Alert, Coin, Deposit, SidechainTransaction
from tests import fixtures
from tests.mappings.helpers import new_key
from tests.sidechains.test_withdrawals_failure import reclaim
from tests.sidechains.withdrawal_helpers import (
    deposit_on_chain,
    federation_of_three,
    make_signers,
    mapping_with_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status
TIMELOCK = 40
DEADLINE = TIMELOCK // 4  # the default
CAP = 50


@pytest.fixture
def chain(chain, settings):
    settings.BITCOIN_DEPOSIT_TIMELOCK = TIMELOCK  # before the mapping is registered
    settings.BITCOIN_RECLAIM_MARGIN = 4
    settings.BITCOIN_SWEEP_ALERT_BEFORE = 3
    settings.BITCOIN_WITHDRAWAL_FEERATE_CAP = CAP
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


@pytest.fixture
def signers(federation, mapping, tmp_path):
    return make_signers(tmp_path, federation, TIMELOCK)


def wallet_spk() -> bytes:
    keys = [fixtures.son_key(f"son-{i}").public_key.format() for i in (1, 2, 3)]
    return p2wsh_script_pubkey(federation_witness_script(keys))


def test_the_deadline_is_t_over_4_and_never_later_than_t_minus_the_margin(settings):
    settings.BITCOIN_RECLAIM_MARGIN = 144
    assert sweep_deadline_blocks(4320) == 1080
    settings.BITCOIN_SWEEP_DEADLINE = 5000
    assert sweep_deadline_blocks(4320) == 4320 - 144
    settings.BITCOIN_SWEEP_DEADLINE = 100
    assert sweep_deadline_blocks(4320) == 100


def test_a_credited_deposit_is_swept_before_its_deadline_and_a_reclaim_then_fails(
    chain, mapping, user_carol, user_key, signers
):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 2_000_000)
    deposit = coin.deposit
    assert sweep_deadline(deposit) == deposit.block_height + DEADLINE
    assert sweeps_process(rpc=rpc) == 0  # not half way yet
    chain.mine(deposit.block_height + DEADLINE // 2 - rpc.get_block_count())

    assert sweeps_process(rpc=rpc) == 1

    sweep = SidechainTransaction.objects.get(kind=SidechainTransaction.Kind.SWEEP)
    assert sweep.feerate == 2  # the floor: not urgent yet
    coin.refresh_from_db()
    assert (coin.status, coin.reserved_by_id) == (Coin.Status.RESERVED, sweep.pk)
    [request] = signers[0].pending()
    assert request == signing_request_for(sweep)
    assert request["withdrawals"] == []
    for signer in signers[:2]:
        signer.sign_all()
    sweep.refresh_from_db()
    assert sweep.status == STX.BROADCAST, sweep.last_error
    chain.mine(2)
    assert withdrawals_track(rpc=rpc) == 1

    sweep.refresh_from_db()
    assert sweep.status == STX.CONFIRMED
    assert sweep.confirmed_height <= sweep_deadline(deposit)
    tx = CTransaction.deserialize(rpc.get_raw_transaction(sweep.txid))
    assert [(bytes(o.scriptPubKey), o.nValue) for o in tx.vout] == [
        (wallet_spk(), 2_000_000 - sweep.fee)
    ]
    assert rpc.get_tx_out(coin.txid, coin.vout) is None  # spent on chain
    coin.refresh_from_db()
    assert coin.status == Coin.Status.SPENT
    swept = Coin.objects.get(txid=sweep.txid)
    assert (swept.kind, swept.status, swept.amount) == (
        "change",
        "available",
        2_000_000 - sweep.fee,
    )
    # The deposit paid the fee pool for its sweep when it was credited; the pool paid the
    # sweep's fee, once, and the books explain the reserves to the satoshi. A coin swept alone
    # at the rate it was credited at costs no more than the fee it paid.
    deposit.refresh_from_db()
    assert sweep.fee <= deposit.sweep_fee <= sweep.fee * 1.15
    assert ledger_fee_pool()["pBTC"] == deposit.sweep_fee - sweep.fee
    assert withdrawals_track(rpc=rpc) == 0
    assert Entry.objects.filter(reason=Entry.Reason.FEDERATION_FEE).count() == 1
    check = reserves_check(rpc=rpc)
    left = deposit.sweep_fee - sweep.fee
    assert (check.margin, check.fee_pool, check.unexplained) == (left, left, 0)
    # After T the depositor's own spend fails: the coin is the federation's now.
    chain.mine(deposit.reclaim_height() - rpc.get_block_count() - 1)
    with pytest.raises(BitcoinRPCError):
        rpc.send_raw_transaction(
            reclaim(coin, user_key, chain.p2wpkh.to_scriptPubKey()).serialize()
        )
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.CREDITED
    assert balances_of(user_carol)["pBTC"] == 2_000_000 - deposit.sweep_fee
    assert sweeps_process(rpc=rpc) == 0  # nothing left to sweep


def test_the_fee_rises_toward_the_cap_as_the_deadline_nears(chain, mapping, signers, settings):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 2_000_000)
    deposit = coin.deposit
    half = deposit.block_height + DEADLINE // 2
    rates = [sweep_feerate(deposit, tip=tip, base=2) for tip in range(half, half + 6)]
    assert rates == [2, 12, 22, 31, 41, 50]  # linear from the base to the cap at the deadline
    chain.mine(half - rpc.get_block_count())
    sweeps_process(rpc=rpc)
    # Sent to a node that lost it (bcoin's regtest launcher runs without replace-by-fee, so a
    # bump could not replace it in the mempool; docs/withdrawals.md).
    url, settings.BITCOIN_RPC_URL = settings.BITCOIN_RPC_URL, "http://127.0.0.1:9/"
    for signer in signers[:2]:
        signer.sign_all()
    settings.BITCOIN_RPC_URL = url
    SidechainTransaction.objects.filter(kind="sweep").update(status=STX.BROADCAST)
    first = SidechainTransaction.objects.get(kind="sweep")
    assert first.signed_tx is not None

    # Two blocks before the deadline (the sweep still unmined), it is bumped by RBF.
    assert sweeps_escalate(rpc=rpc, tip=sweep_deadline(deposit) - 2) == 1

    bump = SidechainTransaction.objects.get(fee_bump_of=first)
    assert (bump.kind, bump.feerate) == ("sweep", 31)
    for signer in signers[:2]:
        signer.sign_all()
    bump.refresh_from_db()
    assert bump.status == STX.BROADCAST, bump.last_error
    assert sweeps_escalate(rpc=rpc, tip=sweep_deadline(deposit) - 2) == 0  # once per rate
    chain.mine(2)
    withdrawals_track(rpc=rpc)
    bump.refresh_from_db()
    assert bump.status == STX.CONFIRMED


def test_a_deadline_that_cannot_be_met_raises_an_alert_before_it(chain, mapping):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 2_000_000)
    deadline = sweep_deadline(coin.deposit)
    # The signers are down: the sweep is built, never signed.
    chain.mine(coin.deposit.block_height + DEADLINE // 2 - rpc.get_block_count())
    sweeps_process(rpc=rpc)
    assert sweep_alerts(tip=deadline - 4) == 0

    assert sweep_alerts(tip=deadline - 3) == 1
    assert sweep_alerts(tip=deadline - 2) == 0  # once per deposit

    alert = Alert.objects.get(kind=Alert.Kind.SWEEP_DEADLINE)
    assert alert.deposit_id == coin.deposit_id
    assert f"must be swept by height {deadline}" in alert.message
    assert "reserved" in alert.message
