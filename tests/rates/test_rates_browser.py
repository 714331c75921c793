"""Administrators change rates on the rates page in Chromium; everybody else only reads them."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rates.assets import Pair
from rates.models import ExchangeRate, rate_in_force
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, axe_serious, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded"),
]


def test_it_lets_an_administrator_change_a_rate(page, live_server):
    admin = fixtures.make_administrator("admin")
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/rates/")
    chart = page.get_by_test_id("chart-btc-pbtc")
    expect(chart).to_have_attribute("data-steps", "1")

    page.select_option("#id_pair", "BTC/pBTC")
    page.fill("#id_rate", "0.995")
    page.fill("#id_amount", "2")
    # The live preview, rendered by the server as the administrator types.
    expect(page.get_by_test_id("preview-pegged")).to_have_text("2.00000000 BTC → 1.99000000 pBTC")
    expect(page.get_by_test_id("preview-sidechain")).to_have_text(
        "2.00000000 pBTC → 2.01005025 BTC"
    )
    page.fill("#id_rate", "0")
    expect(page.get_by_test_id("preview-errors")).to_have_text(
        "The rate must be greater than zero."
    )
    page.fill("#id_rate", "0.995")
    page.fill("#id_note", "exchange fee")
    page.get_by_test_id("rate-submit").click()

    expect(page.get_by_test_id("rate-created")).to_contain_text("Rate set: BTC/pBTC 0.99500000")
    expect(page.get_by_test_id("current-btc-pbtc")).to_have_text("0.99500000")
    newest = page.get_by_test_id("history-btc-pbtc").locator("tbody tr").first
    expect(newest).to_contain_text("0.99500000")
    expect(newest).to_contain_text("in force")
    expect(newest).to_contain_text("exchange fee")
    expect(chart).to_have_attribute("data-steps", "2")
    expect(chart.locator("circle")).to_have_count(2)
    expect(chart.locator("polyline")).to_have_attribute("points", re.compile(r"^(\S+ ){3}\S+$"))
    # Other pairs are untouched.
    expect(page.get_by_test_id("chart-hive-phive")).to_have_attribute("data-steps", "1")

    row = rate_in_force(Pair.BTC_PBTC)
    assert (row.rate, row.set_by, row.note) == (Decimal("0.995"), admin, "exchange fee")


def test_it_shows_a_bad_rate_in_the_form_and_saves_nothing(page, live_server):
    fixtures.make_administrator("admin")
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/rates/")
    before = ExchangeRate.objects.count()
    page.fill("#id_rate", "1.123456789")
    page.get_by_test_id("rate-submit").click()
    expect(page.get_by_test_id("errors-rate")).to_have_text("A rate has at most 8 decimal places.")
    assert ExchangeRate.objects.count() == before


def test_it_shows_a_user_the_rates_but_no_form_and_refuses_their_post(page, live_server):
    fixtures.make_user("user_carol")
    log_in(page, live_server, "user_carol")
    page.click("header nav >> text=Rates")
    expect(page.get_by_test_id("current-btc-pbtc")).to_have_text("1.00000000")
    expect(page.get_by_test_id("chart-hbd-phbd")).to_have_attribute("data-steps", "1")
    expect(page.get_by_test_id("rate-form")).to_have_count(0)

    before = ExchangeRate.objects.count()
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": csrf, "Referer": f"{live_server.url}/rates/"}
    form = {"pair": "BTC/pBTC", "rate": "2"}
    assert (
        page.request.post(f"{live_server.url}/rates/new/", form=form, headers=headers).status == 403
    )
    api = {**form, "request_id": "carol-1"}
    assert (
        page.request.post(f"{live_server.url}/api/v1/rates", data=api, headers=headers).status
        == 403
    )
    assert ExchangeRate.objects.count() == before


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_chart_has_a_time_axis_a_range_and_shows_a_value_on_hover(page, live_server, width):
    now = timezone.now()
    for days, rate in ((40, "0.99"), (10, "0.995")):
        ExchangeRate.objects.create(
            pair=Pair.BTC_PBTC, rate=Decimal(rate), valid_from=now - timedelta(days=days)
        )
    page.set_viewport_size(WIDTHS[width])
    page.goto(f"{live_server.url}/rates/")
    chart = page.get_by_test_id("chart-btc-pbtc")
    # 30 days: the rate in force 30 days ago from the left edge, then the change 10 days ago.
    expect(chart).to_have_attribute("data-steps", "2")
    expect(chart.get_by_test_id("tick")).to_have_count(5)
    expect(page.get_by_test_id("range-30d")).to_have_attribute("aria-current", "true")

    # Hovering the last step shows its time and rate under the chart (chart.js, a static file).
    tip = page.get_by_test_id("tip-btc-pbtc")
    chart.locator(".chart-hit").last.hover()
    expect(tip).to_contain_text("0.99500000")
    expect(tip).to_contain_text(f"{now - timedelta(days=10):%Y-%m-%d}")
    chart.locator(".chart-hit").first.hover()
    expect(tip).to_have_text(re.compile(r"UTC: 0\.99000000$"))
    # The keyboard reads the steps too.
    chart.focus()
    page.keyboard.press("ArrowRight")
    expect(tip).to_contain_text("0.99500000")

    page.get_by_test_id("range-all").click()
    expect(page.get_by_test_id("range-all")).to_have_attribute("aria-current", "true")
    expect(chart).to_have_attribute("data-steps", "3")  # the seed of 2000 as well
    page.get_by_test_id("range-7d").click()
    expect(chart).to_have_attribute("data-steps", "1")
    assert_fits(page)
    assert axe_serious(page) == []
