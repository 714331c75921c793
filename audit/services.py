"""Writing the audit log. Call audit_record() inside the transaction of the change it records,
so that the change and its record commit together or not at all."""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, models, transaction
from django.utils import timezone

from audit.chain import APPEND_LOCK, GENESIS
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
    """Append one record, chained to the head. `actor` is the user who acted (None: the portal
    itself). Appends are serialized by a transaction-level advisory lock, held until the
    caller's transaction ends, so two concurrent appends never chain to the same head."""
    if not action or not target:
        raise AuditError("An audit record names its action and its target.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK])
        head = audit_head()
        record = AuditRecord(
            actor=actor if actor is not None and actor.is_authenticated else None,
            action=action,
            target=target,
            reason=reason.strip()[:MAX_REASON],
            # As the database will give it back (jsonb), so the hash verifies later.
            details=json.loads(json.dumps(details or {})),
            created_at=timezone.now(),
            seq=head.seq + 1 if head else 1,
            prev_hash=head.hash if head else GENESIS,
        )
        record.hash = record.computed_hash()
        record.save()
    return record


def audit_head() -> AuditRecord | None:
    """The newest record of the chain (None for an empty log)."""
    return AuditRecord.objects.order_by("-seq").first()


def audit_head_hash() -> str:
    """The chain's head hash: what an epoch publishes (64 zeros for an empty log)."""
    head = audit_head()
    return head.hash if head else GENESIS


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def audit_verify(*, chunk_size: int = 2000) -> tuple[int, list[ChainBreak]]:
    """Walk the chain from its first record: (records checked, breaks found). A record breaks
    the chain if its fields do not give its hash, if it does not name the previous record's
    hash, or if a position is missing. Removing the newest records is seen only against a head
    published earlier (each liabilities epoch publishes it)."""
    breaks: list[ChainBreak] = []
    prev, expected, count = GENESIS, 1, 0
    for record in AuditRecord.objects.order_by("seq").iterator(chunk_size=chunk_size):
        count += 1
        if record.seq != expected:
            breaks.append(ChainBreak(expected, f"records {expected}..{record.seq - 1} missing"))
        if record.prev_hash != prev:
            breaks.append(ChainBreak(record.seq, "does not name the previous record's hash"))
        if record.computed_hash() != record.hash:
            breaks.append(ChainBreak(record.seq, "its fields do not give its hash (edited)"))
        prev, expected = record.hash, record.seq + 1
    return count, breaks
