"""Bitcoin withdrawals: the federation's coins, the users' withdrawals and the transactions that
pay them, with the SONs' signatures and refusals (docs/withdrawals.md)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from sons.models import SON, Sidechain


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


class SidechainTransaction(models.Model):
    """A transaction the federation signs: built unsigned, signed by m SONs, broadcast."""

    class Status(models.TextChoices):
        AWAITING_SIGNATURES = "awaiting_signatures", "awaiting signatures"
        BROADCAST = "broadcast"
        CONFIRMED = "confirmed"
        FAILED = "failed"
        REPLACED = "replaced", "replaced by a fee bump"

    chain = models.CharField(max_length=16, choices=Sidechain, default=Sidechain.BITCOIN)
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
    broadcast_at = models.DateTimeField(null=True, blank=True)
    confirmed_height = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(fee__gte=0), name="sidechains_sidechaintx_fee"),
        ]

    def __str__(self) -> str:
        return f"{self.chain} tx {self.pk} {self.txid[:16]} ({self.status})"


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


class WithdrawalQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)

    def for_chain(self, chain: str):
        return self.filter(chain=chain)

    def batchable(self):
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
    fee_share = models.BigIntegerField(default=0, help_text="Satoshi; set when batched.")
    address = models.CharField(max_length=90)
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
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk} {self.amount} sat to {self.address} ({self.status})"

    @property
    def payout(self) -> int:
        """Satoshi the user receives: the amount less their share of the fee."""
        return self.amount - self.fee_share


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
