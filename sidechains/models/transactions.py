"""The federation's coins and the transactions it signs: built unsigned, signed by m SONs,
broadcast, confirmed; with the SONs' signatures and refusals and the audit rows of both state
machines (docs/withdrawals.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Self

from django.apps import apps
from django.db import models
from django.db.models import Q

from sons.models import SON, Sidechain

if TYPE_CHECKING:
    from sidechains.models.withdrawals import WithdrawalQuerySet


class CoinQuerySet(models.QuerySet["Coin"]):
    def for_chain(self, chain: str) -> Self:
        return self.filter(chain=chain)

    def available(self) -> Self:
        return self.filter(status=Coin.Status.AVAILABLE)

    def held(self) -> Self:
        """Coins the federation holds: available, or reserved by an unconfirmed transaction."""
        return self.filter(status__in=Coin.HELD_STATUSES)

    def reserved_by_any(self, sidechain_tx_ids: Iterable[int]) -> Self:
        return self.filter(reserved_by__in=sidechain_tx_ids, status=Coin.Status.RESERVED)


class UnspendableKind(models.TextChoices):
    """Why a transaction can never spend one of its coins."""

    RECLAIMED = "reclaimed", "reclaimed by its depositor"
    SPENT_ELSEWHERE = "spent_elsewhere", "spent by another transaction"
    MISSING = "missing", "not unspent on the node"


class Coin(models.Model):
    """An output the federation controls: a credited deposit, or the change of a withdrawal."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit"
        CHANGE = "change"

    class Status(models.TextChoices):
        AVAILABLE = "available"
        RESERVED = "reserved", "reserved by an unconfirmed transaction"
        SPENT = "spent"
        LOST = "lost", "spent outside the portal"
        MISSING = "missing", "not unspent on the node (reorged out or spent elsewhere)"

    HELD_STATUSES = (Status.AVAILABLE, Status.RESERVED)

    chain = models.CharField(max_length=16, choices=Sidechain, default=Sidechain.BITCOIN)
    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    amount = models.BigIntegerField(help_text="Satoshi.")
    witness_script = models.BinaryField()
    prev_tx = models.BinaryField(
        null=True,
        blank=True,
        help_text="The transaction that created the coin, serialized without witnesses: "
        "signing requests carry it, and signers take the amount from it. A coin without it "
        "is never spent.",
    )
    kind = models.CharField(max_length=8, choices=Kind)
    status = models.CharField(max_length=12, choices=Status, default=Status.AVAILABLE)
    deposit = models.OneToOneField(
        "sidechains.Deposit", on_delete=models.PROTECT, null=True, blank=True, related_name="coin"
    )
    reserved_by = models.ForeignKey(
        "sidechains.SidechainTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reserved_coins",
    )
    spent_by = models.ForeignKey(
        "sidechains.SidechainTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="spent_coins",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CoinQuerySet.as_manager()

    class Meta:
        ordering = ["-amount", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "txid", "vout"], name="sidechains_coin_outpoint"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="sidechains_coin_positive"),
            models.CheckConstraint(
                condition=~Q(status="reserved") | Q(reserved_by__isnull=False),
                name="sidechains_coin_reserved_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout} {self.amount} ({self.status})"

    @property
    def outpoint(self) -> str:
        return f"{self.txid}:{self.vout}"

    def unspendable(self, family: list[int]) -> tuple[UnspendableKind, str] | None:
        """Why a transaction of the fee-bump family `family` can never spend this coin, or None.

        Only provable cases: its deposit was reclaimed by the depositor with their own key (the
        listener saw the spend in a block: the deposit reclaimed, or the coin lost), another
        confirmed transaction of the portal's, not of this family, spent it, or the node
        rejected the family's transaction and its confirmed coins lack this one (missing).
        """
        name = f"coin {self.pk} ({self.outpoint})"
        reclaimed = UnspendableKind.RECLAIMED
        if self.status == self.Status.LOST:
            return reclaimed, f"{name} was spent outside the portal: {reclaimed.label}"
        if self.status == self.Status.MISSING:
            missing = UnspendableKind.MISSING
            return missing, f"{name} is {missing.label} (reorged out, or spent elsewhere)"
        deposit = self.deposit if self.deposit_id is not None else None
        if deposit is not None and deposit.status == deposit.Status.RECLAIMED:
            return reclaimed, f"{name} was {reclaimed.label}: {deposit.note}"
        spent_by = self.spent_by if self.spent_by_id is not None else None
        if (
            self.status == self.Status.SPENT
            and spent_by is not None
            and spent_by.pk not in family
            and spent_by.status == SidechainTransaction.Status.CONFIRMED
        ):
            return (
                UnspendableKind.SPENT_ELSEWHERE,
                f"{name} was spent by the portal's transaction {spent_by.pk} ({spent_by.txid})",
            )
        return None


class CoinEvent(models.Model):
    """Append-only record of every coin status change."""

    coin = models.ForeignKey(Coin, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=12, choices=Coin.Status, blank=True)
    new_status = models.CharField(max_length=12, choices=Coin.Status)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"coin {self.coin_id}: {self.old_status or '-'} -> {self.new_status}"


class SidechainTransactionQuerySet(models.QuerySet["SidechainTransaction"]):
    def for_chain(self, chain: str) -> Self:
        return self.filter(chain=chain)

    def open(self) -> Self:
        """Not finished yet: awaiting signatures, or sent and not confirmed."""
        return self.filter(status__in=SidechainTransaction.OPEN_STATUSES)

    def due(self, now: datetime) -> Self:
        """Open and not waiting out a retry after a failure."""
        return self.open().filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))

    def awaiting_signatures_of(self, son: SON) -> Self:
        """Transactions awaiting this SON's signatures: not finished, not signed or refused by
        it."""
        return (
            self.filter(
                status=SidechainTransaction.Status.AWAITING_SIGNATURES, signed_tx__isnull=True
            )
            .exclude(signatures__son=son)
            .exclude(refusals__son=son)
            .order_by("pk")
        )


