"""Assets, base units and the one strict parser of amounts and rates (rates.assets)."""

import re
import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rates.assets import (
    DECIMALS,
    MAX_DECIMAL_LENGTH,
    AmountError,
    Asset,
    Pair,
    amount_format,
    amount_parse,
    max_amount,
    rate_parse,
)

ASSETS = st.sampled_from(list(Asset))


def test_it_knows_each_pairs_assets_and_base_units():
    assert [(p.sidechain_asset, p.pegged_asset) for p in Pair] == [
        (Asset.BTC, Asset.PBTC),
        (Asset.HIVE, Asset.PHIVE),
        (Asset.HBD, Asset.PHBD),
    ]
    assert [DECIMALS[a] for a in Asset] == [8, 8, 3, 3, 3, 3]


def test_it_bounds_every_asset_well_inside_a_bigint():
    assert max_amount(Asset.BTC) == max_amount(Asset.PBTC) == 21_000_000 * 10**8
    assert max_amount(Asset.HIVE) == max_amount(Asset.PHBD) == 10**9 * 10**3
    # Room for the sum of thousands of the largest amounts in one bigint column.
    assert all(1000 * max_amount(asset) < 2**63 for asset in Asset)


@pytest.mark.parametrize(
    ("amount", "asset", "text"),
    [
        (150_000_000, Asset.BTC, "1.50000000 BTC"),
        (1, Asset.PBTC, "0.00000001 pBTC"),
        (0, Asset.HIVE, "0.000 HIVE"),
        (-1_500, Asset.HBD, "-1.500 HBD"),
        (10**20, Asset.BTC, "1000000000000.00000000 BTC"),
    ],
)
def test_it_formats_base_units_as_decimal_strings(amount, asset, text):
    assert amount_format(amount, asset) == text


@pytest.mark.parametrize(
    ("text", "asset", "units"),
    [
        ("1", Asset.BTC, 100_000_000),
        ("0.001", Asset.HIVE, 1),
        ("2.500", Asset.HBD, 2_500),
        ("  0.00000001\n", Asset.PBTC, 1),
        ("007.5", Asset.PHIVE, 7_500),
        ("0", Asset.BTC, 0),
        ("21000000", Asset.BTC, 21_000_000 * 10**8),
        ("1000000000.000", Asset.HIVE, 10**12),
    ],
)
def test_it_parses_decimal_amounts_into_base_units(text, asset, units):
    assert amount_parse(text, asset) == units


@pytest.mark.parametrize(
    ("text", "asset", "message"),
    [
        ("0.0001", Asset.HIVE, "HIVE has 3 decimal places."),
        ("1.000000000", Asset.BTC, "BTC has 8 decimal places."),
        ("-1", Asset.BTC, "The amount cannot be negative."),
        ("+1", Asset.BTC, "Enter the amount as a decimal number"),
        ("NaN", Asset.BTC, "Enter the amount as a decimal number"),
        ("Infinity", Asset.BTC, "Enter the amount as a decimal number"),
        ("1e999999999", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1E3", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1_000", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1,000.5", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1,5", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1 000", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1.", Asset.PBTC, "Enter the amount as a decimal number"),
        (".5", Asset.PBTC, "Enter the amount as a decimal number"),
        ("1.2.3", Asset.PBTC, "Enter the amount as a decimal number"),
        ("0x10", Asset.PBTC, "Enter the amount as a decimal number"),
        ("١", Asset.PBTC, "Enter the amount as a decimal number"),  # Arabic-Indic one
        ("１２", Asset.PBTC, "Enter the amount as a decimal number"),  # full-width digits
        ("²", Asset.PBTC, "Enter the amount as a decimal number"),  # a digit to Python
        ("", Asset.PBTC, "Enter the amount."),
        (" \t", Asset.PBTC, "Enter the amount."),
        ("1" * (MAX_DECIMAL_LENGTH + 1), Asset.PBTC, "too long: at most 40 characters"),
        ("21000000.00000001", Asset.BTC, "The largest amount of BTC is 21000000.00000000 BTC."),
        ("9" * 40, Asset.HIVE, "The largest amount of HIVE is 1000000000.000 HIVE."),
    ],
)
def test_it_refuses_what_is_not_a_plain_amount_with_a_message(text, asset, message):
    with pytest.raises(AmountError, match=re.escape(message)):
        amount_parse(text, asset)


@pytest.mark.parametrize("value", [1.5, 1, True, Decimal("1"), None, b"1", ["1"]])
def test_it_refuses_anything_but_a_string(value):
    with pytest.raises(AmountError, match="Send the amount as a string"):
        amount_parse(value, Asset.PBTC)
    with pytest.raises(AmountError, match="Send the rate as a string"):
        rate_parse(value)


def test_it_refuses_a_float_to_format():
    with pytest.raises(TypeError):
        amount_format(1.0, Asset.BTC)


