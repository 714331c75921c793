"""The double-entry ledger of pegged tokens.

Every movement is an Entry from one account to another; each account keeps one Balance row per
asset, changed only under a row lock together with the Entry that explains it. Invariants:
per asset the balances sum to zero (the issuance account's negative balance is the supply), each
balance equals its entries, and no balance but issuance's is negative, except a user's after a
clawback (a receivable: the balance row is marked may_go_negative by the clawback itself).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from rates.assets import Asset


class LedgerAccount(models.Model):
    class System(models.TextChoices):
        ISSUANCE = "issuance"
        SON_ACCOUNT = "son-account", "SON account (withdrawal escrow)"
        # Quoted withdrawal fees less the network fees paid: the federation's own money.
        FEE_POOL = "fee-pool", "fee pool (quoted less paid withdrawal fees)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_account",
    )
    system = models.CharField(max_length=16, choices=System, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(system=""))
                | (Q(user__isnull=True) & ~Q(system="")),
                name="ledger_ledgeraccount_user_or_system",
            ),
            models.UniqueConstraint(
                fields=["system"], condition=~Q(system=""), name="ledger_ledgeraccount_system"
            ),
        ]

    def __str__(self) -> str:
        return self.system or f"user:{self.user_id}"

    @property
    def may_go_negative(self) -> bool:
        # The fee pool pays a network fee above the quote whatever its balance: the
        # transaction is mined already. Below zero it is a shortfall the reserves check shows.
        return self.system in (self.System.ISSUANCE, self.System.FEE_POOL)


class Balance(models.Model):
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="balances")
    asset = models.CharField(max_length=8, choices=Asset)
    amount = models.BigIntegerField(default=0, help_text="Base units.")
    may_go_negative = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="ledger_balance_unique"),
            models.CheckConstraint(
                condition=Q(amount__gte=0) | Q(may_go_negative=True),
                name="ledger_balance_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount} {self.asset}"


class Entry(models.Model):
    class Reason(models.TextChoices):
        DEPOSIT = "deposit", "deposit credited"
        WITHDRAWAL_ESCROW = "withdrawal_escrow", "withdrawal requested (escrow)"
        WITHDRAWAL_BURN = "withdrawal_burn", "withdrawal settled (escrow burned)"
        WITHDRAWAL_RETURN = "withdrawal_return", "withdrawal failed (escrow returned)"
        CLAWBACK = "clawback", "credited deposit taken back (reorged out or reclaimed)"
        TRANSFER = "transfer", "transfer between users (signed by the sender's key)"
        WITHDRAWAL_FEE = "withdrawal_fee", "withdrawal fee quoted less network fee (fee pool)"
        FEDERATION_FEE = "federation_fee", "network fee of a sweep or rotation (fee pool)"
        DEPOSIT_FEE = "deposit_fee", "deposit's share of its sweep (fee pool)"

    source = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="debits")
    destination = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="credits")
    asset = models.CharField(max_length=8, choices=Asset)
    amount = models.BigIntegerField(help_text="Base units, always positive.")
    reason = models.CharField(max_length=24, choices=Reason)
    reference = models.CharField(max_length=64, help_text="e.g. deposit:42")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-id"]
        # An account's latest entries (the account page's last movements) without reading its
        # older ones.
        indexes = [
            models.Index(fields=["source", "-id"], name="ledger_entry_source_latest"),
            models.Index(fields=["destination", "-id"], name="ledger_entry_dest_latest"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_entry_positive"),
            models.CheckConstraint(
                condition=~Q(source=models.F("destination")), name="ledger_entry_two_accounts"
            ),
            # The natural key of a movement: a retried credit or burn collides here.
            models.UniqueConstraint(
                fields=["reason", "reference", "asset"], name="ledger_entry_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination} {self.amount} {self.asset} ({self.reason})"
