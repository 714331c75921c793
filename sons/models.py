import contextlib
import hashlib
from datetime import datetime, timedelta
from typing import Any, Self

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from chains.hive.transactions import public_key_hex


class Sidechain(models.TextChoices):
    BITCOIN = "bitcoin", "Bitcoin"
    HIVE = "hive", "Hive"


def hash_token(token: str) -> str:
    """SON API tokens are stored as their SHA-256: the portal's database holds no usable secret."""
    return hashlib.sha256(token.encode()).hexdigest()


class SONQuerySet(models.QuerySet["SON"]):
    def active(self) -> Self:
        return self.filter(status=SON.Status.ACTIVE)

    def registered(self) -> Self:
        return self.exclude(status=SON.Status.DEREGISTERED)

    def federation(self) -> Self:
        """The SONs whose keys control the federation's scripts: in the active set, whether
        up or down at the moment (a SON in maintenance comes back)."""
        return self.filter(status__in=SON.FEDERATION_STATUSES)

    def owned_by(self, user: User) -> Self:
        return self.filter(owner=user)


class SON(models.Model):
    class Status(models.TextChoices):
        INACTIVE = "inactive"
        ACTIVE = "active"
        REQUEST_MAINTENANCE = "request_maintenance", "requested maintenance"
        IN_MAINTENANCE = "in_maintenance", "in maintenance"
        DEREGISTERED = "deregistered"

    FEDERATION_STATUSES = [
        Status.ACTIVE,
        Status.REQUEST_MAINTENANCE,
        Status.IN_MAINTENANCE,
    ]

    name = models.SlugField(max_length=64, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sons"
    )
    status = models.CharField(max_length=24, choices=Status, default=Status.INACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    last_down_at = models.DateTimeField(null=True, blank=True)
    total_downtime = models.BigIntegerField(default=0, help_text="Seconds, closed intervals only.")
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    token_created_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_federations = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Fingerprints of the Bitcoin federation versions the SON's signer says its"
        " configuration accepts, as of its last heartbeat that said (docs/rotation.md).",
    )
    accepted_hive_federations = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Fingerprints of the Hive federation versions the SON's signer says its"
        " configuration accepts (its hive.accepted_federations), as of its last heartbeat that"
        " said (docs/rotation.md).",
    )

    objects = SONQuerySet.as_manager()

    class Meta:
        verbose_name = "SON"
        verbose_name_plural = "SONs"
        ordering = ["name"]
        permissions = [("issue_son_token", "Can issue a new API token for a SON")]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_downtime__gte=0), name="sons_son_downtime_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sons-detail", args=[self.name])

    def public_key(self, sidechain: str) -> str | None:
        for key in self.public_keys.all():
            if key.sidechain == sidechain:
                return key.public_key
        return None

    def accepts(self, version: "FederationVersion") -> bool:
        """Whether the SON's signer reported the version accepted in its last heartbeat that
        said (the list of the version's sidechain)."""
        if version.sidechain == Sidechain.HIVE:
            reported = self.accepted_hive_federations
        else:
            reported = self.accepted_federations
        return version.fingerprint in (reported or [])

    def seconds_since_heartbeat(self, now: datetime) -> float | None:
        if self.last_heartbeat_at is None:
            return None
        return (now - self.last_heartbeat_at).total_seconds()

    def current_downtime(self, now: datetime) -> int:
        """Seconds of the downtime interval in progress, 0 when the SON is up."""
        if self.status != self.Status.IN_MAINTENANCE or self.last_down_at is None:
            return 0
        return int((now - self.last_down_at).total_seconds())

    def downtime(self, now: datetime) -> int:
        """Seconds down in all: the closed intervals plus the one in progress."""
        return self.total_downtime + self.current_downtime(now)

    def silent_since(self) -> datetime:
        """When the SON was last heard of: its last heartbeat, or its creation."""
        return self.last_heartbeat_at or self.created_at

    def token_expires_at(self) -> datetime | None:
        """When the API token stops working (SON_TOKEN_LIFETIME after it was issued)."""
        if self.token_hash is None or self.token_created_at is None:
            return None
        return self.token_created_at + timedelta(seconds=settings.SON_TOKEN_LIFETIME)

    def can_request_maintenance(self) -> bool:
        return self.status == self.Status.ACTIVE

    def can_cancel_maintenance(self) -> bool:
        return self.status == self.Status.REQUEST_MAINTENANCE


