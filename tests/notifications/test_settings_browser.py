"""The settings page in Chromium at desktop and phone widths: time zone and notifications."""

import pytest

from accounts.models import profile_of
from notifications.models import Notification
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_person_chooses_a_time_zone_and_their_mails(page, live_server, width):
    page.set_viewport_size(WIDTHS[width])
    carol = fixtures.make_user("user_carol")
    log_in(page, live_server, "user_carol")
    page.click("text=Account settings")
    page.click("text=Notifications and time zone")
    assert page.url == f"{live_server.url}/settings/"
    assert page.get_attribute("nav.subnav a[aria-current=page]", "href") == "/settings/"
    assert page.is_checked("input[value=deposit_credited]")  # everything is on by default
    always = page.locator("#always-destination-changed")  # a security notice, never muted
    assert always.is_checked() and always.is_disabled()
    assert "always sent" in page.get_by_test_id("always-on").inner_text()
    assert_fits(page)

    page.select_option("#id_time_zone", "Europe/Zurich")
    page.uncheck("input[value=deposit_seen]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()

    assert "Settings saved." in page.locator(".messages").inner_text()
    profile = profile_of(carol)
    assert profile.time_zone == "Europe/Zurich"
    assert profile.muted == [Notification.Kind.DEPOSIT_SEEN]
    assert not page.is_checked("input[value=deposit_seen]")
    assert page.locator("#always-destination-changed").is_checked()
    assert_fits(page)
