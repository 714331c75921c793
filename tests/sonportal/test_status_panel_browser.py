"""The status panel for the person on call, in Chromium at 1280 and 390 px: htmx loads it into
the admin index, it fits, its figures link to their admin lists, and it says when it is stale."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sonportal import health
from sonportal.models import HealthReport
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, axe_serious, log_in
from tests.sonportal.status_helpers import oncall_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_shows_the_on_call_figures_and_links_to_their_lists(
    page, live_server, bitcoin, settings, width
):
    settings.HEALTH_BROKER_TIMEOUT = 1
    oncall_world(bitcoin)
    health.health_record()
    fixtures.make_administrator("admin")
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live_server, "admin")

    oncall = page.get_by_test_id("oncall-table")  # htmx swapped the panel into /admin/
    expect(oncall).to_be_visible()
    expect(page.get_by_test_id("status-checked-at")).to_contain_text("Checked at")
    expect(page.get_by_test_id("oncall-withdrawals")).to_contain_text("3, 0.00300000 BTC")
    expect(page.get_by_test_id("oncall-refunds")).to_contain_text("2, 0.00020001 BTC")
    assert_fits(page)
    assert axe_serious(page) == []
    page.get_by_test_id("oncall-withdrawals").get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/admin/sidechains/withdrawal/"
                             "?status__exact=batched&chain__exact=bitcoin")  # fmt: skip
    expect(page.locator("#result_list tbody tr")).to_have_count(3)

    HealthReport.objects.update(checked_at=timezone.now() - timedelta(minutes=5))
    page.goto(f"{live_server.url}/admin/status/")
    expect(page.get_by_test_id("status-checked-at")).to_contain_text("stale")
    assert_fits(page)
