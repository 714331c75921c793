"""Hive deposits: transfers of HIVE or HBD to the federation account (docs/hive.md).

The listener reads irreversible blocks only, so a recorded Hive deposit never goes away: it is
credited, held for an administrator's review, or set aside for a refund to its sender.
"""

from typing import Self

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q


class HiveDepositQuerySet(models.QuerySet["HiveDeposit"]):
    def for_user(self, user: User) -> Self:
        return self.filter(user=user)

    def creditable(self) -> Self:
        return self.filter(status=HiveDeposit.Status.RECEIVED)

    def held(self) -> Self:
        return self.filter(status=HiveDeposit.Status.HELD)


class HiveDeposit(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "received, irreversible"
        CREDITED = "credited"
        HELD = "held", "held for review"
        REFUND_PENDING = "refund_pending", "refund pending"
        REFUNDING = "refunding", "refund ordered, in a Hive transaction"
        REFUNDED = "refunded"

    class Route(models.TextChoices):
        MEMO = "memo", "the memo names the portal account"
        SENDER = "sender", "the sender's verified mapping"
        ADMIN = "admin", "an administrator's decision"

    class Hold(models.TextChoices):
        ENCRYPTED_MEMO = "encrypted_memo", "encrypted memo"
        UNKNOWN_SENDER = "unknown_sender", "sender mapped to no user"
        UNKNOWN_ACCOUNT = "unknown_account", "memo names no portal account"
        OTHER_ASSET = "other_asset", "neither HIVE nor HBD"

    trx_id = models.CharField(max_length=40)
    op_index = models.PositiveIntegerField(help_text="The transfer's place in its transaction.")
    block_num = models.BigIntegerField()
    block_time = models.DateTimeField()
    sender = models.CharField(max_length=16)
    asset = models.CharField(max_length=16, help_text="HIVE, HBD, or what the transfer named.")
    amount = models.BigIntegerField(help_text="0.001 units.")
    memo = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hive_deposits",
    )
    route = models.CharField(max_length=8, choices=Route, blank=True)
    hold = models.CharField(max_length=16, choices=Hold, blank=True)
    status = models.CharField(max_length=16, choices=Status)
    detected_at = models.DateTimeField()
    credited_at = models.DateTimeField(null=True, blank=True)
    rate = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    credited_amount = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)

    objects = HiveDepositQuerySet.as_manager()

    class Meta:
        ordering = ["-block_num", "-id"]
        permissions = [
            ("review_hivedeposit", "Can credit a held Hive deposit to a user or refund it")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["trx_id", "op_index"], name="sidechains_hivedeposit_operation"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="sidechains_hivedeposit_positive"
            ),
            models.CheckConstraint(
                condition=~Q(status="credited")
                | (
                    Q(credited_amount__isnull=False) & Q(rate__isnull=False) & Q(user__isnull=False)
                ),
                name="sidechains_hivedeposit_credited_has_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status="held") | ~Q(hold=""),
                name="sidechains_hivedeposit_held_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="sidechains_hivedeposit_status"),
            models.Index(fields=["user", "-block_num"], name="sidechains_hivedeposit_user"),
        ]

    def __str__(self) -> str:
        return f"{self.trx_id}/{self.op_index} {self.amount} {self.asset} ({self.status})"


class HiveDepositEvent(models.Model):
    """Append-only record of every Hive deposit status change."""

    deposit = models.ForeignKey(HiveDeposit, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16, choices=HiveDeposit.Status, blank=True)
    new_status = models.CharField(max_length=16, choices=HiveDeposit.Status)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.deposit_id}: {self.old_status or '-'} -> {self.new_status}"


class HiveTransactionQuerySet(models.QuerySet["HiveTransaction"]):
    def live(self) -> Self:
        """Not finished: it may still be (or become) included in a block."""
        return self.filter(status__in=HiveTransaction.LIVE_STATUSES)


class HiveTransaction(models.Model):
    """One Hive transaction of transfers from the federation account paying withdrawals, or
    of the account_update that rotates the federation (federation_version set).

    Its withdrawals are paid by at most one live transaction: a new one (a rebuild, `previous`)
    is made only after this one expired and its expiration is in an irreversible block.
    """

    class Status(models.TextChoices):
        AWAITING_SIGNATURES = "awaiting_signatures", "awaiting signatures"
        SIGNED = "signed", "signed, to broadcast"
        BROADCAST = "broadcast"
        CONFIRMED = "confirmed", "in an irreversible block"
        EXPIRED = "expired", "expired unincluded"
        FAILED = "failed"

    LIVE_STATUSES = (Status.AWAITING_SIGNATURES, Status.SIGNED, Status.BROADCAST)

    trx_id = models.CharField(max_length=40, unique=True)
    chain_id = models.CharField(max_length=64, help_text="The node's HIVE_CHAIN_ID.")
    tx = models.JSONField(help_text="The unsigned transaction, in the legacy JSON form.")
    reference_time = models.DateTimeField(help_text="Time of the TaPoS reference block.")
    expiration = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status, default=Status.AWAITING_SIGNATURES)
    signatures = models.JSONField(default=list, help_text="The minimal set broadcast, hex.")
    block_num = models.BigIntegerField(null=True, blank=True)
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="rebuilt_as"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    federation_version = models.ForeignKey(
        "sons.FederationVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hive_transactions",
        help_text="A rotation: the account_update giving the federation account this version's "
        "keys as its active authority (no payouts).",
    )

    objects = HiveTransactionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"hive tx {self.trx_id} ({self.status})"


class HivePayout(models.Model):
    """A withdrawal paid by a Hive transaction (one row per transaction that tried)."""

    hive_tx = models.ForeignKey(HiveTransaction, on_delete=models.PROTECT, related_name="payouts")
    withdrawal = models.ForeignKey(
        "sidechains.Withdrawal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hive_payouts",
    )
    refund = models.ForeignKey(
        HiveDeposit, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hive_tx", "withdrawal"], name="sidechains_hivepayout_unique"
            ),
            models.UniqueConstraint(
                fields=["hive_tx", "refund"], name="sidechains_hivepayout_refund_unique"
            ),
            models.CheckConstraint(
                condition=(Q(withdrawal__isnull=False) & Q(refund__isnull=True))
                | (Q(withdrawal__isnull=True) & Q(refund__isnull=False)),
                name="sidechains_hivepayout_one_kind",
            ),
        ]

    def __str__(self) -> str:
        what = (
            f"withdrawal {self.withdrawal_id}" if self.withdrawal_id else f"refund {self.refund_id}"
        )
        return f"{self.hive_tx_id} pays {what}"


class HiveSignature(models.Model):
    """A SON's signature of a Hive transaction, checked by key recovery before it is kept."""

    hive_tx = models.ForeignKey(
        HiveTransaction, on_delete=models.CASCADE, related_name="son_signatures"
    )
    son = models.ForeignKey("sons.SON", on_delete=models.PROTECT, related_name="+")
    public_key = models.CharField(max_length=64)
    signature = models.CharField(max_length=130)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hive_tx", "son"], name="sidechains_hivesig_once")
        ]

    def __str__(self) -> str:
        return f"{self.son_id} signed {self.hive_tx_id}"
