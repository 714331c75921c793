"""Deposits seen in the mempool of a real bcoin node: shown to their depositor as "seen, 0 of N
confirmations" with an estimate, never recorded as a Deposit until a block holds them."""

import pytest
from bitcoin.core import b2lx
from django.urls import reverse
from playwright.sync_api import expect

from sidechains.bitcoin import mempool
from sidechains.bitcoin.listener import listener_scan
from sidechains.bitcoin.mempool import mempool_scan
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.models import Deposit, MempoolDeposit
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation


@pytest.fixture
def rpc(chain, settings):
    settings.BITCOIN_CONFIRMATIONS = [(10_000_000, 3), (None, 6)]
    client = bitcoin_rpc()
    settings.BITCOIN_START_HEIGHT = client.get_block_count() + 1
    yield client
    client.close()


@pytest.mark.django_db
def test_a_deposit_in_the_mempool_is_shown_until_a_block_holds_it(rpc, chain, client):
    make_federation(3)
    carol = fixtures.make_user("user_carol")
    mapping = make_bitcoin_mapping(carol)
    tx = chain.send([(bytes(mapping.deposit_script_pubkey), 5_000_000)])
    txid = b2lx(tx.GetTxid())
    chain.send(
        [(bytes(make_bitcoin_mapping(fixtures.make_user("user_dave")).deposit_script_pubkey), 1)]
    )

    assert mempool_scan(rpc=rpc) == 2
    seen = MempoolDeposit.objects.get(user=carol)
    assert (seen.txid, seen.vout, seen.amount) == (txid, 0, 5_000_000)
    assert seen.confirmations_required == 3
    assert mempool_scan(rpc=rpc) == 0  # each transaction is read once
    assert not Deposit.objects.exists()  # nothing is owed for a transaction in no block

    client.force_login(carol)
    page = client.get(reverse("sidechains-deposits")).content.decode()
    row = page.split(f'data-testid="mempool-{txid}-0"')[1].split("</tr>")[0]
    assert 'seen, <span class="progress-text">0 of 3 confirmations</span>' in row
    assert "0.05000000 BTC" in row
    assert "credited in about 30 min" in row
    assert 'data-testid="no-deposits"' not in page

    chain.mine(1)
    listener_scan(rpc=rpc, max_blocks=100)
    assert Deposit.objects.get(user=carol).txid == txid
    # Mined: out of the mempool, and the page shows the deposit itself.
    assert mempool_scan(rpc=rpc) == 0
    assert not MempoolDeposit.objects.filter(txid=txid).exists()
    page = client.get(reverse("sidechains-deposits")).content.decode()
    assert 'data-testid="mempool-deposits"' not in page


@pytest.mark.django_db
def test_a_busy_mempool_is_read_in_chunks_and_rounds(rpc, chain, monkeypatch):
    """The cache is asked a chunk of txids at a time and a round reads at most its share of
    new transactions: every deposit is still seen, over several rounds, each once."""
    make_federation(3)
    mapping = make_bitcoin_mapping(fixtures.make_user("user_carol"))
    for amount in (10_000, 20_000, 30_000, 40_000, 50_000):
        chain.send([(bytes(mapping.deposit_script_pubkey), amount)])
    monkeypatch.setattr(mempool, "SEEN_LOOKUP", 2)
    in_mempool = len(rpc.call("getrawmempool"))

    rounds = [mempool_scan(rpc=rpc, read_per_round=2) for _ in range(in_mempool // 2 + 2)]

    assert sum(rounds) == 5 and max(rounds) <= 2
    amounts = sorted(MempoolDeposit.objects.values_list("amount", flat=True))
    assert amounts == [10_000, 20_000, 30_000, 40_000, 50_000]
    chain.mine(1)
    assert mempool_scan(rpc=rpc) == 0
    assert not MempoolDeposit.objects.exists()  # all mined: every row forgotten


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_depositor_sees_it_coming_in_chromium(rpc, chain, page, live_server, width):
    make_federation(3)
    carol = fixtures.make_user("user_carol")
    mapping = make_bitcoin_mapping(carol)
    tx = chain.send([(bytes(mapping.deposit_script_pubkey), 20_000_000)])  # needs 6
    mempool_scan(rpc=rpc)
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live_server, "user_carol", next_path="/deposits/")
    row = page.get_by_test_id(f"mempool-{b2lx(tx.GetTxid())}-0")
    expect(row.get_by_test_id("mempool-confirmations")).to_have_text("seen, 0 of 6 confirmations")
    expect(row.get_by_test_id("mempool-estimate")).to_contain_text("about 60 min")
    assert_fits(page)
    chain.mine(1)  # leave the mempool empty for the module's other tests
