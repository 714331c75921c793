"""The one conversion module: exact floor arithmetic on integers, checked against Fraction."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rates.assets import Pair
from rates.conversion import to_pegged, to_sidechain

# Up to ten times the BTC supply in satoshi, far beyond any HIVE/HBD amount in 0.001.
amounts = st.integers(min_value=0, max_value=21_000_000 * 10**8 * 10)
# Every rate the list can hold.
list_rates = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("9999.99999999"), places=8
)
# Any positive finite Decimal: the module must be exact beyond the list's bounds too.
any_rates = st.decimals(
    min_value=Decimal("1e-30"), max_value=Decimal("1e30"), allow_nan=False, allow_infinity=False
)
rates = st.one_of(list_rates, any_rates)
pairs = st.sampled_from(list(Pair))


@given(amounts, rates, pairs)
def test_it_returns_an_int_floor_of_the_exact_product(amount, rate, pair):
    result = to_pegged(amount, rate, pair)
    assert type(result) is int
    assert result == Fraction(amount) * Fraction(rate) // 1


@given(amounts, rates, pairs)
def test_it_returns_an_int_floor_of_the_exact_quotient(amount, rate, pair):
    result = to_sidechain(amount, rate, pair)
    assert type(result) is int
    assert result == Fraction(amount) / Fraction(rate) // 1


@given(amounts, amounts, rates, pairs)
def test_it_is_monotonic_in_the_amount(a, b, rate, pair):
    low, high = sorted([a, b])
    assert to_pegged(low, rate, pair) <= to_pegged(high, rate, pair)
    assert to_sidechain(low, rate, pair) <= to_sidechain(high, rate, pair)


@given(amounts, rates, pairs)
def test_it_creates_no_value_on_a_round_trip(amount, rate, pair):
    assert to_sidechain(to_pegged(amount, rate, pair), rate, pair) <= amount
    assert to_pegged(to_sidechain(amount, rate, pair), rate, pair) <= amount


@given(amounts, pairs)
def test_it_is_exact_at_a_rate_of_one(amount, pair):
    for one in (Decimal(1), Decimal("1.00000000")):
        assert to_pegged(amount, one, pair) == amount
        assert to_sidechain(amount, one, pair) == amount


def test_it_rounds_down_in_the_federations_favour():
    # 3 satoshi at 0.5 is 1.5 pBTC satoshi: the user gets 1.
    assert to_pegged(3, Decimal("0.5"), Pair.BTC_PBTC) == 1
    # 1 pHIVE unit at 3 is 0.333... HIVE units: the user gets 0.
    assert to_sidechain(1, Decimal(3), Pair.HIVE_PHIVE) == 0
    assert to_pegged(100_000_000, Decimal("0.99500000"), "BTC/pBTC") == 99_500_000
    assert to_sidechain(100_000_000, Decimal("0.995"), "BTC/pBTC") == 100_502_512


@pytest.mark.parametrize("convert", [to_pegged, to_sidechain])
@pytest.mark.parametrize("amount", [1.0, 1.5, True, False, "1", Decimal(1), None])
def test_it_refuses_an_amount_that_is_not_an_int(convert, amount):
    with pytest.raises(TypeError):
        convert(amount, Decimal(1), Pair.BTC_PBTC)


@pytest.mark.parametrize("convert", [to_pegged, to_sidechain])
def test_it_refuses_a_negative_amount(convert):
    with pytest.raises(ValueError):
        convert(-1, Decimal(1), Pair.BTC_PBTC)


@pytest.mark.parametrize("convert", [to_pegged, to_sidechain])
@pytest.mark.parametrize("rate", [1.0, 0.995, 1, "1", None])
def test_it_refuses_a_rate_that_is_not_a_decimal(convert, rate):
    with pytest.raises(TypeError):
        convert(100, rate, Pair.BTC_PBTC)


@pytest.mark.parametrize("convert", [to_pegged, to_sidechain])
@pytest.mark.parametrize("rate", ["0", "-0", "-1", "NaN", "sNaN", "Infinity", "-Infinity"])
def test_it_refuses_a_rate_that_is_not_finite_and_positive(convert, rate):
    with pytest.raises(ValueError):
        convert(100, Decimal(rate), Pair.BTC_PBTC)


@pytest.mark.parametrize("convert", [to_pegged, to_sidechain])
def test_it_refuses_an_unknown_pair(convert):
    with pytest.raises(ValueError):
        convert(100, Decimal(1), "ETH/pETH")
