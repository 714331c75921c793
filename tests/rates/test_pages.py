from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from rates.assets import Pair
from rates.models import ExchangeRate, rate_in_force

pytestmark = pytest.mark.usefixtures("seeded")

LIST = reverse("rates-list")
CREATE = reverse("rates-create")
PREVIEW = reverse("rates-preview")
HTMX = {"headers": {"HX-Request": "true"}}


def post(client, htmx=False, **data):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(CREATE, {"pair": "BTC/pBTC", "rate": "0.995", **data}, headers=headers)


def test_it_shows_rates_history_and_charts_to_anonymous_visitors(client):
    response = client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    for pair in Pair:
        assert f'data-testid="current-{pair.slug}">1.00000000<' in page
        assert f'data-testid="chart-{pair.slug}"' in page
        assert f'data-testid="history-{pair.slug}"' in page
    assert 'data-testid="rate-form"' not in page


def test_it_shows_users_rates_but_no_form(client, user_carol):
    client.force_login(user_carol)
    page = client.get(LIST).content.decode()
    assert 'data-testid="current-btc-pbtc"' in page
    assert 'data-testid="rate-form"' not in page


def test_it_shows_administrators_the_form(client, admin_user):
    client.force_login(admin_user)
    page = client.get(LIST).content.decode()
    assert 'data-testid="rate-form"' in page
    assert f'action="{CREATE}"' in page and 'method="post"' in page
    assert "csrfmiddlewaretoken" in page


def test_it_sets_a_rate_with_a_plain_post_and_redirects(client, admin_user):
    client.force_login(admin_user)
    response = post(client, note="fees")
    assert response.status_code == 302
    assert response["Location"] == LIST
    row = rate_in_force(Pair.BTC_PBTC)
    assert (row.rate, row.set_by, row.note) == (Decimal("0.995"), admin_user, "fees")
    page = client.get(LIST).content.decode()
    assert "Rate set: BTC/pBTC 0.99500000" in page
    assert 'data-steps="2"' in page


