"""Two witnesses approve a deregistration in Chromium; the public status grid then shows it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sons.models import SON
from tests import fixtures
from tests.browser import log_in
from tests.proposals.helpers import make_down_son, make_witnesses, raise_deregistration

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_out(page) -> None:
    page.click("header .who button[type=submit]")
    page.wait_for_load_state()


def test_two_witnesses_deregister_a_silent_son(page, live_server):
    make_witnesses(1, 1, 1)
    fixtures.make_son("son-2")
    son = make_down_son("son-1", silent_since=timezone.now() - timedelta(hours=13))
    proposal = raise_deregistration(son, timezone.now())
    card = f'[data-testid="proposal-{proposal.pk}"]'

    log_in(page, live_server, "witness_alice")
    assert page.url == f"{live_server.url}/proposals/"
    page.locator(f'{card} [data-testid="approve"]').click()  # htmx swaps the card
    page.locator(f'{card} [data-testid="revoke"]').wait_for()
    assert page.locator(f'{card} [data-testid="approved-weight"]').inner_text() == "1"
    assert page.locator(f'{card} [data-testid="proposal-status"]').inner_text() == "Open"
    # Swapped in place, no page load: no "You approved" message (the login's own is still there).
    assert "You approved" not in page.locator("main").inner_text()
    log_out(page)

    log_in(page, live_server, "witness_bob")
    assert "son-1" in page.locator(f"{card} [data-testid=evidence]").inner_text()
    page.locator(f'{card} [data-testid="approve"]').click()
    status = page.locator(f'{card} [data-testid="proposal-status"]')
    status.filter(has_text="Executed").wait_for()
    assert page.locator(f'{card} [data-testid="approved-weight"]').inner_text() == "2"
    result = page.locator(f'{card} [data-testid="proposal-result"]').inner_text()
    assert result == "SON son-1 deregistered"
    log_out(page)

    page.goto(f"{live_server.url}/sons/")  # public: no login
    assert page.get_by_test_id("son-status-son-1").inner_text() == "Deregistered"
    assert page.get_by_test_id("son-status-son-2").inner_text() == "Active"
    son.refresh_from_db()
    assert son.status == SON.Status.DEREGISTERED
