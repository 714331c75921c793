"""State changes of SONs (and the alerts administrators resolve). Views, the API and tasks call
these; nothing else writes SON rows."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import coincurve
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import audit_reason, audit_record, audit_target
from sons.activity import heartbeat_hour_record
from sons.models import SON, HeartbeatNonce, Sidechain, SONStatusChange, hash_token

# A signed heartbeat is accepted only if its timestamp is this close to the portal's clock.
HEARTBEAT_MAX_SKEW = 15
# Nonces are kept a little longer than the window in which their heartbeat could be accepted.
HEARTBEAT_NONCE_KEEP = HEARTBEAT_MAX_SKEW + 60
HEARTBEAT_DOMAIN = b"sonportal-heartbeat:v1:"
# Version 2 also signs the federation versions the signer reports (heartbeat_lists_digest).
HEARTBEAT_DOMAIN_V2 = b"sonportal-heartbeat:v2:"
HEARTBEAT_VERSIONS = (1, 2)


class SONError(Exception):
    """An operation that the SON's current state does not allow."""


class HeartbeatRejected(SONError):
    """A heartbeat the portal refuses; `code` is one of wrong_son, unsigned_lists, no_key,
    bad_signature, stale, replayed."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class TokenIssuer(models.TextChoices):
    """Where a token was issued from, as the audit record says."""

    ADMIN = "admin", "the admin"
    COMMAND = "command", "manage.py son_token"
    OPERATOR = "operator", "the operator's SON page"
    DEMO = "demo", "the demo seed"


@transaction.atomic
def son_issue_token(*, son: SON, by, reason: str, via: str, details: dict | None = None) -> str:
    """Issue a new API token for the SON's signer; the previous one stops working at once.

    `by` is the person who asked (None: the portal itself, e.g. a management command), `via`
    a TokenIssuer. Returns the token, once: only its hash is stored, and the audit record
    names who, why and from where, never the token. A deregistered SON gets no token.
    """
    reason = audit_reason(reason)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    updated = (
        SON.objects.filter(pk=son.pk)
        .exclude(status=SON.Status.DEREGISTERED)
        .update(token_hash=hash_token(token), token_created_at=now)
    )
    if updated != 1:
        raise SONError(f"{son} is deregistered: it gets no API token.")
    son.refresh_from_db(fields=["token_hash", "token_created_at"])
    audit_record(
        actor=by,
        action="son.token_issued",
        target=audit_target(son),
        reason=reason,
        details={
            "via": TokenIssuer(via).value,
            "expires_at": (now + timedelta(seconds=settings.SON_TOKEN_LIFETIME)).isoformat(),
            **(details or {}),
        },
    )
    return token


def _transition(*, son: SON, old: str, new: str, reason: str, now, where=None, **fields) -> bool:
    """Move the SON from `old` to `new` if it is still `old` (and matches `where`), with a
    SONStatusChange row. False when another worker or request got there first."""
    rows = SON.objects.filter(pk=son.pk, status=old)
    if where is not None:
        rows = rows.filter(where)
    n = rows.update(status=new, **fields)
    if n == 1:
        SONStatusChange.objects.create(
            son=son, old_status=old, new_status=new, reason=reason, created_at=now
        )
    return n == 1


# Heartbeats


def heartbeat_message(
    *,
    son_id: int,
    timestamp: int,
    nonce: str,
    version: int = 1,
    federations: list[str] | None = None,
    hive_federations: list[str] | None = None,
) -> bytes:
    """What a signer signs (ECDSA secp256k1 over its SHA-256) with the SON's Bitcoin key.

    v1: b"sonportal-heartbeat:v1:<son>:<timestamp>:<nonce>" (no lists). v2 appends
    ":" + heartbeat_lists_digest(federations, hive_federations).
    """
    head = f"{son_id}:{timestamp}:{nonce}"
    if version == 1:
        return HEARTBEAT_DOMAIN + head.encode()
    digest = heartbeat_lists_digest(federations, hive_federations)
    return HEARTBEAT_DOMAIN_V2 + f"{head}:{digest}".encode()


def heartbeat_lists_digest(
    federations: list[str] | None, hive_federations: list[str] | None
) -> str:
    """SHA-256 (hex) of the two lists as "<bitcoin>;<hive>", each list its fingerprints sorted,
    without duplicates, joined by commas ("" when empty), or "-" when the body has no such list.
    The signer computes the same (signer/client.py); docs/signer.md pins it."""

    def encoded(fingerprints: list[str] | None) -> str:
        return "-" if fingerprints is None else ",".join(sorted(set(fingerprints)))

    lists = f"{encoded(federations)};{encoded(hive_federations)}"
    return hashlib.sha256(lists.encode()).hexdigest()


def heartbeat_signature_valid(*, public_key: str, message: bytes, signature: str) -> bool:
    """A DER signature (hex) by `public_key` (compressed hex) over sha256(message).

    libsecp256k1 accepts only low-S signatures, so a signature cannot be re-encoded into a
    second valid one.
    """
    try:
        key = coincurve.PublicKey(bytes.fromhex(public_key))
        return key.verify(bytes.fromhex(signature), hashlib.sha256(message).digest(), hasher=None)
    except ValueError:
        return False


@transaction.atomic
def son_heartbeat_accept(
    *,
    son: SON,
    son_id: int,
    timestamp: int,
    nonce: str,
    signature: str,
    version: int,
    federations: list[str] | None = None,
    hive_federations: list[str] | None = None,
    now=None,
) -> SON:
    """Check a signed heartbeat from the SON's signer, then record it, with the federation
    versions its signer accepts when it says: Bitcoin's (`federations`) and Hive's. A heartbeat
    that reports either reports both, a missing list meaning none (a signer without a "hive"
    section); one that reports neither (a signer without a configuration, or an older one)
    changes nothing. The lists count only when signed (version 2, heartbeat_message).

    Raises HeartbeatRejected when the body names another SON, carries a list without signing
    it (version 1), the signature is not the SON's, the timestamp is more than
    HEARTBEAT_MAX_SKEW seconds off, or the nonce was seen before.
    """
    now = now or timezone.now()
    if son_id != son.pk:
        raise HeartbeatRejected("wrong_son", "This token belongs to another SON.")
    message = _signed_message(son_id, timestamp, nonce, version, federations, hive_federations)
    _check_signature(son, message, signature)
    _check_fresh(timestamp, now)
    _record_accepted(son, nonce, timestamp, now)
    if federations is not None or hive_federations is not None:
        SON.objects.filter(pk=son.pk).update(
            accepted_federations=sorted(set(federations or [])),
            accepted_hive_federations=sorted(set(hive_federations or [])),
        )
    return son_heartbeat(son=son, now=now)


def _signed_message(
    son_id: int,
    timestamp: int,
    nonce: str,
    version: int,
    federations: list[str] | None,
    hive_federations: list[str] | None,
) -> bytes:
    """The message the heartbeat's signature must cover. A version 1 heartbeat signs no list,
    so one that carries a list is refused (`unsigned_lists`) rather than trusted."""
    if version not in HEARTBEAT_VERSIONS:
        raise ValueError(f"unknown heartbeat version {version!r}")
    if version == 1 and (federations is not None or hive_federations is not None):
        raise HeartbeatRejected(
            "unsigned_lists",
            "This heartbeat reports federation versions without signing them (heartbeat"
            " version 1): upgrade the signer, whose heartbeats sign them (version 2).",
        )
    return heartbeat_message(
        son_id=son_id,
        timestamp=timestamp,
        nonce=nonce,
        version=version,
        federations=federations,
        hive_federations=hive_federations,
    )


def _check_signature(son: SON, message: bytes, signature: str) -> None:
    """The heartbeat is signed by the SON's registered Bitcoin key (HeartbeatRejected if not)."""
    public_key = son.public_key(Sidechain.BITCOIN)
    if public_key is None:
        raise HeartbeatRejected("no_key", "This SON has no Bitcoin public key registered.")
    if not heartbeat_signature_valid(public_key=public_key, message=message, signature=signature):
        raise HeartbeatRejected("bad_signature", "Invalid heartbeat signature.")


