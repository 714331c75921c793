from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from rates.assets import Pair
from rates.models import ExchangeRate, rate_in_force
from rates.services import RateConflict, RateError, rate_set
from tests import fixtures

pytestmark = pytest.mark.usefixtures("seeded")

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_it_sets_a_rate_in_force_from_now(admin_user):
    row = rate_set(pair=Pair.BTC_PBTC, rate=Decimal("0.995"), set_by=admin_user, note="fee")
    assert (row.valid_from, row.set_by, row.note, row.replayed) == (NOW, admin_user, "fee", False)
    assert rate_in_force(Pair.BTC_PBTC) == row
    assert rate_in_force(Pair.BTC_PBTC, NOW - timedelta(microseconds=1)).rate == Decimal(1)


def test_it_schedules_a_rate(admin_user):
    later = NOW + timedelta(hours=1)
    row = rate_set(pair=Pair.HBD_PHBD, rate=Decimal(2), valid_from=later, set_by=admin_user)
    assert rate_in_force(Pair.HBD_PHBD).rate == Decimal(1)
    assert rate_in_force(Pair.HBD_PHBD, later) == row


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        (Decimal(0), "The rate must be greater than zero."),
        (Decimal(-1), "The rate must be greater than zero."),
        (Decimal("NaN"), "The rate must be a number."),
        (Decimal("Infinity"), "The rate must be a number."),
        (Decimal("12345"), "no more than 4 digits before the decimal point"),
        (Decimal("1.000000001"), "no more than 8 decimal places"),
        (0.995, "The rate must be a decimal number."),
    ],
)
def test_it_refuses_a_bad_rate(admin_user, rate, message):
    before = ExchangeRate.objects.count()
    with pytest.raises(RateError, match=message) as e:
        rate_set(pair=Pair.BTC_PBTC, rate=rate, set_by=admin_user)
    assert e.value.field == "rate"
    assert ExchangeRate.objects.count() == before


def test_it_refuses_a_rate_in_the_past(admin_user):
    before = ExchangeRate.objects.count()
    with pytest.raises(RateError, match="cannot take effect in the past") as e:
        rate_set(
            pair=Pair.BTC_PBTC,
            rate=Decimal(1),
            valid_from=NOW - timedelta(microseconds=1),
            set_by=admin_user,
        )
    assert e.value.field == "valid_from"
    assert ExchangeRate.objects.count() == before


def test_it_refuses_a_non_administrator(user_carol):
    with pytest.raises(RateError, match="Only administrators"):
        rate_set(pair=Pair.BTC_PBTC, rate=Decimal(1), set_by=user_carol)
    with pytest.raises(RateError, match="Only administrators"):
        rate_set(pair=Pair.BTC_PBTC, rate=Decimal(1), set_by=None)
    assert ExchangeRate.objects.filter(set_by__isnull=False).count() == 0


def test_it_refuses_an_unknown_pair(admin_user):
    with pytest.raises(RateError, match="Unknown pair") as e:
        rate_set(pair="ETH/pETH", rate=Decimal(1), set_by=admin_user)
    assert e.value.field == "pair"


def test_it_refuses_two_rates_at_one_instant(admin_user):
    later = NOW + timedelta(hours=1)
    rate_set(pair=Pair.BTC_PBTC, rate=Decimal(2), valid_from=later, set_by=admin_user)
    with pytest.raises(RateConflict, match="already has a rate taking effect"):
        rate_set(pair=Pair.BTC_PBTC, rate=Decimal(3), valid_from=later, set_by=admin_user)
    assert rate_in_force(Pair.BTC_PBTC, later).rate == Decimal(2)


def test_it_returns_the_first_result_for_a_replayed_request(admin_user):
    args = {"pair": Pair.BTC_PBTC, "rate": Decimal("0.995"), "set_by": admin_user}
    first = rate_set(**args, request_id="req-1")
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        again = rate_set(**args, request_id="req-1")
    assert again.pk == first.pk
    assert again.replayed
    assert again.valid_from == NOW
    assert ExchangeRate.objects.filter(request_id="req-1").count() == 1


def test_it_replays_a_scheduled_rate_after_its_time_has_come(admin_user):
    # A scheduled rate's replay after its time is still the first answer, not "in the past".
    later = NOW + timedelta(minutes=1)
    args = {"pair": Pair.BTC_PBTC, "rate": Decimal(2), "valid_from": later, "set_by": admin_user}
    first = rate_set(**args, request_id="req-2")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        assert rate_set(**args, request_id="req-2").pk == first.pk


@pytest.mark.parametrize(
    "change",
    [
        {"rate": Decimal(2)},
        {"pair": Pair.HBD_PHBD},
        {"note": "other"},
        {"valid_from": NOW + timedelta(hours=1)},
        {"set_by": "another administrator"},
    ],
)
def test_it_refuses_a_request_id_reused_for_another_rate(admin_user, change):
    args = {"pair": Pair.BTC_PBTC, "rate": Decimal(1), "set_by": admin_user, "note": ""}
    rate_set(**args, request_id="req-3")
    if "set_by" in change:
        change = {"set_by": fixtures.make_user("admin_bob", staff=True)}
    before = ExchangeRate.objects.count()
    with pytest.raises(RateConflict, match="already used for a different rate"):
        rate_set(**{**args, **change}, request_id="req-3")
    assert ExchangeRate.objects.count() == before
