"""Every page people use passes the Content-Security-Policy in Chromium: no inline script or
style, nothing htmx or the admin's scripts do is blocked. The `page` fixture (tests/conftest.py)
collects violations; each page is checked as it is visited, so a failure names it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from proposals.models import Witness
from sidechains.models import ChainCursor
from sons.models import SON, Sidechain
from tests import fixtures
from tests.browser import log_in
from tests.proposals.helpers import make_down_son, make_witnesses, raise_deregistration
from tests.sidechains.deposit_helpers import (
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    set_btc_rate,
)
from tests.sidechains.withdrawal_helpers import credit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def visit(page, live_server, csp_violations, path: str) -> None:
    response = page.goto(f"{live_server.url}{path}")
    assert response is not None and response.status == 200, path
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")  # htmx's first requests, the admin's scripts
    page.wait_for_timeout(100)  # a violation report's way from the page to the test
    assert csp_violations == [], path


@pytest.fixture
def everyone(bitcoin, settings):
    """Each role with something to show: carol's deposit, a proposal, SONs, a chain cursor."""
    settings.HEALTH_BROKER_TIMEOUT = 1
    fixtures.make_user("admin", staff=True)
    make_federation(3)
    set_btc_rate("1")
    carol = fixtures.make_user("user_carol", second_factor=True)
    make_deposit(make_bitcoin_mapping(carol), bitcoin, amount=20_000_000)
    credit(carol, 1_000_000)
    make_witnesses(1, 1, 1)
    son = make_down_son("son-4", silent_since=timezone.now() - timedelta(hours=13))
    proposal = raise_deregistration(son, timezone.now())
    cursor = ChainCursor.objects.create(chain=Sidechain.BITCOIN, height=0, recent=[])
    return {"proposal": proposal, "cursor": cursor}


def test_public_and_user_pages_pass_the_policy(page, live_server, csp_violations, everyone):
    for path in ("/login/", "/rates/", "/sons/", "/reserves/"):
        visit(page, live_server, csp_violations, path)
    log_in(page, live_server, "user_carol")
    for path in ("/account/", "/addresses/", "/addresses/bitcoin/deposit/", "/deposits/"):
        visit(page, live_server, csp_violations, path)
    visit(page, live_server, csp_violations, "/withdrawals/")
    page.fill("#id_amount", "0.0002")  # the htmx form swaps in its preview
    page.get_by_test_id("withdrawal-preview").click()
    page.get_by_test_id("preview").wait_for()
    page.wait_for_timeout(100)
    assert csp_violations == []


def test_witness_and_operator_pages_pass_the_policy(page, live_server, csp_violations, everyone):
    log_in(page, live_server, "witness_alice")
    proposal = everyone["proposal"]
    for path in ("/proposals/", f"/proposals/{proposal.pk}/"):
        visit(page, live_server, csp_violations, path)
    page.locator(f'[data-testid="proposal-{proposal.pk}"] [data-testid="approve"]').click()
    page.locator(f'[data-testid="proposal-{proposal.pk}"] [data-testid="revoke"]').wait_for()
    page.click("header .who button[type=submit]")
    log_in(page, live_server, "operator_son_1")
    for path in ("/son/", "/son/son-1/"):
        visit(page, live_server, csp_violations, path)


def test_the_admin_pages_pass_the_policy(page, live_server, csp_violations, everyone):
    log_in(page, live_server, "admin")
    page.get_by_test_id("status-table").wait_for()  # htmx swapped the status panel in
    son = SON.objects.get(name="son-1")
    witness = Witness.objects.get(user__username="witness_alice")
    cursor = everyone["cursor"]
    for path in (
        "/admin/",
        "/admin/status/",
        "/admin/sons/son/",
        f"/admin/sons/son/{son.pk}/change/",
        "/admin/sidechains/deposit/",
        "/admin/sidechains/rescanjob/",
        f"/admin/sidechains/chaincursor/{cursor.pk}/change/",
        f"/admin/sidechains/chaincursor/{cursor.pk}/rescan/",
        f"/admin/proposals/witness/{witness.pk}/change/",  # an autocomplete widget
        "/admin/auth/user/add/",
    ):
        visit(page, live_server, csp_violations, path)


def test_it_notices_a_violation(page, live_server, csp_violations):
    """The watch itself: an inline style the policy blocks is reported."""
    visit(page, live_server, csp_violations, "/login/")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)
    assert any("style-src" in v for v in csp_violations), csp_violations
    csp_violations.clear()
