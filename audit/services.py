"""Writing the audit log. Call audit_record() inside the transaction of the change it records,
so that the change and its record commit together or not at all."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from audit.models import AuditRecord

MAX_REASON = 500


class AuditError(Exception):
    """A record the log refuses (e.g. an action with no reason where one is required)."""


def audit_reason(reason: str) -> str:
    """A manual action's reason, which its record must have; AuditError if it is blank."""
    if not reason or not reason.strip():
        raise AuditError("Give a reason: the audit log records why this was done.")
    return reason.strip()


def audit_target(obj: models.Model) -> str:
    """How a record names an object: "<model name>:<pk>" (e.g. "son:3")."""
    return f"{obj._meta.model_name}:{obj.pk}"


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record. `actor` is the user who acted (None: the portal itself)."""
    if not action or not target:
        raise AuditError("An audit record names its action and its target.")
    return AuditRecord.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target=target,
        reason=reason.strip()[:MAX_REASON],
        details=details or {},
    )
