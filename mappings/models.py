from datetime import datetime
from typing import Self

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q
from django.urls import reverse

from sons.models import Sidechain


class SidechainAddressQuerySet(models.QuerySet["SidechainAddress"]):
    def active(self) -> Self:
        return self.filter(expires__isnull=True)

    def for_user(self, user: User) -> Self:
        return self.filter(user=user)

    def for_chain(self, sidechain: str) -> Self:
        return self.filter(sidechain=sidechain)

    def withdrawal_target(self, now: datetime) -> "SidechainAddress | None":
        """Of one user's rows on one chain, the one withdrawals pay now: the active one, or,
        while a confirmed change cools down, the one before it (docs/mappings.md)."""
        current = self.active().first()
        if current is None or current.cooldown_until is None or current.cooldown_until <= now:
            return current
        return self.exclude(pk=current.pk).filter(valid_from__lte=current.valid_from).first()


class SidechainAddress(models.Model):
    """A user's addresses on one sidechain, valid from valid_from until expires.

    A change writes a new row and expires the old one; the old row's deposit address stays
    watched. Bitcoin rows carry the deposit script derived from the federation's keys at the time.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sidechain_addresses"
    )
    sidechain = models.CharField(max_length=16, choices=Sidechain)
    # Bitcoin
    deposit_public_key = models.CharField(max_length=66, blank=True)
    # When the user gave an extended public key or a descriptor: what they gave, the index of
    # the key derived from it for this row (None for a fixed key) and the key's origin as a
    # descriptor writes it, [fingerprint/path], which their wallet needs to sign a reclaim.
    deposit_key_source = models.CharField(max_length=300, blank=True)
    deposit_key_index = models.PositiveIntegerField(null=True, blank=True)
    deposit_key_origin = models.CharField(max_length=200, blank=True)
    withdraw_address = models.CharField(max_length=90, blank=True)
    deposit_address = models.CharField(max_length=90, blank=True)
    deposit_witness_script = models.BinaryField(null=True, blank=True)
    deposit_script_pubkey = models.BinaryField(null=True, blank=True)
    deposit_timelock = models.PositiveIntegerField(null=True, blank=True)
    federation_version = models.ForeignKey(
        "sons.FederationVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Bitcoin: the federation version the deposit script was derived under.",
    )
    # Hive
    hive_account = models.CharField(max_length=16, blank=True)

    valid_from = models.DateTimeField()
    expires = models.DateTimeField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # Set by a confirmed change of where money goes: until then withdrawals pay the row before.
    cooldown_until = models.DateTimeField(null=True, blank=True)

    objects = SidechainAddressQuerySet.as_manager()

    class Meta:
        verbose_name = "sidechain address"
        verbose_name_plural = "sidechain addresses"
        ordering = ["-valid_from", "-id"]
        indexes = [
            # The deposit listener matches block outputs against every script ever registered.
            models.Index(fields=["deposit_script_pubkey"], name="mappings_address_deposit_spk"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "sidechain"],
                condition=Q(expires__isnull=True),
                name="mappings_sidechainaddress_one_active",
            ),
            models.UniqueConstraint(
                fields=["user", "request_id"],
                condition=~Q(request_id=""),
                name="mappings_sidechainaddress_unique_request",
            ),
            models.CheckConstraint(
                condition=Q(expires__isnull=True) | Q(expires__gte=models.F("valid_from")),
                name="mappings_sidechainaddress_expires_after_valid_from",
            ),
            models.CheckConstraint(
                condition=(
                    Q(sidechain=Sidechain.BITCOIN)
                    & ~Q(deposit_public_key="")
                    & ~Q(withdraw_address="")
                    & Q(deposit_script_pubkey__isnull=False)
                    & Q(hive_account="")
                )
                | (
                    Q(sidechain=Sidechain.HIVE)
                    & ~Q(hive_account="")
                    & Q(deposit_public_key="", withdraw_address="")
                    & Q(deposit_script_pubkey__isnull=True)
                ),
                name="mappings_sidechainaddress_fields_match_chain",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.sidechain} {self.identifier}"

    def get_absolute_url(self) -> str:
        return reverse("mappings-home")

    @property
    def identifier(self) -> str:
        return self.hive_account if self.sidechain == Sidechain.HIVE else self.deposit_address

    @property
    def is_active(self) -> bool:
        return self.expires is None

    def witness_script(self) -> bytes:
        """The deposit script of a Bitcoin row; TypeError for a row without one."""
        if self.deposit_witness_script is None:
            raise TypeError(f"{self} has no deposit witness script")
        return bytes(self.deposit_witness_script)


class AddressClaim(models.Model):
    """Each deposit key, withdraw address and Hive account belongs to one user, forever.

    The unique (kind, value) makes two users' claims collide in the database, whatever the
    interleaving of their requests.
    """

    class Kind(models.TextChoices):
        DEPOSIT_KEY = "deposit_key", "Bitcoin deposit public key"
        WITHDRAW_ADDRESS = "withdraw_address", "Bitcoin withdraw address"
        HIVE_ACCOUNT = "hive_account", "Hive account"

    kind = models.CharField(max_length=24, choices=Kind)
    value = models.CharField(max_length=90)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="address_claims"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="mappings_addressclaim_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class HiveClaimQuerySet(models.QuerySet["HiveOwnershipClaim"]):
    def open(self, now: datetime) -> Self:
        """Not yet verified and not expired: the ones a proof may still complete."""
        return self.filter(verified_at__isnull=True, expires_at__gt=now)


class HiveOwnershipClaim(models.Model):
    """A user's claim on a Hive account, pending until they prove they control it.

    Proof is either a signature over `challenge` by one of the account's posting or active keys
    (Hive Keychain's signBuffer format), or a transfer to the federation account from the
    account whose memo is `memo_code`. A pending claim creates no mapping and blocks nobody:
    the first user to prove control gets the account (AddressClaim); the others' claims expire.
    """

    class Method(models.TextChoices):
        SIGNATURE = "signature", "signed challenge"
        TRANSFER = "transfer", "transfer with the code in its memo"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="hive_claims"
    )
    hive_account = models.CharField(max_length=16)
    challenge = models.CharField(max_length=96, unique=True)
    memo_code = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    method = models.CharField(max_length=16, choices=Method, blank=True)
    for_change = models.BooleanField(
        default=False,
        help_text="Opened with the second factor to change the user's Hive account: once "
        "proved, a mailed link confirms the change, which then cools down.",
    )
    mapping = models.ForeignKey(
        SidechainAddress, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = HiveClaimQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="mappings_hiveownershipclaim_expires_after_created",
            ),
            models.CheckConstraint(
                condition=Q(verified_at__isnull=True, method="")
                | (Q(verified_at__isnull=False) & ~Q(method="")),
                name="mappings_hiveownershipclaim_verified_has_method",
            ),
        ]

    def __str__(self) -> str:
        state = "verified" if self.verified_at else "pending"
        return f"{self.user} claims {self.hive_account} ({state})"

    def is_open(self, now: datetime) -> bool:
        return self.verified_at is None and self.expires_at > now


class MappingChange(models.Model):
    """A requested change of a withdraw address or Hive account, applied only once the user
    follows the link mailed to them (and typed their second factor's code to ask for it).
    The link's token is stored as its SHA-256; a new request supersedes a pending one."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        SUPERSEDED = "superseded"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="mapping_changes"
    )
    sidechain = models.CharField(max_length=16, choices=Sidechain)
    # What the user typed: deposit_public_key and withdraw_address, or hive_account. Checked
    # again when confirmed (the rules may have changed since).
    fields = models.JSONField()
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    mapping = models.ForeignKey(
        SidechainAddress, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "sidechain"],
                condition=Q(status="pending"),
                name="mappings_mappingchange_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.sidechain} change {self.status}"

    @property
    def destination(self) -> str:
        return str(self.fields.get("withdraw_address") or self.fields.get("hive_account", ""))
