"""Registering, changing and expiring a user's sidechain addresses.

Every change is atomic and serialised per user (a row lock on the user); identifiers are
claimed in AddressClaim so that two users can never hold the same one.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from chains.bitcoin import addresses, federation, keys
from chains.hive import names
from chains.hive.rpc import HiveRPC, HiveRPCError, HiveRPCUnavailable
from mappings import destinations
from mappings.models import AddressClaim, SidechainAddress
from sons.federation import federation_current, federation_public_keys
from sons.models import Sidechain


class MappingError(Exception):
    """Input or state that prevents the change; `field` names the input at fault, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class BitcoinDeposit:
    witness_script: bytes
    script_pubkey: bytes
    address: str
    timelock: int


def derive_bitcoin_deposit(user_key: bytes) -> BitcoinDeposit:
    keys = [bytes.fromhex(k) for k in federation_public_keys(Sidechain.BITCOIN)]
    if not keys:
        raise MappingError("The federation has no SONs yet, so there is no deposit address.")
    timelock = settings.BITCOIN_DEPOSIT_TIMELOCK
    try:
        script = federation.deposit_witness_script(keys, user_key, timelock)
    except ValueError as e:
        raise MappingError(str(e), "deposit_public_key") from e
    return BitcoinDeposit(
        witness_script=script,
        script_pubkey=federation.p2wsh_script_pubkey(script),
        address=federation.p2wsh_address(script, settings.BITCOIN_NETWORK),
        timelock=timelock,
    )


def parse_bitcoin(
    deposit_public_key: str, withdraw_address: str
) -> tuple[keys.DepositKeySpec, str]:
    """Where the user's deposit keys come from (a hex key, an extended public key or a
    descriptor: chains/bitcoin/keys.py) and the canonical withdraw address, or MappingError.
    The address is checked on its own here; mapping_set_bitcoin also checks it against the
    federation."""
    try:
        spec = keys.parse_deposit_key(deposit_public_key, settings.BITCOIN_NETWORK)
    except addresses.PublicKeyError as e:
        raise MappingError(str(e), "deposit_public_key") from e
    try:
        address = addresses.validate_address(withdraw_address, settings.BITCOIN_NETWORK)
    except addresses.AddressError as e:
        raise MappingError(str(e), "withdraw_address") from e
    return spec, address.text


def _check_withdraw_destination(address: str, derived: BitcoinDeposit) -> None:
    try:
        destinations.withdraw_destination(address, own_deposit=derived.script_pubkey)
    except addresses.AddressError as e:
        raise MappingError(str(e), "withdraw_address") from e


def parse_hive(account: str) -> str:
    try:
        name = names.validate_account_name(account)
    except names.AccountNameError as e:
        raise MappingError(str(e), "hive_account") from e
    if settings.HIVE_NODE_URL:
        try:
            exists = HiveRPC(settings.HIVE_NODE_URL, timeout=10).account_exists(name)
        except (HiveRPCError, HiveRPCUnavailable) as e:
            raise MappingError(f"The Hive node could not be asked: {e}. Try again.") from e
        if not exists:
            raise MappingError(f"There is no Hive account named {name}.", "hive_account")
    return name


@transaction.atomic
def mapping_set_bitcoin(
    *,
    user: User,
    deposit_public_key: str,
    withdraw_address: str,
    request_id: str | None = None,
    cooldown: bool = False,
) -> tuple[SidechainAddress, bool]:
    """Register or change the user's Bitcoin addresses: (mapping, whether a row was created).
    deposit_public_key may be an extended public key or a descriptor with a wildcard: each new
    deposit address then gets the next unused key of it (docs/decisions.md).
    cooldown: a confirmed change of where money goes (mappings/changes.py): withdrawals pay the
    previous row for MAPPING_CHANGE_COOLDOWN seconds."""
    spec, address = parse_bitcoin(deposit_public_key, withdraw_address)
    # The lock orders this user's registrations, so two never pick the same key index.
    get_user_model().objects.select_for_update().get(pk=user.pk)
    fields = _bitcoin_fields(spec, _key_index(user, spec, address), address)
    claims = [
        (AddressClaim.Kind.DEPOSIT_KEY, fields["deposit_public_key"], "deposit_public_key"),
        (AddressClaim.Kind.WITHDRAW_ADDRESS, address, "withdraw_address"),
    ]
    return _mapping_set(user, Sidechain.BITCOIN, fields, claims, request_id, cooldown)


def _bitcoin_fields(spec: keys.DepositKeySpec, index: int | None, address: str) -> dict[str, Any]:
    key = spec.key_at(index)
    derived = derive_bitcoin_deposit(key)
    _check_withdraw_destination(address, derived)
    return {
        "deposit_public_key": key.hex(),
        "deposit_key_source": "" if spec.source == key.hex() else spec.source,
        "deposit_key_index": index,
        "deposit_key_origin": spec.origin_of(index),
        "withdraw_address": address,
        "deposit_address": derived.address,
        "deposit_witness_script": derived.witness_script,
        "deposit_script_pubkey": derived.script_pubkey,
        "deposit_timelock": derived.timelock,
        "federation_version": federation_current(Sidechain.BITCOIN),
    }


