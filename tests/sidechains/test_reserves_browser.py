"""In Chromium, at desktop and phone widths, anonymous: /reserves lists the federation's
coins with their versions and the margin, pages the list, and fits the screen; /status/ shows
the reserves summary and links to it."""

import pytest
from playwright.sync_api import expect

from chains.bitcoin.federation import deposit_witness_script, federation_witness_script
from sidechains.models import CircuitBreaker, ReservesCheck, ReservesCoin
from sidechains.reserves_views import PAGE
from solvency.epochs import epoch_create
from sons.federation import federation_current
from tests import fixtures
from tests.browser import WIDTHS, assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reserves():
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    version = federation_current()
    keys = [bytes.fromhex(k) for k in version.keys]
    user_key = fixtures.son_key("someone").public_key.format()
    deposit = deposit_witness_script(keys, user_key, 1008)
    coins = [
        ReservesCoin(
            txid=f"{i:064x}",
            vout=i % 3,
            amount=100_000 + i,
            witness_script=deposit if i % 2 else federation_witness_script(keys),
            height=500 + i,
            version=version,
        )
        for i in range(PAGE + 5)
    ]
    ReservesCoin.objects.bulk_create(coins)
    total = sum(c.amount for c in coins)
    ReservesCheck.objects.create(
        chain="bitcoin", height=600, reserves=total, liabilities=total + 1_000
    )
    CircuitBreaker.objects.create(chain="bitcoin", tripped=True, reason="short")
    epoch_create()
    return version, coins


@pytest.mark.parametrize("width", WIDTHS)
def test_anyone_reads_the_reserves_page(page, live_server, reserves, width):
    version, coins = reserves
    page.set_viewport_size(WIDTHS[width])
    page.goto(f"{live_server.url}/reserves/")
    expect(page.get_by_test_id("reserves-title")).to_be_visible()
    expect(page.get_by_test_id("coin")).to_have_count(PAGE)
    expect(page.get_by_test_id("bitcoin-margin")).to_contain_text("-0.00001000 BTC")
    expect(page.get_by_test_id("bitcoin-breaker")).to_contain_text("tripped")
    expect(page.get_by_test_id("versions")).to_contain_text(version.keys[0])
    expect(page.get_by_test_id("reserves-epoch")).to_contain_text("not anchored on Bitcoin yet")
    assert_fits(page)

    page.get_by_test_id("pager-next").click()
    expect(page.get_by_test_id("coin")).to_have_count(5)
    expect(page.get_by_test_id("coin-outpoint").last).to_contain_text(coins[-1].txid)
    assert_fits(page)

    page.goto(f"{live_server.url}/status/")
    summary = page.get_by_test_id("status-reserves")
    expect(summary).to_contain_text(f"{len(coins)} coins")
    expect(summary).to_contain_text("tripped")
    assert_fits(page)
    summary.get_by_role("link").click()
    expect(page.get_by_test_id("reserves-title")).to_be_visible()
