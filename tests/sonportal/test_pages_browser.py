"""Every page, for every role, in Chromium at desktop (1280) and phone (390x844) widths: no
sideways scrolling (the document is no wider than the viewport) and no serious or critical
accessibility violation by axe-core."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, axe_serious, log_in
from tests.proposals.helpers import make_down_son, make_witnesses, raise_deregistration
from tests.sidechains.deposit_helpers import (
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    set_btc_rate,
)
from tests.sidechains.withdrawal_helpers import credit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PUBLIC = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/rates/",
    "/sons/",
    "/status/",
    "/reserves/",
]
USER = [
    "/account/",
    "/account/statement/",
    "/addresses/",
    "/addresses/bitcoin/deposit/",
    "/deposits/",
    "/withdrawals/",
    "/settings/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/2fa/",
    "/accounts/sessions/",
]


@pytest.fixture
def world(bitcoin, settings):
    """Something on every page: carol's deposit and balance, a proposal, SONs."""
    make_federation(3)
    set_btc_rate("1")
    carol = fixtures.make_user("user_carol")
    deposit = make_deposit(make_bitcoin_mapping(carol), bitcoin, amount=20_000_000)
    credit(carol, 1_000_000)
    withdrawal = withdrawal_request(user=carol, amount_pegged=30_000, request_id="w-1")
    make_witnesses(1, 1, 1)
    son = make_down_son("son-4", silent_since=timezone.now() - timedelta(hours=13))
    details = [f"/deposits/{deposit.pk}/", f"/withdrawals/{withdrawal.pk}/"]
    return {"proposal": raise_deregistration(son, timezone.now()), "details": details}


def check(page, live_server, path: str) -> list[str]:
    response = page.goto(f"{live_server.url}{path}")
    assert response is not None and response.status == 200, path
    page.wait_for_load_state("networkidle")
    problems = []
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if wide > 0:
        problems.append(f"{path}: {wide} px wider than the viewport")
    problems += [f"{path}: {v}" for v in axe_serious(page)]
    return problems


@pytest.mark.parametrize("width", list(WIDTHS))
def test_public_and_user_pages_fit_and_pass_axe(page, live_server, world, width):
    page.set_viewport_size(WIDTHS[width])
    problems = [p for path in PUBLIC for p in check(page, live_server, path)]
    log_in(page, live_server, "user_carol")
    paths = USER + world["details"]
    problems += [p for path in paths for p in check(page, live_server, path)]
    assert problems == []


@pytest.mark.parametrize("width", list(WIDTHS))
def test_witness_and_operator_pages_fit_and_pass_axe(page, live_server, world, width):
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live_server, "witness_alice")
    paths = ["/proposals/", f"/proposals/{world['proposal'].pk}/"]
    problems = [p for path in paths for p in check(page, live_server, path)]
    page.click("header .who button[type=submit]")
    log_in(page, live_server, "operator_son_1")
    problems += [p for path in ("/son/", "/son/son-1/") for p in check(page, live_server, path)]
    assert problems == []


def test_the_width_check_notices_a_wide_page(page, live_server):
    page.set_viewport_size(WIDTHS["phone"])
    page.goto(f"{live_server.url}/rates/")
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<pre>' + 'x'.repeat(500) + '</pre>')"
    )
    with pytest.raises(AssertionError, match="wider than the viewport"):
        assert_fits(page)


def test_axe_notices_a_serious_violation(page, live_server):
    page.goto(f"{live_server.url}/rates/")
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=x>')")
    assert any(v["id"] == "image-alt" for v in axe_serious(page))


def test_the_phone_menu_opens_and_the_page_says_its_network(page, live_server, user_carol):
    page.set_viewport_size(WIDTHS["phone"])
    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/deposits/")
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    nav = page.locator("#site-nav")
    assert not nav.is_visible()  # collapsed on a phone
    page.get_by_test_id("menu-toggle").click()
    assert nav.is_visible()
    assert page.get_attribute("[data-testid=menu-toggle]", "aria-expanded") == "true"
    assert nav.locator("a[aria-current=page]").inner_text() == "Deposits"
    assert page.get_by_test_id("network-badge").inner_text().lower() == "regtest"
    page.set_viewport_size(WIDTHS["desktop"])
    assert not page.get_by_test_id("menu-toggle").is_visible()
    assert nav.is_visible()


def test_copy_buttons_copy_the_deposit_address(page, live_server, browser, world):
    browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/addresses/bitcoin/deposit/")
    address = page.get_by_test_id("deposit-address").inner_text()
    page.get_by_role("button", name="Copy the deposit address").click()
    page.locator("button.copy.copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == address


ADMIN = ["/admin/", "/admin/status/", "/admin/sidechains/deposit/", "/admin/sons/son/"]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_admin_pages_fit_and_pass_axe(page, live_server, world, width, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    fixtures.make_administrator("admin")
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live_server, "admin")
    assert [p for path in ADMIN for p in check(page, live_server, path)] == []