def _check_fresh(timestamp: int, now: datetime) -> None:
    skew = int(now.timestamp()) - timestamp
    if abs(skew) > HEARTBEAT_MAX_SKEW:
        side = "behind" if skew > 0 else "ahead of"
        raise HeartbeatRejected(
            "stale",
            f"Stale heartbeat: its timestamp is {abs(skew)} s {side} the portal's clock"
            f" (at most {HEARTBEAT_MAX_SKEW} s).",
        )


def _record_accepted(son: SON, nonce: str, timestamp: int, now: datetime) -> None:
    """The nonce, once (a replay raises), and the heartbeat in its hour's sums (activity)."""
    signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
    _nonce_once(son, nonce, signed_at, now)
    heartbeat_hour_record(
        son_id=son.pk, signed_at=signed_at, received_at=now, previous=son.last_heartbeat_at
    )


def _nonce_once(son: SON, nonce: str, signed_at: datetime, now: datetime) -> None:
    try:
        with transaction.atomic():
            HeartbeatNonce.objects.create(
                son=son, nonce=nonce, signed_at=signed_at, received_at=now
            )
    except IntegrityError:
        raise HeartbeatRejected(
            "replayed", "Replayed heartbeat: this nonce was already used."
        ) from None


@transaction.atomic
def son_heartbeat(*, son: SON, now=None) -> SON:
    """Record a (verified) heartbeat. A SON in maintenance comes back to active.

    A SON in maintenance is still in the active set (its keys are in the federation's
    scripts), so it returns to active; an inactive SON is not tracked and stays inactive.
    """
    now = now or timezone.now()
    SON.objects.filter(pk=son.pk).update(last_heartbeat_at=now, last_active_at=now)
    son.refresh_from_db()
    if son.status == SON.Status.IN_MAINTENANCE:
        _transition(
            son=son,
            old=SON.Status.IN_MAINTENANCE,
            new=SON.Status.ACTIVE,
            reason="heartbeat received",
            now=now,
            total_downtime=F("total_downtime") + son.current_downtime(now),
        )
        son.refresh_from_db()
    return son


