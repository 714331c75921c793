"""Alerts: what an operator must look at, and resolving them by hand (audited)."""

from django.db import transaction
from django.utils import timezone

from audit.services import audit_reason, audit_record, audit_target
from sidechains.models import Alert


@transaction.atomic
def alerts_resolve(*, alerts, by, reason: str, now=None) -> int:
    """Mark the open alerts among `alerts` (a queryset) resolved, each with an audit record of
    who resolved it and why. Returns how many were open; resolving twice changes nothing."""
    reason = audit_reason(reason)
    now = now or timezone.now()
    resolved = 0
    for alert in alerts.filter(resolved_at__isnull=True).select_for_update().order_by("pk"):
        if Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now):
            audit_record(
                actor=by,
                action="alert.resolved",
                target=audit_target(alert),
                reason=reason,
                details={"kind": alert.kind},
            )
            resolved += 1
    return resolved