class SidechainTransaction(models.Model):
    """A transaction the federation signs: built unsigned, signed by m SONs, broadcast."""

    class Status(models.TextChoices):
        AWAITING_SIGNATURES = "awaiting_signatures", "awaiting signatures"
        BROADCAST = "broadcast"
        CONFIRMED = "confirmed"
        FAILED = "failed"
        REPLACED = "replaced", "replaced by a fee bump"

    class Kind(models.TextChoices):
        WITHDRAWAL = "withdrawal", "withdrawal batch"
        REFUND = "refund"
        SWEEP = "sweep", "sweep of deposit coins into the wallet"
        ROTATION_TEST = "rotation_test", "test spend of a new federation version"
        ROTATION_SWEEP = "rotation_sweep", "sweep of an older federation version's coins"

    OPEN_STATUSES = (Status.AWAITING_SIGNATURES, Status.BROADCAST)

    chain = models.CharField(max_length=16, choices=Sidechain, default=Sidechain.BITCOIN)
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.WITHDRAWAL)
    status = models.CharField(max_length=24, choices=Status, default=Status.AWAITING_SIGNATURES)
    unsigned_tx = models.BinaryField()
    signed_tx = models.BinaryField(null=True, blank=True)
    txid = models.CharField(max_length=64)
    fee = models.BigIntegerField(help_text="Satoshi.")
    vsize = models.PositiveIntegerField(help_text="Estimated vbytes of the signed transaction.")
    feerate = models.PositiveIntegerField(help_text="sat/vB.")
    change_amount = models.BigIntegerField(default=0, help_text="Satoshi; 0 when no change.")
    change_witness_script = models.BinaryField(null=True, blank=True)
    signers = models.JSONField(
        default=list, blank=True, help_text="Ids of the SONs whose signatures the final tx uses."
    )
    fee_bump_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="fee_bumps"
    )
    federation_version = models.ForeignKey(
        "sons.FederationVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A rotation's transaction: the version whose wallet it pays (docs/rotation.md).",
    )
    broadcast_at = models.DateTimeField(null=True, blank=True)
    abandoned_reason = models.CharField(
        max_length=200,
        blank=True,
        help_text="Why an administrator abandoned it (a rotation's, stranded awaiting signatures).",
    )
    broadcast_height = models.BigIntegerField(
        null=True, blank=True, help_text="The node's tip when it was first sent, if it was."
    )
    mined_height = models.BigIntegerField(
        null=True, blank=True, help_text="The block it was seen in by the tracker, if any."
    )
    confirmed_height = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Consecutive failures of the tracker on it."
    )
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="After a failure, when the tracker tries it again."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SidechainTransactionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(fee__gte=0), name="sidechains_sidechaintx_fee"),
        ]
        indexes = [models.Index(fields=["status", "id"], name="sidechains_sidechaintx_status")]
        permissions = [
            (
                "abandon_sidechaintransaction",
                "Can abandon a rotation transaction stranded awaiting signatures",
            )
        ]

    def __str__(self) -> str:
        return f"{self.chain} tx {self.pk} {self.txid[:16]} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def family_root(self) -> SidechainTransaction:
        """The transaction its fee-bump family started from."""
        root = self
        while root.fee_bump_of is not None:
            root = root.fee_bump_of
        return root

    def family_ids(self) -> list[int]:
        """The family's first transaction and every bump of it, oldest first."""
        ids, frontier = [], [self.family_root().pk]
        while frontier:
            ids += frontier
            bumps = SidechainTransaction.objects.filter(fee_bump_of__in=frontier)
            frontier = list(bumps.values_list("pk", flat=True))
        return ids

    def family_withdrawals(self) -> WithdrawalQuerySet:
        """The withdrawals it pays: those of its family (kept on the first one until a bump
        confirms)."""
        # By name: the withdrawals' module imports this one.
        withdrawal = apps.get_model("sidechains", "Withdrawal")
        return withdrawal.objects.filter(sidechain_tx__in=self.family_ids())

    def depth(self, tip: int | None) -> int | None:
        """Confirmations at the tip height `tip` (the listener's), from the block it was mined
        in; 0 unmined; None when the tip is unknown."""
        height = self.confirmed_height or self.mined_height
        if tip is None:
            return None
        return 0 if height is None else max(0, tip - height + 1)


