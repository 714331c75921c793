"""The exchange-rate list: an append-only history of rates per pair.

A row says: from valid_from on, one unit of the pair's sidechain asset is worth `rate` units of
its pegged token, until the next row of the pair takes effect. The rate in force at an instant is
the pair's row with the latest valid_from at or before it; (pair, valid_from) is unique, so that
row is always well defined. A change is a new row; rows are never updated or deleted (save()
refuses, the admin has no change or delete, and a database trigger refuses UPDATE and DELETE).
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from rates.assets import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS, Asset, Pair

# The seed migration puts every pair at 1 from this instant on.
SEED_VALID_FROM = datetime(2000, 1, 1, tzinfo=UTC)


class AppendOnlyError(Exception):
    """Somebody tried to change or delete an exchange rate that is already recorded."""


def validate_rate(value: Decimal) -> None:
    """A rate is a finite Decimal > 0 (decimal fields check the digit bounds themselves)."""
    if not value.is_finite():
        raise ValidationError("The rate must be a number.", code="invalid")
    if value <= 0:
        raise ValidationError("The rate must be greater than zero.", code="min_value")


validate_rate_digits = DecimalValidator(RATE_MAX_DIGITS, RATE_DECIMAL_PLACES)


class ExchangeRateQuerySet(models.QuerySet["ExchangeRate"]):
    def for_pair(self, pair: str) -> Self:
        return self.filter(pair=pair)

    def in_force(self, at: datetime | None = None) -> Self:
        """Per pair, the row in force at `at` (default now)."""
        at = at or timezone.now()
        return self.filter(valid_from__lte=at).order_by("pair", "-valid_from").distinct("pair")

    def scheduled(self, at: datetime | None = None) -> Self:
        """Rows that take effect after `at` (default now), soonest first."""
        return self.filter(valid_from__gt=at or timezone.now()).order_by("valid_from")

    def newest_first(self) -> Self:
        return self.order_by("-valid_from")

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Exchange rates are append-only: add a new rate instead.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Exchange rates are append-only: they are never deleted.")


class ExchangeRate(models.Model):
    class Status(models.TextChoices):
        """Where a row stands at a given instant (derived, not stored)."""

        SCHEDULED = "scheduled", "scheduled"
        IN_FORCE = "in_force", "in force"
        SUPERSEDED = "superseded", "superseded"

    pair = models.CharField(max_length=16, choices=Pair)
    rate = models.DecimalField(
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        validators=[validate_rate],
        help_text="Pegged units per unit of the sidechain asset.",
    )
    valid_from = models.DateTimeField(
        help_text="The rate is in force from this instant until the pair's next rate."
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exchange_rates_set",
        help_text="Empty for the seed.",
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The API client's idempotency key: a replayed request returns the row it created first.
    # NULL, not "", for rows without one: NULLs never collide in the unique constraint.
    request_id = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, editable=False
    )

    objects = ExchangeRateQuerySet.as_manager()

    # Set on the row rate_set() returns when request_id matched an earlier request.
    replayed = False

    class Meta:
        ordering = ["pair", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gt=0), name="rates_exchangerate_rate_positive"
            ),
            models.CheckConstraint(
                condition=Q(pair__in=Pair.values), name="rates_exchangerate_pair_known"
            ),
            models.UniqueConstraint(
                fields=["pair", "valid_from"], name="rates_exchangerate_one_per_instant"
            ),
            models.UniqueConstraint(
                fields=["request_id"], name="rates_exchangerate_unique_request_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pair} {self.rate:.8f} from {self.valid_from:%Y-%m-%d %H:%M:%S} UTC"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Exchange rates are append-only: add a new rate instead.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return f"{reverse('rates-list')}#{Pair(self.pair).slug}"

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Exchange rates are append-only: they are never deleted.")

    @property
    def sidechain_asset(self) -> Asset:
        return Pair(self.pair).sidechain_asset

    @property
    def pegged_asset(self) -> Asset:
        return Pair(self.pair).pegged_asset

    def status_at(self, now: datetime, in_force: "ExchangeRate | None") -> Status:
        """This row's standing at `now`, given the pair's row in force then."""
        if self.valid_from > now:
            return self.Status.SCHEDULED
        if in_force is not None and self.pk == in_force.pk:
            return self.Status.IN_FORCE
        return self.Status.SUPERSEDED


def rate_in_force(pair: str, at: datetime | None = None) -> ExchangeRate:
    """The pair's rate at `at` (default now): the latest valid_from at or before it.

    Raises ExchangeRate.DoesNotExist before the pair's first rate (the seed is from 2000).
    """
    return ExchangeRate.objects.for_pair(pair).in_force(at).get()
