"""Each role logs in through the real login page in Chromium and lands on its home page."""

import pytest

from tests import fixtures
from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("username", "path", "title"),
    [
        ("user_carol", "/account/", "Your account"),
        ("witness_alice", "/proposals/", "Witness desk"),
        ("operator_son_1", "/son/", "Your SONs"),
    ],
)
def test_it_lands_each_role_on_its_home_page(page, live_server, username, path, title):
    fixtures.make_user("user_carol")
    fixtures.make_witness("witness_alice")
    fixtures.make_son("son-1")
    log_in(page, live_server, username)
    assert page.url == f"{live_server.url}{path}"
    assert page.get_by_test_id("home-title").inner_text() == title
    assert page.get_by_test_id("username").inner_text() == username


def test_it_lands_an_administrator_on_the_admin_with_the_status_panel(page, live_server, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    fixtures.make_administrator("admin")
    log_in(page, live_server, "admin")
    assert page.url == f"{live_server.url}/admin/"
    # htmx loads the status panel into the admin index.
    table = page.get_by_test_id("status-table")
    table.wait_for(timeout=15000)
    assert "database" in table.inner_text()
    assert page.locator("tr.health-down").count() >= 1  # no bcoin, no beat here


def test_it_refuses_a_wrong_password(page, live_server):
    fixtures.make_user("user_carol")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_login", "user_carol")
    page.fill("#id_password", "wrong")
    page.click("form button[type=submit]")
    assert "not correct" in page.get_by_role("alert").inner_text()
    assert page.url.startswith(f"{live_server.url}/accounts/login/")


def test_it_shows_an_operator_their_son_page(page, live_server):
    son, _ = fixtures.make_son("son-1")
    log_in(page, live_server, "operator_son_1")
    page.click("text=son-1")
    assert page.url == f"{live_server.url}/son/son-1/"
    assert son.public_key("bitcoin") in page.content()
