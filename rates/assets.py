"""The assets the bridge moves, their base units, and the pairs that have an exchange rate.

Amounts are integers of an asset's base unit (1 satoshi = 10**-8 BTC, 0.001 HIVE or HBD). The
helpers here turn base units into decimal strings and back without ever touching a float.
"""

from decimal import Decimal

from django.db import models


class Asset(models.TextChoices):
    BTC = "BTC"
    PBTC = "pBTC"
    HIVE = "HIVE"
    PHIVE = "pHIVE"
    HBD = "HBD"
    PHBD = "pHBD"


# Decimal places of each asset: an amount of n base units is n * 10**-DECIMALS[asset] units.
DECIMALS: dict[str, int] = {
    Asset.BTC: 8,
    Asset.PBTC: 8,
    Asset.HIVE: 3,
    Asset.PHIVE: 3,
    Asset.HBD: 3,
    Asset.PHBD: 3,
}


class Pair(models.TextChoices):
    """A sidechain asset and the pegged token the portal's ledger issues for it."""

    BTC_PBTC = "BTC/pBTC", "BTC/pBTC"
    HIVE_PHIVE = "HIVE/pHIVE", "HIVE/pHIVE"
    HBD_PHBD = "HBD/pHBD", "HBD/pHBD"

    @property
    def sidechain_asset(self) -> Asset:
        return Asset(self.value.split("/")[0])

    @property
    def pegged_asset(self) -> Asset:
        return Asset(self.value.split("/")[1])

    @property
    def slug(self) -> str:
        return self.value.replace("/", "-").lower()


def amount_format(amount: int, asset: str) -> str:
    """Base units as a decimal string with the asset's places: 150000000 BTC -> "1.50000000 BTC"."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an int of base units")
    places = DECIMALS[asset]
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    if places == 0:
        return f"{sign}{whole} {asset}"
    return f"{sign}{whole}.{fraction:0{places}d} {asset}"


def amount_parse(value: Decimal, asset: str) -> int:
    """A decimal amount of whole units as base units; refuses what base units cannot hold."""
    if not isinstance(value, Decimal):
        raise TypeError("amount must be a Decimal")
    places = DECIMALS[asset]
    if not value.is_finite():
        raise ValueError("Enter a number.")
    if value < 0:
        raise ValueError("The amount cannot be negative.")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    coefficient = int("".join(map(str, digits)))
    shift = exponent + places
    if shift >= 0:
        return coefficient * 10**shift
    whole, extra = divmod(coefficient, 10**-shift)
    if extra:
        raise ValueError(f"{asset} has {places} decimal places.")
    return whole
