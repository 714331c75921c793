"""Reserves against liabilities, per chain, and the circuit breaker a shortfall trips
(docs/deposits.md, "Reserves and the circuit breaker")."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from sons.models import Sidechain


class ReservesCheck(models.Model):
    """One run of the reserves check: what the node confirmed unspent under the federation's
    scripts against what the federation owes. /healthz and the admin read the latest."""

    chain = models.CharField(max_length=16, choices=Sidechain)
    height = models.BigIntegerField(help_text="The node's tip when the coins were checked.")
    reserves = models.BigIntegerField(help_text="Base units the node confirms unspent.")
    liabilities = models.BigIntegerField(
        help_text="Positive user balances plus escrows of withdrawals not yet sent, in the "
        "chain's asset at the rate in force."
    )
    receivables = models.BigIntegerField(
        default=0, help_text="Negative user balances after clawbacks: never netted."
    )
    fee_pool = models.BigIntegerField(
        default=0,
        db_default=0,
        help_text="The fee pool's balance in the chain's asset at the rate in force: the "
        "federation's own money, not a liability; the part of the margin it explains.",
    )
    missing = models.TextField(blank=True, help_text="Held coins the node does not show.")
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["chain", "-checked_at"], name="sidechains_reserves_latest")]

    def __str__(self) -> str:
        return f"{self.chain} reserves {self.reserves} vs liabilities {self.liabilities}"

    @property
    def margin(self) -> int:
        return self.reserves - self.liabilities

    @property
    def unexplained(self) -> int:
        """The margin beyond the fee pool: rounding of rates in the federation's favour, or
        money the books do not account for."""
        return self.margin - self.fee_pool


class CircuitBreaker(models.Model):
    """Open (tripped) stops new batches on its chain until an administrator resumes it with a
    recorded reason."""

    chain = models.CharField(max_length=16, choices=Sidechain, unique=True)
    tripped = models.BooleanField(default=False)
    reason = models.TextField(blank=True, help_text="Why it tripped: the cause it names.")
    tripped_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    resume_reason = models.TextField(blank=True)
    accepted_shortfall = models.BigIntegerField(
        default=0,
        help_text="Base units short when an administrator last resumed: the breaker trips "
        "again only beyond it (plus the tolerance).",
    )

    class Meta:
        permissions = [("resume_circuitbreaker", "Can resume a tripped circuit breaker")]

    def __str__(self) -> str:
        return f"{self.chain} breaker {'tripped' if self.tripped else 'closed'}"

    @classmethod
    def is_tripped(cls, chain: str) -> bool:
        return cls.objects.filter(chain=chain, tripped=True).exists()


class ReservesCoin(models.Model):
    """A coin the last reserves check saw unspent and confirmed on the node, as /reserves
    publishes it: each check replaces its chain's rows, so the list is the check's."""

    chain = models.CharField(max_length=16, choices=Sidechain, default=Sidechain.BITCOIN)
    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    amount = models.BigIntegerField(help_text="Satoshi.")
    witness_script = models.BinaryField(help_text="The script the P2WSH output commits to.")
    height = models.BigIntegerField(help_text="The block it was mined in, by the node.")
    version = models.ForeignKey(
        "sons.FederationVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["height", "txid", "vout"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "txid", "vout"], name="sidechains_reservescoin_outpoint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout}"


class FederationBalance(models.Model):
    """A balance of the federation's account on an account-based sidechain (Hive), as last
    read from its node; /reserves publishes it."""

    chain = models.CharField(max_length=16, choices=Sidechain)
    asset = models.CharField(max_length=8)
    account = models.CharField(max_length=32)
    amount = models.BigIntegerField(help_text="Base units (0.001 HIVE/HBD).")
    read_at = models.DateTimeField()

    class Meta:
        ordering = ["chain", "asset"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "asset"], name="sidechains_federationbalance_asset"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chain} {self.account} {self.amount} {self.asset}"
