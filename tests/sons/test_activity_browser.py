"""A SON's operator reads what the SON did, on its page and on the status grid, in Chromium at
both widths: the table fits a phone and has no serious accessibility violation."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import fixtures
from tests.browser import WIDTHS, assert_fits, axe_serious, log_in
from tests.sons.test_activity import sign_and_refuse
from tests.sons.test_son_api import post_heartbeat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_operator_reads_uptime_signatures_refusals_and_heartbeats(page, live_server, width):
    son, token = fixtures.make_son("son-1")
    son.status_changes.create(
        old_status="active",
        new_status="in_maintenance",
        reason="test",
        created_at=timezone.now() - timedelta(hours=3),
    )
    son.status_changes.create(
        old_status="in_maintenance",
        new_status="active",
        reason="test",
        created_at=timezone.now() - timedelta(hours=2),
    )
    type(son).objects.filter(pk=son.pk).update(created_at=timezone.now() - timedelta(days=2))
    sign_and_refuse(son, 0, timezone.now())
    assert post_heartbeat(token, fixtures.heartbeat_body(son)).status_code == 200
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live_server, "operator_son_1", next_path="/son/son-1/")

    table = page.get_by_test_id("son-activity-table")
    # Down one hour of the last 24.
    expect(page.get_by_test_id("activity-uptime")).to_contain_text("95.83 %")
    expect(page.get_by_test_id("activity-bitcoin_signed")).to_contain_text("2")
    expect(page.get_by_test_id("activity-heartbeats")).to_contain_text("1")
    expect(page.get_by_test_id("son-refusal-reasons")).to_contain_text("Fee above their limit: 1")
    assert table.is_visible()
    assert_fits(page)
    assert axe_serious(page) == []

    page.goto(f"{live_server.url}/sons/")
    expect(page.get_by_test_id("uptime-son-1-1")).to_have_text("95.83 %")
    assert_fits(page)
    assert axe_serious(page) == []
