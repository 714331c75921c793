"""Liabilities epochs: the Merkle sum tree of every account's balances at one moment.

An Epoch publishes its number, time, root, the totals per asset, the previous epoch's root and
the audit log's head hash. Its leaves (one row per account that held anything) keep the amounts
the tree was built from, so anyone's inclusion proof can be rebuilt for any epoch; the salts are
derived from SOLVENCY_SALT_KEY (the environment's, never the database's). docs/proofs.md is
the format.
"""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse

from ledger.models import Entry, LedgerAccount
from rates.assets import Asset, amount_format


class Epoch(models.Model):
    number = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The administrator who asked for it; empty for the beat's schedule.",
    )
    assets = models.JSONField(help_text="The assets, in the order of every sum in the tree.")
    totals = models.JSONField(help_text="The total of each asset, in base units.")
    root = models.CharField(max_length=64, unique=True)
    prev_root = models.CharField(max_length=64, help_text="64 zeros for the first epoch.")
    audit_head = models.CharField(max_length=64, help_text="The audit log's head hash.")
    leaf_count = models.PositiveIntegerField()
    salt_key_id = models.CharField(
        max_length=16,
        blank=True,
        editable=False,
        help_text="Names the SOLVENCY_SALT_KEY its salts come from (the key is not stored).",
    )
    chunk_tops = models.BinaryField(
        editable=False, help_text="The top node of each chunk of leaves (hash and sums)."
    )
    anchor_txid = models.CharField(
        max_length=64,
        blank=True,
        help_text="The Bitcoin transaction whose OP_RETURN carries the root, once confirmed.",
    )
    anchor_height = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        permissions = [("create_epoch", "Can start a liabilities epoch now")]

    def __str__(self) -> str:
        return f"epoch {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("solvency-epoch", args=[self.number])

    def totals_by_asset(self) -> list[tuple[str, int]]:
        return list(zip(self.assets, self.totals, strict=True))

    def header(self) -> dict[str, Any]:
        """What the epoch publishes."""
        return {
            "epoch": self.number,
            "created_at": self.created_at.isoformat(),
            "root": self.root,
            "assets": self.assets,
            "totals": self.totals,
            "prev_root": self.prev_root,
            "audit_head": self.audit_head,
            "leaf_count": self.leaf_count,
        }


class EpochLeaf(models.Model):
    # No index of their own: the unique constraints below lead with the epoch, and a million
    # rows per epoch are written by COPY, where every index costs.
    epoch = models.ForeignKey(
        Epoch, on_delete=models.PROTECT, related_name="leaves", db_index=False
    )
    position = models.PositiveIntegerField()
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amounts = ArrayField(models.BigIntegerField())

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["epoch", "position"], name="solvency_epochleaf_position"
            ),
            models.UniqueConstraint(fields=["epoch", "account"], name="solvency_epochleaf_account"),
        ]

    def __str__(self) -> str:
        return f"{self.epoch} leaf {self.position}"


class TransferQuerySet(models.QuerySet["Transfer"]):
    def involving(self, user: AbstractBaseUser) -> "TransferQuerySet":
        return self.filter(models.Q(sender=user) | models.Q(receiver=user))


class Transfer(models.Model):
    """A transfer between two users: the message the portal prepared (persisted before anything
    moves), then, once the sender signed it with their registered Bitcoin key, done."""

    class Status(models.TextChoices):
        PREPARED = "prepared", "awaiting the sender's signature"
        DONE = "done"

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfers_sent"
    )
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfers_received"
    )
    asset = models.CharField(max_length=8, choices=Asset)
    amount = models.BigIntegerField(help_text="Base units.")
    nonce = models.CharField(max_length=32, unique=True)
    public_key = models.CharField(max_length=66, help_text="The sender's key the message needs.")
    message = models.TextField(help_text="Exactly what the sender signs.")
    status = models.CharField(max_length=16, choices=Status, default=Status.PREPARED)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    signature = models.CharField(max_length=88, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = TransferQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="solvency_transfer_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(sender=models.F("receiver")),
                name="solvency_transfer_two_users",
            ),
        ]

    def __str__(self) -> str:
        return f"transfer {self.nonce}"

    def get_absolute_url(self) -> str:
        return reverse("solvency-transfer-sign", args=[self.pk])

    def amount_display(self) -> str:
        return amount_format(self.amount, self.asset)

    def expired(self, now: datetime) -> bool:
        return self.status == self.Status.PREPARED and now >= self.expires_at
