"""The demo's Hive wiring, end to end: the federation account bin/stack.py gives the dev node,
the "hive" section it writes into each signer's configuration, and the demo's Hive wallet
(manage.py demo_hive). A deposit proves the user's account and is credited; a withdrawal is
signed by real signer processes and lands on the dev node."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from django.core.management import call_command

from ledger.services import balances_of
from mappings.models import SidechainAddress
from sidechains import tasks
from sidechains.hive.withdrawals.requests import hive_withdrawal_request
from sidechains.models import HiveDeposit, HiveTransaction
from tests.hive_node import start_hive_devnode
from tests.sidechains import hive_helpers as h
from tests.sidechains.test_hive_withdrawals import SONS, hive_balance, son_public
from tests.sidechains.test_withdrawals_signers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def stack_module():
    spec = importlib.util.spec_from_file_location("sonportal_stack", ROOT / "bin" / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stack():
    return stack_module()


@pytest.fixture(scope="module")
def wallet(stack, tmp_path_factory):
    return tmp_path_factory.mktemp("demo") / "demo-hive-wallet.json"


@pytest.fixture(scope="module")
def node(stack, wallet):
    keys = stack.demo_hive_wallet(wallet)
    accounts = [stack.hive_federation_spec([son_public(n) for n in SONS], stack.HIVE_FEDERATION)]
    accounts += [stack.hive_user_spec(name, wif) for name, wif in keys.items()]
    node = start_hive_devnode(block_interval=0, irreversible_lag=h.LAG, accounts=accounts)
    node.generate_blocks(h.LAG + 1)
    yield node
    node.stop()


@pytest.fixture
def signers(stack, node, wallet, live_server, settings, tmp_path, monkeypatch):
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_FEDERATION_ACCOUNT = stack.HIVE_FEDERATION
    settings.HIVE_START_BLOCK = 1
    monkeypatch.setenv("DEMO_HIVE_WALLET_FILE", str(wallet))
    with node.rpc() as rpc:
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
    processes = h.signer_processes(
        portal_url=live_server.url,
        folder=tmp_path,
        names=SONS,
        hive=stack.hive_signer_section(chain_id, stack.HIVE_FEDERATION),
        network=settings.BITCOIN_NETWORK,
    )
    yield processes
    for process in processes.values():
        process.stop()


def test_the_federation_account_is_the_sons_multisig(stack, node):
    with node.rpc() as rpc:
        [account] = rpc.get_accounts([stack.HIVE_FEDERATION])
    assert account["active"]["weight_threshold"] == 2
    assert sorted(k for k, _ in account["active"]["key_auths"]) == sorted(map(son_public, SONS))
    assert account["owner"] == account["active"]


def test_a_demo_deposit_is_credited_and_a_withdrawal_signed_by_the_signers_lands(
    node, signers, user_carol
):
    h.set_hive_rates()
    call_command(
        "demo_hive", "deposit", "--user", "user_carol", "--account", "carol", "--wait", "0"
    )
    h.make_irreversible(node)
    tasks.hive_listen()
    deposit = HiveDeposit.objects.get(sender="carol")
    assert (deposit.status, deposit.user, deposit.amount) == ("credited", user_carol, 25_000)
    mapping = SidechainAddress.objects.active().for_user(user_carol).get(sidechain="hive")
    assert mapping.hive_account == "carol"
    assert balances_of(user_carol)["pHIVE"] == 25_000
    # Once credited, a second run with --once sends nothing.
    call_command("demo_hive", "deposit", "--user", "user_carol", "--account", "carol", "--once")
    assert HiveDeposit.objects.count() == 1

    before = hive_balance(node, "carol")
    withdrawal = hive_withdrawal_request(
        user=user_carol, pegged="pHIVE", amount_pegged=10_000, request_id="demo"
    )
    tasks.hive_withdrawals()
    htx = HiveTransaction.objects.get()
    for process in signers.values():
        process.start()
    wait_for(lambda: _status(htx) == "broadcast", signers, 30, "the broadcast")
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "settled"
    assert hive_balance(node, "carol") == before + 10_000
    assert balances_of(user_carol)["pHIVE"] == 15_000


def _status(htx: HiveTransaction) -> str:
    htx.refresh_from_db(fields=["status"])
    return htx.status