def test_it_sets_a_rate_with_htmx_and_returns_the_board(client, admin_user):
    client.force_login(admin_user)
    response = post(client, htmx=True)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="rates-board"')
    assert "<html" not in fragment
    assert 'data-testid="rate-created"' in fragment
    assert 'data-testid="current-btc-pbtc">0.99500000<' in fragment


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"rate": "0"}, "rate", "The rate must be greater than zero."),
        ({"rate": "-1"}, "rate", "The rate cannot be negative."),
        ({"rate": "NaN"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": "abc"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": ""}, "rate", "This field is required."),
        ({"rate": "12345"}, "rate", "A rate has at most 4 digits before the point."),
        ({"rate": "1234567890.123"}, "rate", "A rate has at most 4 digits before the point."),
        ({"rate": "0.123456789"}, "rate", "A rate has at most 8 decimal places."),
        ({"amount": "1e999999999"}, "amount", "Enter the amount as a decimal number"),
        ({"pair": "ETH/pETH"}, "pair", "Select a valid choice."),
        ({"valid_from": "2001-01-01T00:00"}, "valid_from", "cannot take effect in the past"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_it_refuses_bad_input_with_a_clear_message(client, admin_user, data, field, message, htmx):
    client.force_login(admin_user)
    before = ExchangeRate.objects.count()
    response = post(client, htmx=htmx, **data)
    assert response.status_code == (200 if htmx else 400)  # htmx swaps only 2xx answers
    page = response.content.decode()
    assert ("<html" not in page) == htmx  # htmx gets the board fragment only
    assert f'data-testid="errors-{field}"' in page
    assert page.count(message) == 1
    assert ExchangeRate.objects.count() == before


def test_it_refuses_a_second_rate_at_the_same_instant(client, admin_user):
    client.force_login(admin_user)
    post(client, valid_from="2999-01-01T00:00")
    before = ExchangeRate.objects.count()
    page = post(client, rate="1.01", valid_from="2999-01-01T00:00").content.decode()
    assert "already has a rate taking effect at 2999-01-01 00:00:00 UTC" in page
    assert ExchangeRate.objects.count() == before


def test_it_refuses_users(client, user_carol):
    client.force_login(user_carol)
    before = ExchangeRate.objects.count()
    assert post(client).status_code == 403
    assert post(client, htmx=True).status_code == 403
    assert client.get(PREVIEW, {"pair": "BTC/pBTC", "rate": "1"}).status_code == 403
    assert ExchangeRate.objects.count() == before


def test_it_sends_anonymous_visitors_to_log_in(client):
    before = ExchangeRate.objects.count()
    response = post(client)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert ExchangeRate.objects.count() == before


def test_it_only_takes_posts_to_create(client, admin_user):
    client.force_login(admin_user)
    assert client.get(CREATE).status_code == 405


def test_it_previews_a_conversion_with_htmx(client, admin_user):
    client.force_login(admin_user)
    query = {"pair": "BTC/pBTC", "rate": "0.995", "amount": "1"}
    response = client.get(PREVIEW, query, **HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<div" in fragment and 'id="rate-preview"' not in fragment  # its inside only
    assert "1.00000000 BTC → <strong>0.99500000 pBTC</strong>" in fragment
    assert "1.00000000 pBTC → <strong>1.00502512 BTC</strong>" in fragment


def test_it_previews_one_unit_when_no_amount_is_given(client, admin_user):
    client.force_login(admin_user)
    fragment = client.get(PREVIEW, {"pair": "HIVE/pHIVE", "rate": "2"}, **HTMX).content.decode()
    assert "1.000 HIVE → <strong>2.000 pHIVE</strong>" in fragment
    assert "1.000 pHIVE → <strong>0.500 HIVE</strong>" in fragment


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"rate": "0"}, "The rate must be greater than zero."),
        ({"rate": "NaN"}, "Enter the rate as a decimal number"),
        ({"rate": "1", "pair": "HIVE/pHIVE", "amount": "0.0001"}, "HIVE has 3 decimal places."),
        ({"rate": "1", "amount": "-1"}, "The amount cannot be negative."),
        ({"rate": "1", "amount": "1e3"}, "Enter the amount as a decimal number"),
        ({"rate": "1", "amount": "21000000.00000001"}, "The largest amount of BTC is"),
    ],
)
def test_it_previews_errors(client, admin_user, query, message):
    client.force_login(admin_user)
    fragment = client.get(PREVIEW, {"pair": "BTC/pBTC", **query}, **HTMX).content.decode()
    assert 'data-testid="preview-errors"' in fragment
    assert message in fragment


def test_it_previews_without_javascript_on_the_whole_page(client, admin_user):
    client.force_login(admin_user)
    query = {"pair": "HBD/pHBD", "rate": "0.5", "amount": "3", "note": "typed"}
    page = client.get(PREVIEW, query).content.decode()
    assert "<html" in page
    assert "3.000 HBD → <strong>1.500 pHBD</strong>" in page
    assert 'value="typed"' in page  # the form keeps what was typed
    assert ExchangeRate.objects.count() == 3


def test_it_says_when_a_pair_has_no_rate_in_force(client):
    # As after a flush of the seed (TRUNCATE is rolled back with the test's transaction).
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE rates_exchangerate")
    response = client.get(LIST)
    assert response.status_code == 200
    assert "No rate in force: deposits of BTC cannot be credited." in response.content.decode()


def test_a_change_of_more_than_five_percent_is_set_only_when_submitted_again(client, admin_user):
    client.force_login(admin_user)
    before = ExchangeRate.objects.count()
    first = post(client, rate="1.2")
    assert first.status_code == 400
    assert "changes the rate by 20.0% from 1" in first.content.decode()
    assert 'name="confirm_rate" value="1.2"' in first.content.decode()
    assert ExchangeRate.objects.count() == before
    # Confirming another rate than the one warned about asks again.
    assert post(client, rate="1.3", confirm_rate="1.2").status_code == 400
    assert post(client, rate="1.2", confirm_rate="1.2").status_code == 302
    assert ExchangeRate.objects.count() == before + 1