@pytest.mark.parametrize("text", ["1e999999999", "9" * 40, "1" * 10_000, "1e" + "9" * 38])
def test_it_answers_a_huge_exponent_or_length_at_once(text):
    started = time.perf_counter()
    for _ in range(100):
        with pytest.raises(AmountError):
            amount_parse(text, Asset.PBTC)
        with pytest.raises(AmountError):
            rate_parse(text)
    assert time.perf_counter() - started < 0.1  # 200 refusals; Decimal math took minutes


@pytest.mark.parametrize(
    ("text", "rate"),
    [("0.995", Decimal("0.995")), ("1", Decimal(1)), ("9999.99999999", Decimal("9999.99999999"))],
)
def test_it_parses_rates_into_decimals(text, rate):
    parsed = rate_parse(text)
    assert parsed == rate and isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "The rate must be greater than zero."),
        ("0.00000000", "The rate must be greater than zero."),
        ("-0.5", "The rate cannot be negative."),
        ("10000", "A rate has at most 4 digits before the point."),
        ("0.000000001", "A rate has at most 8 decimal places."),
        ("1e-3", "Enter the rate as a decimal number"),
        ("٠.٩٩٥", "Enter the rate as a decimal number"),
    ],
)
def test_it_refuses_rates_out_of_bounds(text, message):
    with pytest.raises(AmountError, match=re.escape(message)):
        rate_parse(text)


# --- Properties ---------------------------------------------------------------------------


@st.composite
def amounts(draw):
    asset = draw(ASSETS)
    return draw(st.integers(min_value=0, max_value=max_amount(asset))), asset


@given(amounts())
def test_it_parses_what_it_formats(amount_and_asset):
    amount, asset = amount_and_asset
    text = amount_format(amount, asset).split()[0]
    assert amount_parse(text, asset) == amount
    assert amount_parse(f" {text}\n", asset) == amount
    trimmed = text.rstrip("0").rstrip(".")  # fewer places than the asset's mean the same
    assert amount_parse(trimmed, asset) == amount


@given(st.text(max_size=60), ASSETS)
def test_it_parses_any_text_into_a_bounded_int_or_refuses_it_with_a_message(text, asset):
    try:
        units = amount_parse(text, asset)
    except AmountError as e:
        assert str(e)
    else:
        assert type(units) is int and 0 <= units <= max_amount(asset)
        # What it takes is an ASCII decimal, and means what Decimal reads in it.
        assert text.strip().isascii()
        assert units == Decimal(text.strip()) * 10 ** DECIMALS[asset]


@given(
    st.from_regex(r"[0-9]{1,8}(\.[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["e", "E"]),
    st.from_regex(r"[+-]?[0-9]{1,12}", fullmatch=True),
)
def test_it_refuses_every_exponent(mantissa, e, exponent):
    with pytest.raises(AmountError, match="decimal number"):
        amount_parse(f"{mantissa}{e}{exponent}", Asset.PBTC)
    with pytest.raises(AmountError, match="decimal number"):
        rate_parse(f"{mantissa}{e}{exponent}")


@given(
    st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["-", "+"]),
)
def test_it_refuses_every_sign(number, sign):
    with pytest.raises(AmountError):
        amount_parse(sign + number, Asset.HIVE)
    with pytest.raises(AmountError):
        rate_parse(sign + number)


@given(st.data())
def test_it_refuses_every_digit_but_ascii(data):
    digit = data.draw(st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii()))
    text = data.draw(st.from_regex(r"[0-9]{0,4}", fullmatch=True))
    position = data.draw(st.integers(0, len(text)))
    typed = text[:position] + digit + text[position:]
    with pytest.raises(AmountError, match="decimal number"):
        amount_parse(typed, Asset.HBD)
    with pytest.raises(AmountError, match="decimal number"):
        rate_parse(typed)


@given(
    st.from_regex(r"[0-9]{2,6}", fullmatch=True),
    st.sampled_from(["_", ",", "'", " ", "\u00a0", "\u202f"]),
    st.data(),
)
def test_it_refuses_every_separator(digits, separator, data):
    position = data.draw(st.integers(1, len(digits) - 1))
    with pytest.raises(AmountError, match="decimal number"):
        amount_parse(digits[:position] + separator + digits[position:], Asset.PBTC)


@given(ASSETS, st.integers(1, 20))
def test_it_refuses_more_places_than_the_asset_has(asset, extra):
    places = DECIMALS[asset]
    with pytest.raises(AmountError, match=f"{asset} has {places} decimal places"):
        amount_parse("0." + "0" * (places + extra - 1) + "1", asset)


@given(ASSETS)
def test_it_refuses_one_base_unit_above_the_maximum(asset):
    text = amount_format(max_amount(asset) + 1, asset).split()[0]
    with pytest.raises(AmountError, match="The largest amount"):
        amount_parse(text, asset)


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("9999.99999999"), places=8))
def test_it_parses_every_rate_in_bounds(rate):
    assert rate_parse(f"{rate:f}") == rate
