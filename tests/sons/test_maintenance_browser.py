"""Requesting maintenance asks first, stating what it does to signing (Chromium)."""

import pytest

from sons.models import SON
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_requesting_maintenance_states_its_consequence_and_asks(page, live_server, width):
    page.set_viewport_size(WIDTHS[width])
    son = fixtures.make_son("son-1")[0]
    fixtures.make_son("son-2")
    fixtures.make_son("son-3")
    log_in(page, live_server, "operator_son_1")
    page.goto(f"{live_server.url}/son/son-1/")
    consequence = "Requesting maintenance leaves 2 of 3 SONs active; signing needs 2."
    assert page.get_by_test_id("maintenance-consequence").inner_text() == consequence
    assert_fits(page)

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_test_id("request-maintenance").click()
    page.wait_for_timeout(300)
    assert asked == [f"{consequence} Request maintenance?"]
    assert SON.objects.get(pk=son.pk).status == SON.Status.ACTIVE  # said no: nothing changed

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("request-maintenance").click()
    page.get_by_test_id("cancel-maintenance").wait_for()
    assert SON.objects.get(pk=son.pk).status == SON.Status.REQUEST_MAINTENANCE
