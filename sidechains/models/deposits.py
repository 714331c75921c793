"""Chain listeners' cursors, deposits and their audit log, alerts and rescans."""

from datetime import datetime
from typing import Self

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q

from sons.models import Sidechain


class ChainCursor(models.Model):
    """How far a chain's listener has scanned: the last block and the hashes of the last K.

    Advanced only in the transaction that records the block's deposits.
    """

    chain = models.CharField(max_length=16, choices=Sidechain, unique=True)
    height = models.BigIntegerField(help_text="The last block scanned.")
    recent = models.JSONField(
        default=list, help_text="[[height, hash], ...] of the last K blocks scanned, oldest first."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} at {self.height}"

    @classmethod
    def height_of(cls, chain: str) -> int | None:
        """How far the chain's listener has scanned: the tip height pages count depths from
        (one query; no page asks the node)."""
        return cls.objects.filter(chain=chain).values_list("height", flat=True).first()

    @property
    def tip_hash(self) -> str | None:
        return self.recent[-1][1] if self.recent else None


class DepositQuerySet(models.QuerySet["Deposit"]):
    def for_chain(self, chain: str) -> Self:
        return self.filter(chain=chain)

    def for_user(self, user: User) -> Self:
        return self.filter(user=user)

    def confirmable(self) -> Self:
        return self.filter(status=Deposit.Status.DETECTED)

    def creditable(self, now: datetime | None = None) -> Self:
        """Confirmed, and not waiting out a retry after a failed credit."""
        confirmed = self.filter(status=Deposit.Status.CONFIRMED)
        if now is None:
            return confirmed
        return confirmed.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))

    def reclaimable(self) -> Self:
        """Recorded but never credited: the depositor may still take these back alone."""
        return self.filter(status__in=Deposit.UNCREDITED_STATUSES)


class Deposit(models.Model):
    class Status(models.TextChoices):
        DETECTED = "detected"
        CONFIRMED = "confirmed"
        CREDITED = "credited"
        ORPHANED = "orphaned", "orphaned by a reorg"
        REFUND_PENDING = "refund_pending", "refund pending"
        REFUNDED = "refunded"
        RECLAIMED = "reclaimed", "reclaimed by the user"
        REORGED = "reorged", "credited, its block left the best chain"
        CLAWED_BACK = "clawed_back", "credit clawed back"

    # Recorded, not credited, not settled: a reorg orphans these; the depositor may reclaim them.
    UNCREDITED_STATUSES = (Status.DETECTED, Status.CONFIRMED, Status.REFUND_PENDING)

    chain = models.CharField(max_length=16, choices=Sidechain)
    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    amount = models.BigIntegerField(help_text="Base units of the sidechain asset.")
    mapping = models.ForeignKey(
        "mappings.SidechainAddress", on_delete=models.PROTECT, related_name="deposits"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deposits"
    )
    block_hash = models.CharField(max_length=64)
    block_height = models.BigIntegerField()
    raw_tx = models.BinaryField(
        null=True,
        blank=True,
        help_text="The deposit's transaction serialized without witnesses, as the block held "
        "it: its coin's previous transaction, which signers verify amounts against.",
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.DETECTED)
    confirmations_required = models.PositiveIntegerField()
    detected_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    rate = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    credited_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Base units of the pegged token."
    )
    sweep_fee = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Satoshi of the deposit kept for its sweep's network fee when it was credited "
        "(fee pool): the credit is the rest.",
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why it stands where it is.")
    reorged_height = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="A credited deposit whose block left the best chain: the listener's height "
        "then; not mined again within BITCOIN_CLAWBACK_WINDOW blocks of it, it is clawed back.",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Consecutive failed credits.")
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="After a failed credit, when it is tried again."
    )

    objects = DepositQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "txid", "vout"], name="sidechains_deposit_outpoint"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="sidechains_deposit_positive"),
            models.CheckConstraint(
                condition=~Q(status="credited")
                | (Q(credited_amount__isnull=False) & Q(rate__isnull=False)),
                name="sidechains_deposit_credited_has_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "chain"], name="sidechains_deposit_status"),
            models.Index(
                fields=["user", "-detected_at", "-id"], name="sidechains_deposit_user_order"
            ),
            # The admin changelist's order and its search by txid alone.
            models.Index(fields=["-detected_at", "-id"], name="sidechains_deposit_order"),
            models.Index(fields=["txid"], name="sidechains_deposit_txid"),
        ]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout} {self.amount} ({self.status})"

    def reclaim_height(self) -> int:
        """The first block that may hold the depositor's own spend (the script's CSV branch:
        the deposit T blocks deep)."""
        timelock = self.mapping.deposit_timelock or settings.BITCOIN_DEPOSIT_TIMELOCK
        return self.block_height + timelock

    def on_best_chain(self, cursor: ChainCursor) -> bool:
        """Whether the deposit's block is on the best chain as the listener sees it: at or
        below its cursor, and the same hash where the cursor keeps one for that height (older
        blocks are deeper than any reorg it follows)."""
        if self.status in (self.Status.ORPHANED, self.Status.REORGED, self.Status.CLAWED_BACK):
            return False
        if self.block_height > cursor.height:
            return False
        kept: dict[int, str] = dict(cursor.recent)  # JSON: [[height, hash], ...]
        return kept.get(self.block_height, self.block_hash) == self.block_hash

    def confirmations(self, cursor: ChainCursor) -> int:
        """Depth of the deposit's block below (and including) the listener's tip on the best
        chain; 0 when the block is not on it."""
        if not self.on_best_chain(cursor):
            return 0
        return max(0, cursor.height - self.block_height + 1)


