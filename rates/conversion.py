"""The one place where amounts change asset: sidechain asset <-> pegged token at a rate.

A rate says how many pegged units one sidechain unit is worth (BTC/pBTC 0.995: 1 BTC credits
0.995 pBTC). Amounts are integers of base units. The Decimal rate is turned into its exact
fraction (Decimal.as_integer_ratio) and the conversion is one integer floor division, so the
result is exact for any amount and rate: no float, and no context precision that could run out.

Both directions round down, in the federation's favour: a deposit credits at most what the rate
gives, a withdrawal pays out at most what the rate gives, so no round trip creates value.
"""

from decimal import Decimal

from rates.assets import DECIMALS, Pair


def to_pegged(amount: int, rate: Decimal, pair: str) -> int:
    """Base units of the sidechain asset -> base units of the pegged token, rounded down."""
    pair = _check(amount, rate, pair)
    numerator, denominator = rate.as_integer_ratio()
    shift = DECIMALS[pair.pegged_asset] - DECIMALS[pair.sidechain_asset]
    return _floor_scaled(amount * numerator, denominator, shift)


def to_sidechain(amount: int, rate: Decimal, pair: str) -> int:
    """Base units of the pegged token -> base units of the sidechain asset, rounded down."""
    pair = _check(amount, rate, pair)
    numerator, denominator = rate.as_integer_ratio()
    shift = DECIMALS[pair.sidechain_asset] - DECIMALS[pair.pegged_asset]
    return _floor_scaled(amount * denominator, numerator, shift)


def _floor_scaled(numerator: int, denominator: int, shift: int) -> int:
    """floor(numerator / denominator * 10**shift) for non-negative integers."""
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        return numerator * scale // denominator
    return numerator // (denominator * scale)


def _check(amount: int, rate: Decimal, pair: str) -> Pair:
    # bool is an int subclass: True would silently convert as 1 base unit.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int of base units, not {type(amount).__name__}")
    if amount < 0:
        raise ValueError("amount must not be negative")
    if not isinstance(rate, Decimal):
        raise TypeError(f"rate must be a Decimal, not {type(rate).__name__}")
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate must be a finite number greater than zero, not {rate}")
    return Pair(pair)
