"""Hive withdrawal transactions in the portal: built from integers, packed and checked by beem.

beem (beembase / beemgraphenebase) does the serialization, the digest and the recovery of the
key behind a signature; the portal never uses beem's Amount (a float) or its node client. An
amount is an integer of 0.001 units, written as the legacy "1.000 HIVE" string without any
float. The signer (signer/hive.py) and the dev node pack with their own code; tests compare
the three.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from beembase.signedtransactions import Signed_Transaction
from beemgraphenebase.account import PublicKey
from beemgraphenebase.ecdsasig import verify_message

MAX_EXPIRATION = dt.timedelta(seconds=3600)
SYMBOLS = ("HIVE", "HBD")
KEY_PREFIX = "STM"


@dataclass(frozen=True)
class Payout:
    id: str  # the withdrawal's id, also the transfer's memo
    account: str
    amount: int  # 0.001 units
    asset: str  # HIVE or HBD


def legacy_amount(amount: int, asset: str) -> str:
    if asset not in SYMBOLS or amount <= 0:
        raise ValueError(f"not a HIVE or HBD amount: {amount} {asset}")
    return f"{amount // 1000}.{amount % 1000:03d} {asset}"


def reference_block(block_id: str) -> tuple[int, int]:
    """TaPoS: (ref_block_num, ref_block_prefix) of a block id."""
    raw = bytes.fromhex(block_id)
    return int.from_bytes(raw[:4], "big") & 0xFFFF, int.from_bytes(raw[4:8], "little")


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def withdrawal_transaction(
    payouts: list[Payout],
    *,
    federation: str,
    reference_block_id: str,
    reference_time: dt.datetime,
    expires_in: dt.timedelta,
) -> dict[str, Any]:
    """The unsigned transaction (legacy JSON) paying each payout from the federation account,
    with TaPoS from the reference block and an expiration relative to its time."""
    if not dt.timedelta(0) < expires_in <= MAX_EXPIRATION:
        raise ValueError("the expiration is at most an hour after the reference block")
    ref_num, ref_prefix = reference_block(reference_block_id)
    operations = [
        [
            "transfer",
            {
                "from": federation,
                "to": p.account,
                "amount": legacy_amount(p.amount, p.asset),
                "memo": p.id,
            },
        ]
        for p in payouts
    ]
    return {
        "ref_block_num": ref_num,
        "ref_block_prefix": ref_prefix,
        "expiration": format_time(reference_time.replace(microsecond=0) + expires_in),
        "operations": operations,
        "extensions": [],
        "signatures": [],
    }


def authority(keys: list[str], threshold: int) -> dict[str, Any]:
    """An authority of "STM..." keys, weight 1 each, in the order hived keeps them (by the
    keys' bytes): what a federation version is on Hive."""
    ordered = sorted(keys, key=lambda key: bytes(PublicKey(key, prefix=KEY_PREFIX)))
    return {
        "weight_threshold": threshold,
        "account_auths": [],
        "key_auths": [[key, 1] for key in ordered],
    }


def authority_update_transaction(
    *,
    account: str,
    active: dict[str, Any],
    memo_key: str,
    reference_block_id: str,
    reference_time: dt.datetime,
    expires_in: dt.timedelta,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The unsigned transaction (legacy JSON) of one account_update setting the active
    authority, and the owner authority too when `owner` is given (no posting change, metadata
    left as it is). Changing the owner needs the owner authority's signatures."""
    if not dt.timedelta(0) < expires_in <= MAX_EXPIRATION:
        raise ValueError("the expiration is at most an hour after the reference block")
    ref_num, ref_prefix = reference_block(reference_block_id)
    body: dict[str, Any] = {"account": account}
    if owner is not None:
        body["owner"] = owner
    body |= {"active": active, "memo_key": memo_key, "json_metadata": ""}
    return {
        "ref_block_num": ref_num,
        "ref_block_prefix": ref_prefix,
        "expiration": format_time(reference_time.replace(microsecond=0) + expires_in),
        "operations": [["account_update", body]],
        "extensions": [],
        "signatures": [],
    }


def packed(tx: dict[str, Any]) -> bytes:
    """The transaction's bytes without signatures, as beem packs them."""
    signed = Signed_Transaction(**{**tx, "signatures": []})
    # As beem's own deriveDigest does: a plain empty list packs to nothing, whereas the Array
    # the constructor made would pack its length byte.
    signed.data["signatures"] = []
    return bytes(signed)


def transaction_id(tx: dict[str, Any]) -> str:
    return hashlib.sha256(packed(tx)).digest()[:20].hex()


def signing_message(tx: dict[str, Any], chain_id: str) -> bytes:
    """chain_id || packed transaction: its sha256 is what each SON signs."""
    return bytes.fromhex(chain_id) + packed(tx)


def recover_key(tx: dict[str, Any], chain_id: str, signature: bytes) -> str | None:
    """The "STM..." key whose signature this is over the transaction, or None."""
    if len(signature) != 65 or not 31 <= signature[0] <= 34:
        return None
    try:
        key = verify_message(signing_message(tx, chain_id), signature)
    except Exception:  # beem raises its curve library's errors on a bad signature
        return None
    return str(PublicKey(key.hex(), prefix=KEY_PREFIX)) if key else None


def public_key_hex(registered: str) -> str:
    """A registered key as 66 hex characters (compressed), the form federation versions hold
    and fingerprint; ValueError if it is neither."""
    try:
        if registered.startswith(KEY_PREFIX):
            return repr(PublicKey(registered, prefix=KEY_PREFIX))
        key = bytes.fromhex(registered)
    except (AssertionError, ValueError):  # beem checks the checksum and prefix by assert
        raise ValueError(f"not a Hive public key: {registered[:60]!r}") from None
    if len(key) != 33 or key[0] not in (2, 3):
        raise ValueError(f"not a compressed public key: {registered[:60]!r}")
    return key.hex()


def public_key_text(registered: str) -> str:
    """A registered key as "STM...": it may be stored so, or as 66 hex characters."""
    if registered.startswith(KEY_PREFIX):
        return registered
    return str(PublicKey(registered, prefix=KEY_PREFIX))
