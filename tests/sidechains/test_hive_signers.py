"""Hive withdrawals signed by real signer processes (`python -m signer serve` with a "hive"
configuration section) against the live portal and the Hive dev node."""

from __future__ import annotations

import pytest

from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from mappings.services import mapping_set_hive
from sidechains.hive.withdrawals import tracker
from sidechains.hive.withdrawals import transactions as txs
from sidechains.hive.withdrawals.requests import hive_withdrawal_request
from sidechains.models import HiveTransaction, Withdrawal
from tests.devnode import helpers
from tests.hive_node import start_hive_devnode
from tests.sidechains import hive_helpers as h
from tests.sidechains.test_hive_withdrawals import SONS, hive_balance, son_public
from tests.sidechains.test_withdrawals_signers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def node():
    keys = [[son_public(name), 1] for name in SONS]
    active = {"weight_threshold": 2, "account_auths": [], "key_auths": keys}
    spec = {
        "name": h.FEDERATION,
        "balance": "1000.000 HIVE",
        "key": helpers.public_key(h.FEDERATION),
        "active": active,
    }
    node = start_hive_devnode(block_interval=0, irreversible_lag=h.LAG, accounts=[spec])
    node.generate_blocks(h.LAG + 1)
    yield node
    node.stop()


@pytest.fixture
def signers(live_server, node, settings, tmp_path):
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
    settings.HIVE_TX_EXPIRATION = 600
    with node.rpc() as rpc:
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
    hive = {
        "chain_id": chain_id,
        "federation_account": h.FEDERATION,
        "daily_caps": {"HIVE": 10**7, "HBD": 10**6},
        "journal": "hive-journal.sqlite",
    }
    processes = h.signer_processes(
        portal_url=live_server.url,
        folder=tmp_path,
        names=SONS,
        hive=hive,
        network=settings.BITCOIN_NETWORK,
    )
    yield processes
    for process in processes.values():
        process.stop()


def requested(node, user, amount: int) -> Withdrawal:
    h.set_hive_rates()
    account = h.new_sender(node, "payee")
    mapping_set_hive(user=user, hive_account=account)
    ledger_transfer(
        source=system_account(LedgerAccount.System.ISSUANCE),
        destination=ledger_account_for(user),
        asset="pHIVE",
        amount=amount,
        reason=Entry.Reason.DEPOSIT,
        reference="test:signers",
    )
    return hive_withdrawal_request(user=user, pegged="pHIVE", amount_pegged=amount, request_id="s")


def status_of(htx: HiveTransaction) -> str:
    htx.refresh_from_db(fields=["status"])
    return htx.status


@pytest.mark.parametrize("running", [SONS, ("son-1", "son-3")], ids=["all three", "one down"])
def test_signer_processes_sign_a_hive_withdrawal_that_is_paid_once(
    node, signers, user_carol, running
):
    withdrawal = requested(node, user_carol, 4_321)
    with node.rpc() as rpc:
        htx = txs.hive_withdrawals_batch(rpc=rpc)
    assert htx is not None
    before = hive_balance(node, withdrawal.address)
    for name in running:
        signers[name].start()
    wait_for(lambda: status_of(htx) == "broadcast", signers, 30, "the broadcast")
    htx.refresh_from_db()
    assert len(htx.signatures) == 2
    h.make_irreversible(node)
    with node.rpc() as rpc:
        tracker.hive_withdrawals_track(rpc=rpc)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "settled"
    assert hive_balance(node, withdrawal.address) == before + 4_321
    for name in running:
        text = signers[name].output()
        assert "signing Hive for @son-federation" in text, text
        assert "Traceback" not in text and "refused request" not in text, text
