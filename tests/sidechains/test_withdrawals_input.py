"""Amounts are parsed strictly and refused fast, and a refused withdrawal writes no row: the
page, the API and the rates preview on "1e999999999"; every check before the insert; the
balance checked under the ledger's lock when requests race."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from ledger.services import balances_of
from rates.models import ExchangeRate
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.requests import withdrawal_quote, withdrawal_request
from sidechains.models import Withdrawal
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

HUGE = "1e999999999"  # 11 characters that took a web process minutes to refuse
FAST = 0.5  # seconds; the whole request, test client included


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mapping(user_carol):
    make_federation(3)
    set_btc_rate("1")
    credit(user_carol, 50_000)
    return make_bitcoin_mapping(user_carol)


def timed(call):
    started = time.perf_counter()
    response = call()
    return response, time.perf_counter() - started


def test_the_withdrawals_page_refuses_a_huge_exponent_at_once(client, user_carol, mapping):
    client.force_login(user_carol)
    for step in ("preview", "confirm"):
        data = {"step": step, "amount": HUGE, "request_id": str(uuid.uuid4())}

        response, seconds = timed(
            lambda data=data: client.post(reverse("sidechains-withdrawals"), data)
        )

        assert response.status_code == 400
        assert "Enter the amount as a decimal number" in response.content.decode()
        assert seconds < FAST
    assert not Withdrawal.objects.exists()


def test_the_api_refuses_a_huge_exponent_at_once(user_carol, mapping):
    api = APIClient()
    api.force_authenticate(user_carol)
    body = {"amount": HUGE, "request_id": "r-1"}

    response, seconds = timed(lambda: api.post(reverse("api-withdrawals"), body, format="json"))

    assert response.status_code == 400
    assert "Enter the amount as a decimal number" in response.json()["amount"][0]
    assert seconds < FAST
    assert not Withdrawal.objects.exists()


@pytest.mark.parametrize("field", ["amount", "rate"])
def test_the_rates_preview_refuses_a_huge_exponent_at_once(client, admin_user, field):
    client.force_login(admin_user)
    query = {"pair": "BTC/pBTC", "rate": "0.995", "amount": "1", field: HUGE}

    response, seconds = timed(lambda: client.get(reverse("rates-preview"), query))

    assert response.status_code == 400
    assert f"Enter the {field} as a decimal number" in response.content.decode()
    assert seconds < FAST


def test_the_rates_api_refuses_a_huge_exponent_at_once(admin_user):
    api = APIClient()
    api.force_login(admin_user)
    before = ExchangeRate.objects.count()
    body = {"pair": "BTC/pBTC", "rate": HUGE, "request_id": "r-1"}

    response, seconds = timed(lambda: api.post(reverse("api-rates"), body, format="json"))

    assert response.status_code == 400
    assert seconds < FAST
    assert ExchangeRate.objects.count() == before


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (60_000, "Your balance"),
        (21_000_000 * 10**8, "Your balance"),
        (10**30, "The largest withdrawal"),
        (9_999, "The minimum withdrawal"),
        (0, "greater than zero"),
    ],
)
def test_it_checks_everything_before_it_writes_a_row(user_carol, mapping, amount, message):
    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(WithdrawalError, match=message),
    ):
        withdrawal_request(user=user_carol, amount_pegged=amount, request_id="r-1")

    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert writes == []
    assert balances_of(user_carol)["pBTC"] == 50_000


def test_it_refuses_a_tiny_rate_that_would_overflow_a_bigint(user_carol, mapping):
    set_btc_rate("0.00000001")  # 1 pBTC base unit is worth 10**8 satoshi
    credit(user_carol, 21_000_000 * 10**8, label="rich")

    with pytest.raises(WithdrawalError, match="is worth more than 21000000.00000000 BTC"):
        withdrawal_request(user=user_carol, amount_pegged=21_000_000 * 10**8, request_id="r")

    assert not Withdrawal.objects.exists()


def test_the_preview_and_the_request_share_their_rules(user_carol, mapping):
    quote = withdrawal_quote(user=user_carol, amount_pegged=20_000)
    assert (quote.amount, quote.balance, quote.address) == (
        20_000,
        50_000,
        mapping.withdraw_address,
    )

    withdrawal = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r")

    assert (withdrawal.amount, withdrawal.rate, withdrawal.address) == (
        quote.amount,
        quote.rate,
        quote.address,
    )


# --- Races --------------------------------------------------------------------------------


def in_threads(n: int, work) -> list:
    """work(i) for i in range(n) at once, each in its own thread and database connection."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            return work(i)
        except Exception as e:
            return e
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.django_db(transaction=True)
def test_it_escrows_one_of_many_racing_requests_the_balance_covers_once(user_carol, mapping):
    results = in_threads(
        8, lambda i: withdrawal_request(user=user_carol, amount_pegged=30_000, request_id=f"r{i}")
    )

    made = [r for r in results if isinstance(r, Withdrawal)]
    refused = [r for r in results if not isinstance(r, Withdrawal)]
    assert len(made) == 1, results
    assert all(isinstance(r, WithdrawalError) and "Your balance" in str(r) for r in refused)
    assert Withdrawal.objects.count() == 1
    assert balances_of(user_carol)["pBTC"] == 20_000


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_withdrawal_of_a_request_id_replayed_at_once(user_carol, mapping):
    results = in_threads(
        8, lambda i: withdrawal_request(user=user_carol, amount_pegged=10_000, request_id="same")
    )

    assert {r.pk for r in results if isinstance(r, Withdrawal)} == {Withdrawal.objects.get().pk}
    assert all(isinstance(r, Withdrawal) for r in results), results
    assert balances_of(user_carol)["pBTC"] == 40_000