class SONPublicKey(models.Model):
    """A SON's public key on one sidechain. The private half lives only in the SON's signer."""

    son = models.ForeignKey(SON, on_delete=models.CASCADE, related_name="public_keys")
    sidechain = models.CharField(max_length=16, choices=Sidechain)
    public_key = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SON public key"
        constraints = [
            models.UniqueConstraint(
                fields=["son", "sidechain"], name="sons_sonpublickey_one_per_chain"
            ),
            models.UniqueConstraint(
                fields=["sidechain", "public_key"], name="sons_sonpublickey_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.son} {self.sidechain} {self.public_key}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One form per Hive key: "STM..." is kept as its 66 hex digits, the form federation
        # versions hold and fingerprint, as the signers do (`signer federation add` prints it).
        # A key that is neither is kept as typed: clean() tells a person, nothing signs for it.
        if self.sidechain == Sidechain.HIVE:
            with contextlib.suppress(ValueError):
                self.public_key = public_key_hex(self.public_key)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.sidechain == Sidechain.HIVE:
            try:
                public_key_hex(self.public_key)
            except ValueError:
                raise ValidationError(
                    {"public_key": "A Hive public key: STM... or 66 hex digits (compressed)."}
                ) from None


class SONStatistics(models.Model):
    son = models.ForeignKey(SON, on_delete=models.CASCADE, related_name="statistics")
    sidechain = models.CharField(max_length=16, choices=Sidechain)
    txs_signed = models.BigIntegerField(default=0)
    deposits_reported = models.BigIntegerField(default=0)
    withdrawals_reported = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "SON statistics"
        constraints = [
            models.UniqueConstraint(
                fields=["son", "sidechain"], name="sons_sonstatistics_one_per_chain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.son} on {self.sidechain}"


class SONStatusChange(models.Model):
    """Append-only record of every SON status transition: the audit log of liveness."""

    son = models.ForeignKey(SON, on_delete=models.CASCADE, related_name="status_changes")
    old_status = models.CharField(max_length=24, choices=SON.Status)
    new_status = models.CharField(max_length=24, choices=SON.Status)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["son", "-created_at"], name="sons_statuschange_son")]

    def __str__(self) -> str:
        return f"{self.son}: {self.old_status} -> {self.new_status}"


class HeartbeatNonce(models.Model):
    """A nonce a SON has signed a heartbeat with: each is accepted once.

    Rows older than the staleness window are pruned by the liveness check; a replay of a pruned
    nonce is refused as stale by its own timestamp.
    """

    son = models.ForeignKey(SON, on_delete=models.CASCADE, related_name="heartbeat_nonces")
    nonce = models.CharField(max_length=32)
    signed_at = models.DateTimeField(help_text="The heartbeat's own timestamp.")
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["son", "nonce"], name="sons_heartbeatnonce_once"),
        ]
        indexes = [models.Index(fields=["signed_at"], name="sons_heartbeatnonce_age")]

    def __str__(self) -> str:
        return f"{self.son_id}:{self.nonce}"


class SONHeartbeatHour(models.Model):
    """A SON's accepted heartbeats, summed per hour (sons/activity.py): how many, their delay
    (arrival at the portal minus the time the signer signed, whole seconds on the signer's
    side, so up to a second more than the transit) and the longest silence before one."""

    son = models.ForeignKey(SON, on_delete=models.CASCADE, related_name="heartbeat_hours")
    hour = models.DateTimeField()
    heartbeats = models.PositiveIntegerField(default=0)
    delay_ms_total = models.BigIntegerField(default=0)
    delay_ms_max = models.IntegerField(default=0)
    gap_max_s = models.IntegerField(default=0, help_text="Seconds since the heartbeat before.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["son", "hour"], name="sons_heartbeathour_once"),
        ]

    def __str__(self) -> str:
        return f"{self.son_id} {self.hour:%Y-%m-%d %H}h: {self.heartbeats}"


class FederationVersion(models.Model):
    """A set of SON keys that controls, has controlled or is proposed to control the
    federation's scripts on a sidechain (docs/rotation.md).

    One version per sidechain is active: deposit scripts and change are built from its keys. A
    change of the SON set never changes it by itself (a deregistered SON's key stays in the
    active version until a rotation moves the coins away; alone it can sign nothing). Every
    version stays recorded, to refuse its scripts as withdraw addresses and to recognise its
    coins.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        ACCEPTED = "accepted"
        ACTIVE = "active"
        RETIRING = "retiring"
        RETIRED = "retired"

    sidechain = models.CharField(max_length=16, choices=Sidechain)
    status = models.CharField(max_length=16, choices=Status, default=Status.PROPOSED)
    keys = models.JSONField(help_text="The SONs' public keys (hex), sorted.")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the sorted keys.")
    threshold = models.PositiveSmallIntegerField()
    wallet_script = models.BinaryField(
        null=True, blank=True, help_text="Bitcoin: the wallet's witness script."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sidechain", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sidechain", "fingerprint"], name="sons_federationversion_keys"
            ),
            models.UniqueConstraint(
                fields=["sidechain"],
                condition=Q(status="active"),
                name="sons_federationversion_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sidechain} {self.threshold} of {len(self.keys)} ({self.fingerprint[:12]})"

    def short_fingerprint(self) -> str:
        """What an operator compares by eye: the first 16 hex digits, in groups of four."""
        return " ".join(self.fingerprint[i : i + 4] for i in range(0, 16, 4))

    @staticmethod
    def fingerprint_of(keys: list[str]) -> str:
        return hashlib.sha256(",".join(sorted(keys)).encode()).hexdigest()