class DepositEvent(models.Model):
    """Append-only record of every deposit status change."""

    deposit = models.ForeignKey(Deposit, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16, choices=Deposit.Status, blank=True)
    new_status = models.CharField(max_length=16, choices=Deposit.Status)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.deposit_id}: {self.old_status or '-'} -> {self.new_status}"


class Refund(models.Model):
    """A refund of an uncredited deposit to the user's withdraw address: the payout a refund
    transaction carries (its signing request lists it as "r-<deposit id>")."""

    deposit = models.ForeignKey(Deposit, on_delete=models.PROTECT, related_name="refunds")
    sidechain_tx = models.ForeignKey(
        "sidechains.SidechainTransaction", on_delete=models.PROTECT, related_name="refunds"
    )
    address = models.CharField(max_length=90)
    amount = models.BigIntegerField(help_text="Satoshi paid out: the deposit less the fee.")
    fee = models.BigIntegerField(help_text="Satoshi.")
    proposal_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="The refund_deposit proposal that ordered it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sidechains_refund_positive"),
        ]

    def __str__(self) -> str:
        return f"refund of deposit {self.deposit_id}: {self.amount} sat to {self.address}"

    @property
    def payout_id(self) -> str:
        return f"r-{self.deposit_id}"


class Alert(models.Model):
    """Something an operator must look at (e.g. a credited deposit reorged out)."""

    class Kind(models.TextChoices):
        CREDITED_DEPOSIT_REORGED = "credited_deposit_reorged", "credited deposit reorged out"
        DEEP_REORG = "deep_reorg", "reorg deeper than the kept block hashes"
        CREDITED_COIN_LOST = "credited_coin_lost", "credited deposit spent outside the portal"
        DEPOSIT_CLAWED_BACK = "deposit_clawed_back", "credited deposit clawed back"
        SWEEP_DEADLINE = "sweep_deadline", "a deposit may not be swept before its deadline"
        RESERVES_SHORTFALL = "reserves_shortfall", "reserves below liabilities: batches stopped"

    kind = models.CharField(max_length=32, choices=Kind)
    message = models.TextField()
    deposit = models.ForeignKey(
        Deposit, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open alert per deposit and kind: re-detecting the same reorg raises nothing new.
            models.UniqueConstraint(
                fields=["kind", "deposit"],
                condition=Q(resolved_at__isnull=True, deposit__isnull=False),
                name="sidechains_alert_one_open_per_deposit",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"


class RescanJob(models.Model):
    """An administrator's request to scan a range of blocks again, run by a worker."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    chain = models.CharField(max_length=16, choices=Sidechain)
    from_height = models.BigIntegerField()
    to_height = models.BigIntegerField()
    next_height = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    deposits_found = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(to_height__gte=models.F("from_height")),
                name="sidechains_rescanjob_range",
            )
        ]

    def __str__(self) -> str:
        return f"rescan {self.chain} {self.from_height}-{self.to_height} ({self.status})"

    @property
    def progress(self) -> int:
        """Percent of the range scanned."""
        total = self.to_height - self.from_height + 1
        return min(100, int(100 * (self.next_height - self.from_height) / total))
