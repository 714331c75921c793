"""A user deposits HIVE (a transfer on the dev node, memo from the deposits page) and withdraws
pHIVE through the withdrawals page, in Chromium at a desktop and a phone width."""

import datetime as dt

import pytest

from mappings.services import mapping_set_hive
from sidechains.hive import deposits, listener
from sidechains.hive.withdrawals import tracker
from sidechains.hive.withdrawals import transactions as txs
from sidechains.models import HiveDeposit, HiveTransaction
from signer.hive_journal import HiveJournal
from signer.hive_policy import HivePolicy, sign_hive_request
from sons.models import SON
from tests import fixtures
from tests.sidechains import hive_helpers as h
from tests.sidechains.test_hive_withdrawals import SONS, hive_balance, node  # noqa: F401
from tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_and_pay(node, tmp_path) -> None:  # noqa: F811
    """The portal batches; two SONs' signer code signs; the tracker sends and confirms."""
    with node.rpc() as rpc:
        htx = txs.hive_withdrawals_batch(rpc=rpc)
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
        text = rpc.get_dynamic_global_properties()["time"]
        authority = txs.federation_authority(rpc)
    assert isinstance(htx, HiveTransaction)
    now = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    policy = HivePolicy(
        chain_id=chain_id, federation_account=h.FEDERATION, daily_caps={"HIVE": 10**9}
    )
    for son in SON.objects.filter(name__in=SONS[:2]):
        journal = HiveJournal(tmp_path / f"{son.name}.sqlite")
        verdict = sign_hive_request(
            txs.hive_signing_request(htx),
            policy=policy,
            key=fixtures.son_key(son.name, "hive"),
            journal=journal,
            now=now,
        )
        journal.close()
        txs.hive_signature_submit(
            son=son, hive_tx_id=htx.pk, signature=verdict.signature, authority=authority
        )
    with node.rpc() as rpc:
        tracker.hive_withdrawals_track(rpc=rpc)
        h.make_irreversible(node)
        tracker.hive_withdrawals_track(rpc=rpc)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_user_deposits_hive_and_withdraws_phive(
    page,
    live_server,
    node,  # noqa: F811
    settings,
    tmp_path,
    width,
):
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
    settings.HIVE_TX_EXPIRATION = 600
    node.generate_blocks(h.LAG + 1)
    for name in SONS:
        fixtures.make_son(name)
    h.set_hive_rates()
    carol = fixtures.make_user("user_carol")
    account = h.new_sender(node, "carol")
    mapping_set_hive(user=carol, hive_account=account)
    with node.rpc() as rpc:
        listener.listener_scan(rpc=rpc)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "user_carol")

    page.goto(f"{live_server.url}/deposits/")
    memo = page.get_by_test_id("hive-deposit-memo").inner_text()
    assert memo == "to:user_carol"
    assert page.get_by_test_id("copy-hive-memo").is_visible()
    h.send(node, account, h.transfer_op(account, 5_000, memo=memo))  # the user's wallet
    h.make_irreversible(node)
    with node.rpc() as rpc:
        listener.listener_scan(rpc=rpc)
    deposits.hive_deposits_process()
    assert HiveDeposit.objects.get().status == "credited"
    stage = page.get_by_test_id("hive-stage")
    stage.wait_for(timeout=10_000)  # the table polls itself
    assert stage.inner_text().lower() == "credited"

    page.goto(f"{live_server.url}/withdrawals/")
    assert "5.000 pHIVE" in page.get_by_test_id("hive-balances").inner_text()
    page.select_option("#id_hive-asset", "pHIVE")
    page.fill("#id_hive-amount", "2.000")
    page.get_by_test_id("hive-withdrawal-preview").click()
    assert page.get_by_test_id("hive-preview-receive").inner_text() == "2.000 HIVE"
    assert page.get_by_test_id("hive-preview-account").inner_text() == f"@{account}"
    confirm = page.get_by_test_id("hive-withdrawal-confirm")
    box = confirm.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    confirm.click()
    assert page.get_by_test_id("hive-withdrawal-stage").inner_text().lower() == "requested"
    before = hive_balance(node, account)

    sign_and_pay(node, tmp_path)

    page.reload()
    assert page.get_by_test_id("hive-withdrawal-stage").inner_text().lower() == "settled"
    assert "3.000 pHIVE" in page.get_by_test_id("hive-balances").inner_text()
    assert hive_balance(node, account) == before + 2_000
