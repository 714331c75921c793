"""In Chromium, at desktop and phone widths: a user downloads their proof from the account
page and it verifies; they send tokens to another user on the transfer pages, copying the
message and pasting a signature."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.models import AuditRecord
from ledger.services import balances_of
from proofs.verify import verify
from rates.assets import Asset
from solvency.epochs import epoch_create
from solvency.models import Epoch, Transfer
from tests import fixtures
from tests.solvency.helpers import credit
from tests.solvency.test_transfers import _registered, _sign
from tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def world():
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    carol, dave = fixtures.make_user("user_carol"), fixtures.make_user("user_dave")
    key = _registered(carol)
    credit(carol, Asset.PBTC, 500_000)
    credit(dave, Asset.PHIVE, 7_000)
    return carol, dave, key


def _fits(page) -> None:
    """Nothing wider than the screen: no sideways scrolling of the page itself."""
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll-x')"
        " && e.getBoundingClientRect().right"
        " > window.innerWidth).map(e => e.tagName + '.' + e.className + ' '"
        " + e.getBoundingClientRect().right).slice(0, 8)"
    )
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], (sizes, wide)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_user_downloads_their_proof_and_it_verifies(page, live_server, world, width):
    carol, _, _ = world
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    epoch = epoch_create()
    log_in(page, live_server, "user_carol")
    proofs = page.get_by_test_id("account-proofs")
    assert epoch.root in proofs.inner_text()
    _fits(page)
    with page.expect_download() as download:
        page.get_by_test_id("account-proof").click()
    assert download.value.suggested_filename == "proof-epoch-1.json"
    proof = json.loads(Path(download.value.path()).read_text())
    proven = verify(proof, epoch.root)
    assert proven.account == f"user:{carol.pk}"
    assert proven.amounts["pBTC"] == 500_000

    page.goto(f"{live_server.url}/epochs/")
    assert page.get_by_test_id("epoch-1").is_visible()
    _fits(page)
    page.goto(f"{live_server.url}/epochs/1/")
    assert page.get_by_test_id("epoch-root").inner_text() == epoch.root
    _fits(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_user_signs_and_sends_a_transfer(page, browser, live_server, world, width):
    carol, dave, key = world
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    browser.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server, "user_carol")
    page.get_by_test_id("account-transfer").click()
    assert page.get_by_test_id("transfer-title").is_visible()
    _fits(page)

    page.fill("#id_receiver", "user_dave")
    page.select_option("#id_asset", "pBTC")
    page.fill("#id_amount", "0.0015")
    page.get_by_test_id("transfer-prepare").click()
    page.get_by_test_id("transfer-sign-title").wait_for()
    prepared = Transfer.objects.get()
    shown = page.get_by_test_id("transfer-message").input_value()
    assert shown == prepared.message
    _fits(page)

    page.get_by_test_id("transfer-copy").click()
    # Polled from Python: a predicate string would be eval'd in a page whose CSP forbids eval.
    expect(page.get_by_test_id("transfer-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == prepared.message

    page.fill("#id_signature", _sign(key, shown))
    page.get_by_test_id("transfer-send").click()
    page.get_by_test_id("transfer-title").wait_for()
    assert "Sent 0.00150000 pBTC to user_dave." in page.content()
    assert "0.00150000 pBTC" in page.get_by_test_id("transfers").inner_text()
    assert balances_of(dave)[Asset.PBTC] == 150_000

    # The same signature again, on the done transfer's page: nothing more moves.
    page.goto(f"{live_server.url}{prepared.get_absolute_url()}")
    assert page.get_by_test_id("transfer-done").is_visible()
    assert balances_of(carol)[Asset.PBTC] == 350_000


@pytest.mark.parametrize("width", WIDTHS)
def test_an_administrator_publishes_an_epoch_with_a_reason(page, live_server, world, width):
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    fixtures.make_administrator("admin")
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/epochs/")
    assert page.get_by_test_id("no-epochs").is_visible()
    _fits(page)
    page.fill("#epoch-reason", "before the quarterly audit")
    page.get_by_test_id("epoch-create-submit").click()
    page.get_by_test_id("epoch-1").wait_for()
    epoch = Epoch.objects.get()
    assert epoch.root in page.get_by_test_id("epoch-1").inner_text()
    assert f"Epoch 1 published, root {epoch.root}." in page.content()
    assert AuditRecord.objects.get(action="epoch.created").reason == "before the quarterly audit"
    _fits(page)
