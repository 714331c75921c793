"""Users' withdrawals of pegged tokens and their audit log (docs/withdrawals.md)."""

from typing import Self

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q

from sidechains.models.transactions import SidechainTransaction
from sons.models import Sidechain


class WithdrawalQuerySet(models.QuerySet["Withdrawal"]):
    def for_user(self, user: User) -> Self:
        return self.filter(user=user)

    def for_chain(self, chain: str) -> Self:
        return self.filter(chain=chain)

    def batchable(self) -> Self:
        return self.filter(status=Withdrawal.Status.REQUESTED)


class Withdrawal(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested"
        # Its destination fails today's address rules (docs/withdrawals.md, "Held for review").
        HELD = "held", "held for review"
        BATCHED = "batched", "batched, awaiting signatures"
        BROADCAST = "broadcast"
        SETTLED = "settled"
        FAILED = "failed", "failed (escrow returned)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals"
    )
    chain = models.CharField(max_length=16, choices=Sidechain, default=Sidechain.BITCOIN)
    amount_pegged = models.BigIntegerField(help_text="Base units of the pegged token escrowed.")
    rate = models.DecimalField(max_digits=12, decimal_places=8)
    amount = models.BigIntegerField(help_text="Satoshi before the fee.")
    fee_share = models.BigIntegerField(
        default=0,
        help_text="Satoshi the user is charged: the quoted fee, fixed at the request; without a "
        "quote, the batch's share, set when batched.",
    )
    fee_quote_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the quoted fee would have expired; empty: no quote."
    )
    network_fee_share = models.BigIntegerField(
        default=0,
        db_default=0,  # rows written by raw SQL (bench/web/seed.py) leave it out
        help_text="Satoshi of its transaction's real network fee this withdrawal accounts for; "
        "the fee pool takes the difference from fee_share at settlement.",
    )
    address = models.CharField(max_length=90, help_text="Bitcoin address, or Hive account.")
    asset = models.CharField(
        max_length=8, blank=True, help_text="What a Hive withdrawal pays: HIVE or HBD."
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.REQUESTED)
    request_id = models.CharField(max_length=64)
    sidechain_tx = models.ForeignKey(
        SidechainTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="withdrawals",
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why it stands where it is.")
    failure_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = WithdrawalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("resolve_withdrawal", "Can resolve a withdrawal by hand (fail it, release it)")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "request_id"], name="sidechains_withdrawal_request"
            ),
            models.CheckConstraint(
                condition=Q(amount_pegged__gt=0) & Q(amount__gt=0),
                name="sidechains_withdrawal_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="sidechains_withdrawal_status"),
            # A user's list, in its order: an index scan, no sort.
            models.Index(fields=["user", "-created_at", "-id"], name="sidechains_withdrawal_user"),
            models.Index(fields=["-created_at", "-id"], name="sidechains_withdrawal_order"),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk} {self.amount} sat to {self.address} ({self.status})"

    @property
    def payout(self) -> int:
        """Satoshi the user receives: the amount less the fee they are charged."""
        return self.amount - self.fee_share

    @property
    def fee_quoted(self) -> bool:
        """Charged the fee quoted before the request (not the batch's share)."""
        return self.fee_quote_expires_at is not None


class WithdrawalEvent(models.Model):
    """Append-only record of every withdrawal status change."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16, choices=Withdrawal.Status, blank=True)
    new_status = models.CharField(max_length=16, choices=Withdrawal.Status)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.withdrawal_id}: {self.old_status or '-'} -> {self.new_status}"
