"""The audit log: who did what to which object, and why. Append-only.

Every action a person takes beyond their own account (an administrator issuing a SON token or
resolving a withdrawal by hand, an operator rotating their token, ...) leaves one row here, in
the transaction of the change itself. Rows are never updated or deleted: the model refuses,
the admin is read-only, and a database trigger refuses UPDATE and DELETE.
"""

from typing import Any, NoReturn, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.chain import record_hash


class AppendOnlyError(Exception):
    """Somebody tried to change or delete an audit record."""


class AuditRecordQuerySet(models.QuerySet["AuditRecord"]):
    def for_target(self, target: str) -> Self:
        return self.filter(target=target)


class AuditRecord(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_records",
        help_text="Who acted; empty for the portal itself.",
    )
    action = models.CharField(max_length=64, help_text='"<entity>.<verb>", e.g. son.token_issued')
    target = models.CharField(max_length=128, help_text='"<entity>:<id>", e.g. son:3')
    reason = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # Set before the hash is computed, which covers it (auto_now_add would set it after).
    created_at = models.DateTimeField(default=timezone.now)
    seq = models.PositiveBigIntegerField(unique=True, help_text="Position in the chain, from 1.")
    prev_hash = models.CharField(max_length=64, help_text="The previous record's hash (hex).")
    hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of this record.")

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target", "-created_at"], name="audit_record_target")]

    def __str__(self) -> str:
        who = self.actor or "portal"
        return f"{who} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit records are never changed.")
        super().save(*args, **kwargs)

    def computed_hash(self) -> str:
        """The hash this record's fields give now (docs/proofs.md, audit/chain.py)."""
        return record_hash(
            seq=self.seq,
            prev=self.prev_hash,
            actor=self.actor_id,
            action=self.action,
            target=self.target,
            reason=self.reason,
            details=self.details,
            created_at=self.created_at,
        )

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit records are never deleted.")
