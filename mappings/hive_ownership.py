"""Proof that a user controls the Hive account they register (docs/mappings.md).

Registering a Hive account opens a HiveOwnershipClaim; the mapping exists only once the user
proves control, either by signing the claim's challenge with the account's posting or active
key (the format Hive Keychain's signBuffer produces: a 65-byte compact signature over
sha256(message), hex), or by a transfer to the federation account carrying the claim's memo
code (the deposit listener calls hive_claim_verify_transfer). Until then the claim blocks no
one; it expires after HIVE_CLAIM_LIFETIME. The first proof wins the account (AddressClaim).

A change of a user's Hive account (they had one) is a change of where their money goes, as for
a Bitcoin withdraw address (mappings/changes.py): the claim is opened with the second factor
(for_change), and its proof does not map the account but mails the link that confirms the
change; confirmed, it cools down for MAPPING_CHANGE_COOLDOWN seconds.
"""

import re
import secrets
from datetime import timedelta

from beemgraphenebase.account import PublicKey
from beemgraphenebase.ecdsasig import verify_message
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from chains.hive.rpc import HiveRPC, HiveRPCError, HiveRPCUnavailable
from mappings import changes, services
from mappings.models import AddressClaim, HiveOwnershipClaim, SidechainAddress
from sons.models import Sidechain

NEEDS_CHANGE = (
    "You have a Hive account already: changing it needs your second factor. Ask for the change "
    "on the Addresses page."
)

# 65 bytes in hex: the recovery byte, r and s. Checked before anything is decoded.
SIGNATURE_HEX = re.compile(r"[0-9a-fA-F]{130}")
MEMO_CODE_PREFIX = "verify:"
MEMO_CODE = re.compile(r"verify:[0-9a-f]{16}")
KEY_PREFIX = "STM"


def challenge_message(claim: HiveOwnershipClaim) -> str:
    """The text the user signs."""
    return claim.challenge


def hive_claim_start(
    *, user: User, hive_account: str, for_change: bool = False, code: str = ""
) -> HiveOwnershipClaim:
    """Open a claim (or return the user's open one for the same account). for_change: a change
    of the user's Hive account, opened only with their second factor (`code`)."""
    name = services.parse_hive(hive_account)
    if for_change:
        changes.second_factor_check(user, code)
    owner = AddressClaim.objects.filter(kind=AddressClaim.Kind.HIVE_ACCOUNT, value=name).first()
    if owner is not None and owner.user_id != user.pk:
        raise services.MappingError("This Hive account belongs to another account.", "hive_account")
    now = timezone.now()
    current = HiveOwnershipClaim.objects.open(now).filter(user=user, hive_account=name).first()
    if current is not None and (current.for_change or not for_change):
        return current
    token = secrets.token_hex(16)
    return HiveOwnershipClaim.objects.create(
        user=user,
        hive_account=name,
        challenge=f"sonportal: {user.username} controls @{name} ({token})",
        memo_code=MEMO_CODE_PREFIX + secrets.token_hex(8),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.HIVE_CLAIM_LIFETIME),
        for_change=for_change,
    )


def hive_claim_verify_signature(
    *, claim: HiveOwnershipClaim, signature: str
) -> SidechainAddress | None:
    """Check a signBuffer signature over the challenge and activate the mapping (None: a change,
    now awaiting the mailed confirmation)."""
    if not claim.is_open(timezone.now()):
        raise services.MappingError("This claim has expired or is already verified.")
    key = recover_signer(challenge_message(claim), signature)
    if key not in _controlling_keys(claim.hive_account):
        raise services.MappingError(
            f"The signature is not by a posting or active key of @{claim.hive_account}.",
            "signature",
        )
    return _complete(claim.pk, HiveOwnershipClaim.Method.SIGNATURE)


def recover_signer(message: str, signature: str) -> str:
    """The "STM..." public key that made `signature` over sha256(message), or MappingError."""
    text = signature.strip()
    if len(text) > 140 or not SIGNATURE_HEX.fullmatch(text):
        raise services.MappingError("A signature is 130 hexadecimal characters.", "signature")
    raw = bytes.fromhex(text)
    if not 31 <= raw[0] <= 34:
        raise services.MappingError("This is not a compact Hive signature.", "signature")
    try:
        key = verify_message(message.encode(), raw)
    except Exception as e:  # beem raises whatever its curve library raises on a bad point
        raise services.MappingError("The signature does not verify.", "signature") from e
    if not key:
        raise services.MappingError("The signature does not verify.", "signature")
    return str(PublicKey(key.hex(), prefix=KEY_PREFIX))


def _controlling_keys(name: str) -> set[str]:
    """Keys that alone meet the account's posting or active threshold, read from the node."""
    try:
        accounts = HiveRPC(settings.HIVE_NODE_URL, timeout=10).get_accounts([name])
    except (HiveRPCError, HiveRPCUnavailable) as e:
        raise services.MappingError(f"The Hive node could not be asked: {e}. Try again.") from e
    keys: set[str] = set()
    for account in accounts:
        if account["name"] != name:
            continue
        for role in ("posting", "active"):
            authority = account[role]
            threshold = int(authority["weight_threshold"])
            keys |= {key for key, weight in authority["key_auths"] if int(weight) >= threshold}
    return keys


def hive_claim_verify_transfer(*, sender: str, memo: str) -> HiveOwnershipClaim | None:
    """A transfer from `sender` whose memo is an open claim's code proves that claim; the
    claim, or None when the memo is no such code (the caller then treats it as a deposit)."""
    code = memo.strip()
    if len(code) > 40 or not MEMO_CODE.fullmatch(code):
        return None
    claim = (
        HiveOwnershipClaim.objects.open(timezone.now())
        .filter(memo_code=code, hive_account=sender)
        .first()
    )
    if claim is None:
        return None
    try:
        _complete(claim.pk, HiveOwnershipClaim.Method.TRANSFER)
    except services.MappingError:
        return None  # another user proved control first
    claim.refresh_from_db()
    return claim


@transaction.atomic
def _complete(claim_id: int, method: str) -> SidechainAddress | None:
    claim = HiveOwnershipClaim.objects.select_for_update().get(pk=claim_id)
    now = timezone.now()
    if not claim.is_open(now):
        raise services.MappingError("This claim has expired or is already verified.")
    fields = {"hive_account": claim.hive_account}
    mapping = None
    if not changes.change_needs_confirmation(
        user=claim.user, sidechain=Sidechain.HIVE, fields=fields
    ):
        mapping, _ = services.mapping_set_hive(user=claim.user, hive_account=claim.hive_account)
    elif not claim.for_change:
        raise services.MappingError(NEEDS_CHANGE, "hive_account")
    else:
        _mail_change(claim)
    HiveOwnershipClaim.objects.filter(pk=claim.pk).update(
        verified_at=now, method=method, mapping=mapping
    )
    return mapping


def _mail_change(claim: HiveOwnershipClaim) -> None:
    """The proved account becomes a pending change: the mail's link confirms it."""
    token = changes.new_token()
    path = reverse("mappings-confirm-change", args=[token])
    changes.change_record(
        user=claim.user,
        sidechain=Sidechain.HIVE,
        fields={"hive_account": claim.hive_account},
        token=token,
        confirm_url=settings.PORTAL_URL.rstrip("/") + path,
    )


def open_claims(user: User) -> list[HiveOwnershipClaim]:
    return list(HiveOwnershipClaim.objects.open(timezone.now()).filter(user=user))
