"""State machines: one conditional UPDATE per transition, and its audit row (STYLE.md, 4).

A transition moves a row from `old` to `new` only if it is still `old` (a row-count check: 0
means another worker got there first) and, in the same transaction, appends an event row that
records it. Failures of periodic work on one item are recorded on that item with a backoff, so
one bad item never blocks the others.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import F

FIRST_RETRY = 10  # seconds after the first failure; doubling up to MAX_RETRY
MAX_RETRY = 3600


def transition(
    model: type[models.Model],
    pk: int,
    old: str,
    new: str,
    *,
    event: type[models.Model],
    owner: str,
    event_note: str = "",
    **fields: Any,
) -> bool:
    """Move row `pk` of `model` from status `old` to `new` with `fields`, and append an `event`
    row (its foreign key to the row named `owner`, its note `event_note`). False, and nothing
    written, if the row was not `old` any more. Call inside a transaction."""
    moved = model._default_manager.filter(pk=pk, status=old).update(status=new, **fields) == 1
    if moved:
        limit = _max_length(event, "note")
        event._default_manager.create(
            **{f"{owner}_id": pk}, old_status=old, new_status=new, note=event_note[:limit]
        )
    return moved


def failed_attempt(
    model: type[models.Model],
    pk: int,
    error: Exception,
    *,
    now: datetime,
    field: str,
    prefix: str = "",
) -> None:
    """Record that periodic work on row `pk` failed: the error in `field`, one more attempt,
    and the time before which it is not tried again (doubling, at most MAX_RETRY)."""
    attempts = model._default_manager.filter(pk=pk).values_list("attempts", flat=True).first()
    delay = min(MAX_RETRY, FIRST_RETRY * 2 ** min(attempts or 0, 16))
    limit = _max_length(model, field) or 2000
    message = f"{prefix}{type(error).__name__}: {error}"[:limit]
    model._default_manager.filter(pk=pk).update(
        attempts=F("attempts") + 1, retry_at=now + timedelta(seconds=delay), **{field: message}
    )


def attempt_succeeded(model: type[models.Model], pk: int) -> None:
    """Clear a row's failure count after its work went through."""
    model._default_manager.filter(pk=pk, attempts__gt=0).update(attempts=0, retry_at=None)


def _max_length(model: type[models.Model], name: str) -> int | None:
    """The field's max_length: None for a field without one, or a relation."""
    field = model._meta.get_field(name)
    return field.max_length if isinstance(field, models.Field) else None
