"""POST/GET /api/v1/withdrawals: the users' withdrawals over the API."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from ledger.services import balances_of
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.models import Withdrawal
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

WITHDRAWALS = reverse("api-withdrawals")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' password hashing is most of these tests' time otherwise."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mapping(user_carol):
    make_federation(3)
    set_btc_rate("1")
    credit(user_carol, 50_000)
    return make_bitcoin_mapping(user_carol)


@pytest.fixture
def api(user_carol):
    client = APIClient()
    client.force_authenticate(user_carol)
    return client


def test_it_requests_a_withdrawal_and_replays_it(api, user_carol, mapping):
    body = {"amount": "0.0002", "request_id": "r-1"}

    first = api.post(WITHDRAWALS, body, format="json")
    again = api.post(WITHDRAWALS, {**body, "amount": "0.0003"}, format="json")

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    data = first.json()
    assert again.json() == data
    assert data["amount"] == "0.00020000"
    assert data["amount_sat"] == 20_000
    assert (data["status"], data["address"], data["txid"]) == (
        "requested",
        mapping.withdraw_address,
        None,
    )
    assert (data["fee_share"], data["payout"], data["request_id"]) == (0, 20_000, "r-1")
    assert Withdrawal.objects.count() == 1
    assert balances_of(user_carol)["pBTC"] == 30_000


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"amount": "0.0006", "request_id": "x"}, "amount", "Your balance, 0.00050000 pBTC, is"),
        ({"amount": "0.00009999", "request_id": "x"}, "amount", "The minimum withdrawal is"),
        ({"amount": "lots", "request_id": "x"}, "amount", "Enter the amount as a decimal number"),
        ({"amount": "1e999999999", "request_id": "x"}, "amount", "as a decimal number"),
        ({"amount": "１", "request_id": "x"}, "amount", "as a decimal number"),
        ({"amount": "1_0", "request_id": "x"}, "amount", "as a decimal number"),
        ({"amount": 0.0002, "request_id": "x"}, "amount", "Send the amount as a string"),
        ({"amount": 20000, "request_id": "x"}, "amount", "Send the amount as a string"),
        ({"amount": None, "request_id": "x"}, "amount", "may not be null"),
        ({"amount": "9" * 41, "request_id": "x"}, "amount", "too long: at most 40 characters"),
        ({"amount": "99999999999", "request_id": "x"}, "amount", "The largest amount of pBTC"),
        ({"amount": "21000000", "request_id": "x"}, "amount", "Your balance, 0.00050000 pBTC"),
        ({"amount": "0.000000001", "request_id": "x"}, "amount", "8 decimal places"),
        ({"amount": "-1", "request_id": "x"}, "amount", "cannot be negative"),
        ({"amount": "0", "request_id": "x"}, "amount", "greater than zero"),
        ({"amount": "0.0002"}, "request_id", "This field is required."),
        ({"request_id": "x"}, "amount", "This field is required."),
    ],
)
def test_it_refuses_a_bad_request_and_saves_nothing(api, user_carol, mapping, body, field, message):
    response = api.post(WITHDRAWALS, body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not Withdrawal.objects.exists()
    assert balances_of(user_carol)["pBTC"] == 50_000


def test_it_refuses_a_user_without_a_withdraw_address(user_carol):
    set_btc_rate("1")
    credit(user_carol, 50_000)
    api = APIClient()
    api.force_authenticate(user_carol)

    response = api.post(WITHDRAWALS, {"amount": "0.0002", "request_id": "x"}, format="json")

    assert response.status_code == 400
    assert "withdraw address" in response.json()["non_field_errors"][0]
    assert not Withdrawal.objects.exists()


def test_it_lists_and_shows_only_the_users_own_withdrawals(api, user_carol, mapping):
    dave = fixtures.make_user("user_dave")
    make_bitcoin_mapping(dave)
    credit(dave, 50_000)
    daves = withdrawal_request(user=dave, amount_pegged=30_000, request_id="d")
    carols = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="c")

    listing = api.get(WITHDRAWALS)
    mine = api.get(reverse("api-withdrawal", args=[carols.pk]))
    theirs = api.get(reverse("api-withdrawal", args=[daves.pk]))

    assert [w["id"] for w in listing.json()["results"]] == [carols.pk]
    assert mine.status_code == 200 and mine.json()["id"] == carols.pk
    assert theirs.status_code == 404
    assert theirs.json() == {"detail": "You have no withdrawal with this id.", "code": "not_found"}


def test_it_refuses_anonymous_clients(mapping):
    client = APIClient()
    assert client.get(WITHDRAWALS).status_code == 403
    response = client.post(WITHDRAWALS, {"amount": "0.0002", "request_id": "x"}, format="json")
    assert response.status_code == 403
    assert not Withdrawal.objects.exists()