def son_heartbeat_nonces_prune(*, now=None) -> int:
    """Forget nonces whose heartbeats are too old to be accepted anyway."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=HEARTBEAT_NONCE_KEEP)
    deleted, _ = HeartbeatNonce.objects.filter(signed_at__lt=cutoff).delete()
    return deleted


# Liveness and maintenance


def _silent(cutoff) -> Q:
    return Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at=None, created_at__lt=cutoff)


def son_liveness_check(*, now=None) -> list[SON]:
    """Beat's liveness check: requested maintenance starts, silent SONs go down, old heartbeat
    nonces are pruned. Returns the SONs that went in_maintenance. Safe to re-run."""
    now = now or timezone.now()
    son_heartbeat_nonces_prune(now=now)
    return son_start_requested_maintenance(now=now) + son_mark_down_if_silent(now=now)


def son_mark_down_if_silent(*, now=None) -> list[SON]:
    """Every active SON silent for longer than SON_DOWN_TIME goes in_maintenance."""
    now = now or timezone.now()
    silent = _silent(now - timedelta(seconds=settings.SON_DOWN_TIME))
    marked = []
    for son in SON.objects.filter(silent, status=SON.Status.ACTIVE):
        with transaction.atomic():
            # `where` again: a heartbeat that arrived since the SELECT keeps the SON up.
            if _transition(
                son=son,
                old=SON.Status.ACTIVE,
                new=SON.Status.IN_MAINTENANCE,
                reason=f"no heartbeat for more than {settings.SON_DOWN_TIME} s",
                now=now,
                where=silent,
                last_down_at=now,
            ):
                marked.append(son)
    return marked


def son_start_requested_maintenance(*, now=None) -> list[SON]:
    """Every SON whose operator requested maintenance goes in_maintenance."""
    now = now or timezone.now()
    started = []
    for son in SON.objects.filter(status=SON.Status.REQUEST_MAINTENANCE):
        with transaction.atomic():
            if _transition(
                son=son,
                old=SON.Status.REQUEST_MAINTENANCE,
                new=SON.Status.IN_MAINTENANCE,
                reason="maintenance requested by the operator",
                now=now,
                last_down_at=now,
            ):
                started.append(son)
    return started


@transaction.atomic
def son_request_maintenance(*, son: SON, by, now=None) -> SON:
    """The operator announces maintenance: active -> request_maintenance. The next liveness
    check moves it in_maintenance; until then the SON still signs and can cancel."""
    now = now or timezone.now()
    if not _transition(
        son=son,
        old=SON.Status.ACTIVE,
        new=SON.Status.REQUEST_MAINTENANCE,
        reason=f"maintenance requested by {by}",
        now=now,
    ):
        son.refresh_from_db()
        raise SONError(
            "Maintenance can be requested only for an active SON;"
            f" {son} is {son.get_status_display()}."
        )
    audit_record(actor=by, action="son.maintenance_requested", target=audit_target(son))
    son.refresh_from_db()
    return son


@transaction.atomic
def son_cancel_maintenance(*, son: SON, by, now=None) -> SON:
    """The operator withdraws a maintenance request before it starts."""
    now = now or timezone.now()
    if not _transition(
        son=son,
        old=SON.Status.REQUEST_MAINTENANCE,
        new=SON.Status.ACTIVE,
        reason=f"maintenance request cancelled by {by}",
        now=now,
    ):
        son.refresh_from_db()
        raise SONError(
            f"{son} has no pending maintenance request (it is {son.get_status_display()})."
        )
    audit_record(actor=by, action="son.maintenance_cancelled", target=audit_target(son))
    son.refresh_from_db()
    return son


def son_deregister(*, son: SON, reason: str, now=None) -> bool:
    """Deregister the SON for good (from any status). False if it already was.

    Its token stops authenticating. Its history stays: statistics are never reset, and a
    downtime interval in progress is closed into its total downtime (a deregistered SON's
    current downtime is 0, so the interval would otherwise vanish from its record). Call
    inside a transaction: the SON row stays locked until it commits.
    """
    now = now or timezone.now()
    current = SON.objects.select_for_update().get(pk=son.pk)
    if current.status == SON.Status.DEREGISTERED:
        return False
    return _transition(
        son=current,
        old=current.status,
        new=SON.Status.DEREGISTERED,
        reason=reason,
        now=now,
        total_downtime=F("total_downtime") + current.current_downtime(now),
    )
