from dataclasses import dataclass
from datetime import datetime
from typing import Self

from django.conf import settings
from django.db import models
from django.db.models import Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.urls import reverse


class WitnessQuerySet(models.QuerySet["Witness"]):
    def active(self) -> Self:
        return self.filter(active=True)

    def total_weight(self) -> int:
        total: int = self.aggregate(total=Sum("weight"))["total"] or 0
        return total


class Witness(models.Model):
    """A governance member. Proposals pass at more than half of the active witnesses' weight."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="witness"
    )
    weight = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WitnessQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "witnesses"
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gt=0), name="proposals_witness_weight_positive"
            )
        ]

    def __str__(self) -> str:
        return self.user.get_username()


def passes(approved: int, total: int) -> bool:
    """The threshold: strictly more than half of the active weight (and some weight at all)."""
    return total > 0 and 2 * approved > total


@dataclass(frozen=True)
class Progress:
    approved: int  # weight of the approvals by active witnesses
    total: int  # weight of all active witnesses

    @property
    def needed(self) -> int:
        """The smallest approved weight that passes."""
        return self.total // 2 + 1

    @property
    def passes(self) -> bool:
        return passes(self.approved, self.total)

    @property
    def percent(self) -> int:
        return min(100, 100 * self.approved // self.total) if self.total else 0


class ProposalQuerySet(models.QuerySet["Proposal"]):
    def open(self) -> Self:
        return self.filter(status=Proposal.Status.OPEN)

    def pending(self) -> Self:
        """Not closed yet: open, or approved and waiting for execution."""
        return self.filter(status__in=Proposal.PENDING_STATUSES)

    def closed(self) -> Self:
        return self.exclude(status__in=Proposal.PENDING_STATUSES)

    def approved(self) -> Self:
        return self.filter(status=Proposal.Status.APPROVED)

    def expired_by(self, now: datetime) -> Self:
        return self.open().filter(expires_at__lte=now)

    def deregistrations(self) -> Self:
        return self.filter(kind=Proposal.Kind.DEREGISTER_SON)

    def refunds(self) -> Self:
        return self.filter(kind=Proposal.Kind.REFUND_DEPOSIT)

    def rotations(self) -> Self:
        return self.filter(kind=Proposal.Kind.ROTATE_FEDERATION)


class Proposal(models.Model):
    """A change that needs the witnesses: raised by the portal, executed once it passes."""

    class Kind(models.TextChoices):
        DEREGISTER_SON = "deregister_son", "deregister a SON"
        REFUND_DEPOSIT = "refund_deposit", "refund a deposit"
        REFUND_HIVE_DEPOSIT = "refund_hive_deposit", "refund a Hive deposit"
        ROTATE_FEDERATION = "rotate_federation", "rotate the federation"

    class Status(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"  # passed the threshold; executes at once, or at the next tick
        EXECUTED = "executed"
        EXPIRED = "expired"

    PENDING_STATUSES = [Status.OPEN, Status.APPROVED]

    kind = models.CharField(max_length=32, choices=Kind)
    payload = models.JSONField(default=dict, blank=True)
    son = models.ForeignKey(
        "sons.SON",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposals",
        help_text="The SON the proposal is about, if any (one pending proposal per kind and SON).",
    )
    deposit = models.ForeignKey(
        "sidechains.Deposit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposals",
        help_text="The deposit a refund proposal pays back (one pending proposal per deposit).",
    )
    hive_deposit = models.ForeignKey(
        "sidechains.HiveDeposit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposals",
        help_text="The Hive deposit a refund proposal pays back (one pending proposal each).",
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.OPEN)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=300, blank=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "son"],
                condition=Q(status__in=["open", "approved"]),
                name="proposals_proposal_one_pending_per_son",
            ),
            models.UniqueConstraint(
                fields=["kind", "deposit"],
                condition=Q(status__in=["open", "approved"]),
                name="proposals_proposal_one_pending_per_deposit",
            ),
            models.UniqueConstraint(
                fields=["kind", "hive_deposit"],
                condition=Q(status__in=["open", "approved"]),
                name="proposals_proposal_one_pending_per_hive_deposit",
            ),
            # One pending rotation per sidechain (the payload names it).
            models.UniqueConstraint(
                KeyTextTransform("sidechain", "payload"),
                condition=Q(kind="rotate_federation", status__in=["open", "approved"]),
                name="proposals_proposal_one_pending_rotation_per_sidechain",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="proposals_proposal_expires_after_creation",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="proposals_proposal_due"),
            # The witness desk's history, newest first: an index scan, not a sort of them all.
            models.Index(fields=["-created_at", "-id"], name="proposals_proposal_recent"),
        ]

    def __str__(self) -> str:
        about = f" {self.son}" if self.son_id else ""
        about += f" {self.payload.get('outpoint', '')}" if self.deposit_id else ""
        return f"#{self.pk} {self.get_kind_display()}{about}"

    def get_absolute_url(self) -> str:
        return reverse("proposals-detail", args=[self.pk])

    def is_open(self, now: datetime) -> bool:
        return self.status == self.Status.OPEN and now < self.expires_at

    def approved_weight(self) -> int:
        """Weight of the approvals by witnesses who are active now; others do not count."""
        approvals = self.approvals.filter(witness__active=True)
        return approvals.aggregate(total=Sum("witness__weight"))["total"] or 0

    def progress(self) -> Progress:
        return Progress(self.approved_weight(), Witness.objects.active().total_weight())

    def is_approved(self) -> bool:
        return self.progress().passes


class Approval(models.Model):
    """A witness's approval of a proposal; revoking deletes it (the event stays)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="approvals")
    witness = models.ForeignKey(Witness, on_delete=models.PROTECT, related_name="approvals")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "witness"], name="proposals_approval_once_per_witness"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.witness} approves {self.proposal}"


class ProposalEvent(models.Model):
    """Append-only record of everything that happened to a proposal."""

    class Kind(models.TextChoices):
        RAISED = "raised"
        APPROVED = "approved"
        REVOKED = "revoked"
        PASSED = "passed"
        EXECUTED = "executed"
        FAILED = "failed", "execution failed"
        EXPIRED = "expired"

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind)
    witness = models.ForeignKey(
        Witness, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["proposal", "created_at"], name="proposals_event_proposal"),
        ]

    def __str__(self) -> str:
        return f"{self.proposal}: {self.kind}"
