"""State changes of the exchange-rate list. The page, the API and the admin call these."""

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record, audit_target
from rates.assets import Pair
from rates.models import ExchangeRate, validate_rate, validate_rate_digits


class RateError(Exception):
    """A rate the list cannot take. `field` names the input at fault (None: the whole request)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class RateConflict(RateError):
    """The request collides with a recorded rate (same instant, or a reused request id)."""


def rate_check(
    *, pair: str, rate: Decimal, valid_from: datetime, set_by: AbstractUser | None, now: datetime
) -> None:
    """Everything rate_set() checks before it writes; raises RateError."""
    _check_request(pair=pair, rate=rate, set_by=set_by)
    _check_time(valid_from=valid_from, now=now)


@transaction.atomic
def rate_set(
    *,
    pair: str,
    rate: Decimal,
    valid_from: datetime | None = None,
    set_by: AbstractUser | None,
    note: str = "",
    request_id: str | None = None,
) -> ExchangeRate:
    """Record a new rate for `pair`, in force from `valid_from` (default now) on.

    A rate never takes effect in the past: that would rewrite the rate history that deposits
    and withdrawals were converted at. A request_id seen before returns the row it created
    (with .replayed set); reusing one for a different rate is a RateConflict.
    """
    _check_request(pair=pair, rate=rate, set_by=set_by)
    asked = {"pair": pair, "rate": rate, "valid_from": valid_from, "set_by": set_by, "note": note}
    if request_id is not None and (earlier := _by_request_id(request_id)) is not None:
        return _replay(earlier, **asked)
    now = timezone.now()
    effective = valid_from or now
    _check_time(valid_from=effective, now=now)
    try:
        with transaction.atomic():  # a savepoint: a collision leaves the outer block usable
            created = ExchangeRate.objects.create(
                **{**asked, "valid_from": effective}, request_id=request_id
            )
    except IntegrityError:
        if request_id is not None and (earlier := _by_request_id(request_id)) is not None:
            # A concurrent request with the same id got there first.
            return _replay(earlier, **asked)
        if ExchangeRate.objects.for_pair(pair).filter(valid_from=effective).exists():
            raise RateConflict(
                f"{pair} already has a rate taking effect at {effective:%Y-%m-%d %H:%M:%S} UTC.",
                field="valid_from",
            ) from None
        raise
    _audit(created)
    return created


def _audit(rate: ExchangeRate) -> None:
    audit_record(
        actor=rate.set_by,
        action="rate.set",
        target=audit_target(rate),
        reason=rate.note,
        details={
            "pair": rate.pair,
            "rate": str(rate.rate),
            "valid_from": rate.valid_from.isoformat(),
        },
    )


def _check_request(*, pair: str, rate: Decimal, set_by: AbstractUser | None) -> None:
    if set_by is None or not set_by.has_perm("rates.add_exchangerate"):
        raise RateError("Only administrators set exchange rates.")
    if pair not in Pair.values:
        raise RateError(f"Unknown pair {pair!r}.", field="pair")
    if not isinstance(rate, Decimal):
        # A float has already lost digits; refuse it rather than guess what was meant.
        raise RateError("The rate must be a decimal number.", field="rate")
    try:
        validate_rate(rate)
        validate_rate_digits(rate)
    except ValidationError as e:
        raise RateError(" ".join(e.messages), field="rate") from None


def _check_time(*, valid_from: datetime, now: datetime) -> None:
    if timezone.is_naive(valid_from):
        raise RateError("Give the time with its time zone.", field="valid_from")
    if valid_from < now:
        raise RateError(
            "A rate cannot take effect in the past: history is append-only. "
            "Leave the time empty for now, or pick a later time.",
            field="valid_from",
        )


def _by_request_id(request_id: str) -> ExchangeRate | None:
    return ExchangeRate.objects.select_related("set_by").filter(request_id=request_id).first()


def _replay(
    earlier: ExchangeRate,
    *,
    pair: str,
    rate: Decimal,
    valid_from: datetime | None,
    set_by: AbstractUser,
    note: str,
) -> ExchangeRate:
    same = (
        earlier.pair == pair
        and earlier.rate == rate
        and earlier.set_by_id == set_by.pk
        and earlier.note == note
        and (valid_from is None or earlier.valid_from == valid_from)
    )
    if not same:
        raise RateConflict(
            "This request id was already used for a different rate.", field="request_id"
        )
    earlier.replayed = True
    return earlier
