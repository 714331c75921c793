from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from rates.assets import Pair
from rates.models import ExchangeRate, rate_in_force

pytestmark = pytest.mark.usefixtures("seeded")

RATES = reverse("api-rates")
HISTORY = reverse("api-rates-history")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def admin_api(api, admin_user):
    api.force_login(admin_user)
    return api


def body(**fields):
    return {"pair": "BTC/pBTC", "rate": "0.995", "request_id": "req-1", **fields}


def test_it_lists_the_current_rates_to_anyone(api, admin_user):
    ExchangeRate.objects.create(
        pair=Pair.HIVE_PHIVE, rate=Decimal("0.98"), valid_from=datetime(2024, 1, 1, tzinfo=UTC)
    )
    ExchangeRate.objects.create(
        pair=Pair.HIVE_PHIVE, rate=Decimal(5), valid_from=datetime.now(UTC) + timedelta(days=1)
    )
    response = api.get(RATES)
    assert response.status_code == 200
    assert [(r["pair"], r["rate"]) for r in response.json()] == [
        ("BTC/pBTC", "1.00000000"),
        ("HIVE/pHIVE", "0.98000000"),
        ("HBD/pHBD", "1.00000000"),
    ]
    first = response.json()[0]
    assert (first["sidechain_asset"], first["pegged_asset"], first["set_by"]) == (
        "BTC",
        "pBTC",
        None,
    )


def test_it_shows_a_pairs_history_to_anyone(api, admin_api):
    admin_api.post(RATES, body(), format="json")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    admin_api.post(RATES, body(rate="1.01", valid_from=later, request_id="req-2"), format="json")
    response = api.get(HISTORY, {"pair": "BTC/pBTC"})
    assert response.status_code == 200
    rows = response.json()
    assert [(r["rate"], r["status"], r["set_by"]) for r in rows] == [
        ("1.01000000", "scheduled", "admin"),
        ("0.99500000", "in_force", "admin"),
        ("1.00000000", "superseded", None),
    ]


@pytest.mark.parametrize("query", [{}, {"pair": "ETH/pETH"}, {"pair": "btc/pbtc"}])
def test_it_wants_a_known_pair_for_the_history(api, query):
    response = api.get(HISTORY, query)
    assert response.status_code == 400
    assert "pair" in response.json()


def test_it_sets_a_rate_for_an_administrator(admin_api, admin_user):
    response = admin_api.post(RATES, body(note="fees"), format="json")
    assert response.status_code == 201
    data = response.json()
    assert (data["pair"], data["rate"], data["set_by"], data["note"]) == (
        "BTC/pBTC",
        "0.99500000",
        "admin",
        "fees",
    )
    row = rate_in_force(Pair.BTC_PBTC)
    assert (row.pk, row.rate, row.set_by, row.request_id) == (
        data["id"],
        Decimal("0.995"),
        admin_user,
        "req-1",
    )


def test_it_returns_the_first_result_for_a_replayed_request(admin_api):
    first = admin_api.post(RATES, body(), format="json")
    again = admin_api.post(RATES, body(), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert ExchangeRate.objects.filter(request_id="req-1").count() == 1


def test_it_refuses_a_request_id_reused_for_another_rate(admin_api):
    admin_api.post(RATES, body(), format="json")
    before = ExchangeRate.objects.count()
    response = admin_api.post(RATES, body(rate="2"), format="json")
    assert response.status_code == 409
    assert "already used for a different rate" in response.json()["detail"]
    assert ExchangeRate.objects.count() == before


def test_it_refuses_two_rates_at_one_instant(admin_api):
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    admin_api.post(RATES, body(valid_from=later), format="json")
    response = admin_api.post(RATES, body(valid_from=later, request_id="req-2"), format="json")
    assert response.status_code == 409
    assert "already has a rate taking effect" in response.json()["detail"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"rate": "0"}, "rate", "The rate must be greater than zero."),
        ({"rate": "-1"}, "rate", "The rate cannot be negative."),
        ({"rate": "NaN"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": "Infinity"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": "abc"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": "1e999999999"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": "０.９９５"}, "rate", "Enter the rate as a decimal number"),
        ({"rate": "12345"}, "rate", "A rate has at most 4 digits before the point."),
        ({"rate": "1234567890.123"}, "rate", "A rate has at most 4 digits before the point."),
        ({"rate": "0.123456789"}, "rate", "A rate has at most 8 decimal places."),
        ({"rate": "9" * 41}, "rate", "The rate is too long: at most 40 characters."),
        ({"rate": 0.995}, "rate", "Send the rate as a string"),
        ({"rate": 1}, "rate", "Send the rate as a string"),
        ({"rate": True}, "rate", "Send the rate as a string"),
        ({"pair": "ETH/pETH"}, "pair", "is not a valid choice"),
        ({"valid_from": "2001-01-01T00:00:00Z"}, "valid_from", "cannot take effect in the past"),
        ({"valid_from": "soon"}, "valid_from", "Datetime has wrong format"),
        ({"request_id": ""}, "request_id", "This field may not be blank."),
        ({"request_id": "x" * 65}, "request_id", "no more than 64 characters"),
        ({"note": "x" * 201}, "note", "no more than 200 characters"),
    ],
)
def test_it_refuses_bad_input_with_field_messages(admin_api, fields, field, message):
    before = ExchangeRate.objects.count()
    response = admin_api.post(RATES, body(**fields), format="json")
    assert response.status_code == 400
    assert len(response.json()[field]) == 1
    assert message in response.json()[field][0]
    assert ExchangeRate.objects.count() == before


def test_it_refuses_a_missing_request_id(admin_api):
    data = body()
    del data["request_id"]
    response = admin_api.post(RATES, data, format="json")
    assert response.status_code == 400
    assert response.json()["request_id"] == ["This field is required."]


def test_it_refuses_a_json_nan(admin_api):
    before = ExchangeRate.objects.count()
    raw = '{"pair": "BTC/pBTC", "rate": NaN, "request_id": "req-1"}'
    response = admin_api.post(RATES, raw, content_type="application/json")
    assert response.status_code == 400
    assert ExchangeRate.objects.count() == before


def test_it_refuses_users_and_anonymous_clients(api, user_carol):
    before = ExchangeRate.objects.count()
    response = api.post(RATES, body(), format="json")
    assert response.status_code == 403
    api.force_login(user_carol)
    response = api.post(RATES, body(), format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only administrators set exchange rates."
    assert ExchangeRate.objects.count() == before


def test_it_wants_the_csrf_token_from_a_browser_session(admin_user):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    response = browser.post(RATES, body(), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_it_publishes_the_rates_endpoints_in_the_schema(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    assert set(paths["/api/v1/rates"]) == {"get", "post"}
    assert set(paths["/api/v1/rates/history"]) == {"get"}
    rate = schema.json()["components"]["schemas"]["RateOutput"]["properties"]["rate"]
    assert rate["type"] == "string"
