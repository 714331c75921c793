from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rates.assets import DECIMALS, Asset, Pair, amount_format, amount_parse


def test_it_knows_each_pairs_assets_and_base_units():
    assert [(p.sidechain_asset, p.pegged_asset) for p in Pair] == [
        (Asset.BTC, Asset.PBTC),
        (Asset.HIVE, Asset.PHIVE),
        (Asset.HBD, Asset.PHBD),
    ]
    assert [DECIMALS[a] for a in Asset] == [8, 8, 3, 3, 3, 3]


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
    ("value", "asset", "units"),
    [("1", Asset.BTC, 100_000_000), ("0.001", Asset.HIVE, 1), ("2.5000", Asset.HBD, 2_500)],
)
def test_it_parses_decimal_amounts_into_base_units(value, asset, units):
    assert amount_parse(Decimal(value), asset) == units


@pytest.mark.parametrize(
    ("value", "asset", "message"),
    [
        ("0.0001", Asset.HIVE, "HIVE has 3 decimal places."),
        ("1.000000001", Asset.BTC, "BTC has 8 decimal places."),
        ("-1", Asset.BTC, "The amount cannot be negative."),
        ("NaN", Asset.BTC, "Enter a number."),
    ],
)
def test_it_refuses_amounts_base_units_cannot_hold(value, asset, message):
    with pytest.raises(ValueError, match=message):
        amount_parse(Decimal(value), asset)


def test_it_refuses_floats():
    with pytest.raises(TypeError):
        amount_format(1.0, Asset.BTC)
    with pytest.raises(TypeError):
        amount_parse(1.0, Asset.BTC)


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(list(Asset)))
def test_it_parses_what_it_formats(amount, asset):
    assert amount_parse(Decimal(amount_format(amount, asset).split()[0]), asset) == amount