class SidechainTransactionEvent(models.Model):
    """Append-only record of every sidechain transaction's status change."""

    sidechain_tx = models.ForeignKey(
        SidechainTransaction, on_delete=models.CASCADE, related_name="events"
    )
    old_status = models.CharField(max_length=24, choices=SidechainTransaction.Status, blank=True)
    new_status = models.CharField(max_length=24, choices=SidechainTransaction.Status)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"tx {self.sidechain_tx_id}: {self.old_status or '-'} -> {self.new_status}"


class TxInput(models.Model):
    sidechain_tx = models.ForeignKey(
        SidechainTransaction, on_delete=models.CASCADE, related_name="inputs"
    )
    index = models.PositiveIntegerField()
    coin = models.ForeignKey(Coin, on_delete=models.PROTECT, related_name="tx_inputs")

    class Meta:
        ordering = ["sidechain_tx", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["sidechain_tx", "index"], name="sidechains_txinput_index"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sidechain_tx_id}[{self.index}] <- {self.coin}"


class TxSignature(models.Model):
    sidechain_tx = models.ForeignKey(
        SidechainTransaction, on_delete=models.CASCADE, related_name="signatures"
    )
    son = models.ForeignKey(SON, on_delete=models.PROTECT, related_name="tx_signatures")
    input_index = models.PositiveIntegerField()
    public_key = models.CharField(max_length=66)
    signature = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sidechain_tx", "input_index", "son"]
        constraints = [
            models.UniqueConstraint(
                fields=["sidechain_tx", "son", "input_index"], name="sidechains_txsignature_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.son} signed {self.sidechain_tx_id}[{self.input_index}]"


class SignerRefusal(models.Model):
    sidechain_tx = models.ForeignKey(
        SidechainTransaction, on_delete=models.CASCADE, related_name="refusals"
    )
    son = models.ForeignKey(SON, on_delete=models.PROTECT, related_name="tx_refusals")
    reasons = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sidechain_tx", "son"], name="sidechains_signerrefusal_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.son} refused {self.sidechain_tx_id}: {', '.join(self.reasons)}"
