"""The assets the bridge moves, their base units, and the pairs that have an exchange rate.

Amounts are integers of an asset's base unit (1 satoshi = 10**-8 BTC, 0.001 HIVE or HBD). The
helpers here turn base units into decimal strings and back without ever touching a float.

amount_parse() and rate_parse() are the one strict parser of money and rates that people and
machines type (forms, the API, the admin): a str of ASCII digits with at most one point,
bounded in length before anything else is looked at, with no sign, exponent, underscore,
separator or non-ASCII digit. Python's Decimal() and int() accept all of those ("1e999999999",
"1_000", "١"), and an exponent turned into base units is a number of unbounded size.
"""

import re
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


# The largest amount of each asset the portal takes as input, in whole units: BTC's supply cap,
# and a billion HIVE or HBD (more than either supply). In base units these stay far below
# PostgreSQL's bigint (about 9.2 * 10**18), so sums of many of them still fit.
MAX_WHOLE_UNITS: dict[str, int] = {
    Asset.BTC: 21_000_000,
    Asset.PBTC: 21_000_000,
    Asset.HIVE: 1_000_000_000,
    Asset.PHIVE: 1_000_000_000,
    Asset.HBD: 1_000_000_000,
    Asset.PHBD: 1_000_000_000,
}

# Bounds of a rate: 4 digits before the point and 8 after, i.e. 0.00000001 to 9999.99999999.
# Eight places resolve a satoshi per BTC; anything outside the range is a typo, not a policy.
RATE_MAX_DIGITS = 12
RATE_DECIMAL_PLACES = 8
RATE_WHOLE_DIGITS = RATE_MAX_DIGITS - RATE_DECIMAL_PLACES

# Longer than any amount or rate within the bounds, with room for leading zeros; checked before
# the text is matched, so a pasted essay costs nothing.
MAX_DECIMAL_LENGTH = 40
# Only ASCII digits: [0-9] (unlike \d) matches no other script's digits.
_DECIMAL = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


class AmountError(ValueError):
    """Text that is not an amount (or rate) the portal takes; str() is a message for the user."""


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


def max_amount(asset: str) -> int:
    """The largest amount of `asset` the portal takes as input, in base units."""
    scale: int = 10 ** DECIMALS[asset]
    return MAX_WHOLE_UNITS[asset] * scale


def amount_parse(text: str, asset: str) -> int:
    """An amount typed by a person or sent by a machine ("0.001") as base units of `asset`.

    Zero parses (callers that need more say so); AmountError with a message for anything else
    that is not a plain decimal within the asset's places and maximum.
    """
    places = DECIMALS[asset]
    whole, fraction = _decimal_digits(text, what="amount", example="0.001")
    if len(fraction) > places:
        raise AmountError(f"{asset} has {places} decimal places.")
    scale: int = 10**places
    units = int(whole) * scale + int(fraction.ljust(places, "0") or "0")
    if units > max_amount(asset):
        raise _too_large(asset)
    return units


def rate_parse(text: str) -> Decimal:
    """A rate ("0.995") as a Decimal within the rate bounds; AmountError with a message."""
    whole, fraction = _decimal_digits(text, what="rate", example="0.995")
    if len(fraction) > RATE_DECIMAL_PLACES:
        raise AmountError(f"A rate has at most {RATE_DECIMAL_PLACES} decimal places.")
    if len(whole.lstrip("0")) > RATE_WHOLE_DIGITS:
        raise AmountError(f"A rate has at most {RATE_WHOLE_DIGITS} digits before the point.")
    rate = Decimal(f"{whole}.{fraction}" if fraction else whole)
    if rate == 0:
        raise AmountError("The rate must be greater than zero.")
    return rate


def _decimal_digits(text: str, *, what: str, example: str) -> tuple[str, str]:
    """The digits before and after the point of a strict decimal; AmountError otherwise."""
    if not isinstance(text, str):
        # A JSON number has been a float already, and True is an int: refuse, never guess.
        raise AmountError(f'Send the {what} as a string, e.g. "{example}", not as a number.')
    text = text.strip()
    if not text:
        raise AmountError(f"Enter the {what}.")
    if len(text) > MAX_DECIMAL_LENGTH:
        raise AmountError(f"The {what} is too long: at most {MAX_DECIMAL_LENGTH} characters.")
    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise AmountError(_shape_message(text, what, example))
    return match["whole"], match["fraction"] or ""


def _shape_message(text: str, what: str, example: str) -> str:
    if text[0] == "-":
        return f"The {what} cannot be negative."
    return (
        f"Enter the {what} as a decimal number: the digits 0-9 and at most one point, "
        f"e.g. {example} (no sign, exponent, spaces or separators)."
    )


def _too_large(asset: str) -> AmountError:
    return AmountError(
        f"The largest amount of {asset} is {amount_format(max_amount(asset), asset)}."
    )