def _key_index(user: User, spec: keys.DepositKeySpec, address: str) -> int | None:
    """None for a fixed key. For a ranged one: the active row's index when registering the same
    thing again would give the same row, else one past the highest this user has used."""
    if not spec.ranged:
        return None
    rows = SidechainAddress.objects.for_user(user).for_chain(Sidechain.BITCOIN)
    rows = rows.filter(deposit_key_source=spec.source, deposit_key_index__isnull=False)
    current = rows.filter(expires__isnull=True).first()
    if current is not None and current.withdraw_address == address:
        same = _bitcoin_fields(spec, current.deposit_key_index, address)
        if _same(current, same):
            return current.deposit_key_index
    highest = rows.aggregate(m=models.Max("deposit_key_index"))["m"]
    return 0 if highest is None else highest + 1


def mappings_follow_federation(*, limit: int = 200) -> int:
    """After a rotation activated a new federation version: each active Bitcoin row derived
    under another version gets a new row under the active one (same key, same withdraw
    address); the old row expires and its address stays watched and credited
    (docs/rotation.md). A row whose confirmed change is still cooling down waits: a new row
    would make withdrawals pay the cooling address. Returns how many rows moved."""
    active = federation_current(Sidechain.BITCOIN)
    if active is None:
        return 0
    now = timezone.now()
    stale = (
        SidechainAddress.objects.for_chain(Sidechain.BITCOIN)
        .active()
        .exclude(federation_version=active)
        .exclude(cooldown_until__gt=now)
        .select_related("user")
        .order_by("pk")[:limit]
    )
    moved = 0
    for mapping in stale:
        derived = derive_bitcoin_deposit(bytes.fromhex(mapping.deposit_public_key))
        if bytes(mapping.deposit_script_pubkey or b"") == derived.script_pubkey:
            # a row from before versions were recorded, already under the active keys
            SidechainAddress.objects.filter(pk=mapping.pk).update(federation_version=active)
            continue
        try:
            _, created = mapping_set_bitcoin(
                user=mapping.user,
                deposit_public_key=mapping.deposit_public_key,
                withdraw_address=mapping.withdraw_address,
            )
        except MappingError as e:  # e.g. its withdraw address is refused today: it stays
            logging.getLogger(__name__).warning("mapping %s keeps its address: %s", mapping.pk, e)
            continue
        moved += created
    return moved


def mapping_set_hive(
    *, user: User, hive_account: str, request_id: str | None = None, cooldown: bool = False
) -> tuple[SidechainAddress, bool]:
    """Activate a Hive mapping. Only for a proven claim: mappings/hive_ownership.py calls it
    once the user has shown control of the account; users' requests open a claim instead."""
    name = parse_hive(hive_account)
    claims = [(AddressClaim.Kind.HIVE_ACCOUNT, name, "hive_account")]
    return _mapping_set(user, Sidechain.HIVE, {"hive_account": name}, claims, request_id, cooldown)


@transaction.atomic
def _mapping_set(
    user: User,
    sidechain: str,
    fields: dict[str, Any],
    claims: Sequence[tuple[str, str, str]],
    request_id: str | None,
    cooldown: bool = False,
) -> tuple[SidechainAddress, bool]:
    get_user_model().objects.select_for_update().get(pk=user.pk)
    if request_id:
        earlier = SidechainAddress.objects.filter(user=user, request_id=request_id).first()
        if earlier is not None:
            return earlier, False
    current = SidechainAddress.objects.for_user(user).for_chain(sidechain).active().first()
    if current is not None and _same(current, fields):
        return current, False
    for kind, value, field in claims:
        _claim(user, kind, value, field)
    now = timezone.now()
    if current is not None:
        current.expires = now
        current.save(update_fields=["expires"])
    if cooldown:
        fields["cooldown_until"] = now + timedelta(seconds=settings.MAPPING_CHANGE_COOLDOWN)
    mapping = SidechainAddress.objects.create(
        user=user, sidechain=sidechain, valid_from=now, request_id=request_id or "", **fields
    )
    return mapping, True


def _same(mapping: SidechainAddress, fields: dict[str, Any]) -> bool:
    return all(getattr(mapping, name) == value for name, value in fields.items())


def _claim(user: User, kind: str, value: str, field: str) -> None:
    try:
        with transaction.atomic():
            claim, _ = AddressClaim.objects.get_or_create(
                kind=kind, value=value, defaults={"user": user}
            )
    except IntegrityError:
        claim = AddressClaim.objects.get(kind=kind, value=value)
    if claim.user_id != user.pk:
        label = AddressClaim.Kind(kind).label
        what = label[0].lower() + label[1:]
        raise MappingError(f"This {what} belongs to another account.", field)


def mapping_expire(*, mapping: SidechainAddress) -> SidechainAddress:
    """Stop using a mapping. Its deposit address stays watched."""
    SidechainAddress.objects.filter(pk=mapping.pk, expires__isnull=True).update(
        expires=timezone.now()
    )
    mapping.refresh_from_db()
    return mapping
