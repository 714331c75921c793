"""State changes of SONs. Views, the API and tasks call these; nothing else writes SON rows."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sidechains.models import SON, SONStatusChange, hash_token


class SONError(Exception):
    """An operation that the SON's current state does not allow."""


def son_issue_token(*, son: SON) -> str:
    """Issue a new API token for the SON's signer; the previous one stops working.

    Returns the token once. Only its hash is stored.
    """
    token = secrets.token_urlsafe(32)
    SON.objects.filter(pk=son.pk).update(
        token_hash=hash_token(token), token_created_at=timezone.now()
    )
    son.refresh_from_db(fields=["token_hash", "token_created_at"])
    return token


def _transition(*, son: SON, old: str, new: str, reason: str, now, **fields) -> bool:
    n = SON.objects.filter(pk=son.pk, status=old).update(status=new, **fields)
    if n == 1:
        SONStatusChange.objects.create(
            son=son, old_status=old, new_status=new, reason=reason, created_at=now
        )
    return n == 1


@transaction.atomic
def son_heartbeat(*, son: SON, now=None) -> SON:
    """Record a heartbeat. A SON that was marked down comes back up."""
    now = now or timezone.now()
    SON.objects.filter(pk=son.pk).update(last_heartbeat_at=now, last_active_at=now)
    son.refresh_from_db()
    if son.status == SON.Status.IN_MAINTENANCE and son.last_down_at is not None:
        downtime = int((now - son.last_down_at).total_seconds())
        _transition(
            son=son,
            old=SON.Status.IN_MAINTENANCE,
            new=SON.Status.ACTIVE,
            reason="heartbeat received",
            now=now,
            total_downtime=son.total_downtime + max(downtime, 0),
        )
        son.refresh_from_db()
    return son


def son_mark_down_if_silent(*, now=None) -> list[SON]:
    """Every SON silent for longer than SON_DOWN_TIME goes in_maintenance. Safe to re-run."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SON_DOWN_TIME)
    marked = []
    silent = SON.objects.filter(
        Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at=None, created_at__lt=cutoff),
        status__in=[SON.Status.ACTIVE, SON.Status.REQUEST_MAINTENANCE],
    )
    for son in silent:
        with transaction.atomic():
            if _transition(
                son=son,
                old=son.status,
                new=SON.Status.IN_MAINTENANCE,
                reason=f"no heartbeat for more than {settings.SON_DOWN_TIME} s",
                now=now,
                last_down_at=now,
            ):
                marked.append(son)
    return marked
