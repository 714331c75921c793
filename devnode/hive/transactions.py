"""Build, identify and sign Hive transactions (no Django; shared by the portal, signers, tests).

- digest = sha256(chain_id || packed transaction without signatures); signers sign it.
- trx_id = the first 20 bytes of sha256(packed transaction without signatures), hex. It does not
  cover the signatures, so every SON's partial signature and the merged transaction share it.
- A signature is Graphene's 65-byte compact form: one byte 27 + 4 (compressed) + recovery id,
  then r and s. Nodes accept only canonical ones (r and s below 2^255 and not zero-padded).

Signing is deterministic: RFC 6979 through libsecp256k1 (coincurve), and when the result is not
canonical, again with a counter as extra nonce data, as Graphene's fc does; the same key and
transaction always give the same signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable

import coincurve
from coincurve._libsecp256k1 import ffi

from devnode.hive import keys
from devnode.hive.protocol import Operation, Transaction
from devnode.hive.serialization import pack_transaction

MAINNET_CHAIN_ID = "beeab0de" + "00" * 28
MAX_TIME_UNTIL_EXPIRATION = dt.timedelta(seconds=3600)
_COMPACT_HEADER = 27 + 4  # compact signature by a compressed key


def transaction_id(tx: Transaction) -> str:
    return hashlib.sha256(pack_transaction(tx)).digest()[:20].hex()


def transaction_digest(tx: Transaction, chain_id: str) -> bytes:
    return hashlib.sha256(bytes.fromhex(chain_id) + pack_transaction(tx)).digest()


def reference_block(block_id: str) -> tuple[int, int]:
    """(ref_block_num, ref_block_prefix) for TaPoS: the block number's low 16 bits (the id's
    first 4 bytes are the number) and the id's bytes 4..8 read as a little-endian uint32."""
    raw = bytes.fromhex(block_id)
    return int.from_bytes(raw[:4], "big") & 0xFFFF, int.from_bytes(raw[4:8], "little")


def build_transaction(
    operations: Iterable[Operation],
    *,
    head_block_id: str,
    head_block_time: dt.datetime,
    expires_in: dt.timedelta = dt.timedelta(seconds=60),
) -> Transaction:
    """An unsigned transaction referring to the head block, expiring relative to its time
    (chain time, not the local clock: nodes judge expiration by the head block's time)."""
    if not dt.timedelta(0) < expires_in <= MAX_TIME_UNTIL_EXPIRATION:
        raise ValueError(f"expires_in must be within {MAX_TIME_UNTIL_EXPIRATION}")
    ref_block_num, ref_block_prefix = reference_block(head_block_id)
    expiration = head_block_time.replace(microsecond=0) + expires_in
    return Transaction(ref_block_num, ref_block_prefix, expiration, tuple(operations))


def sign_transaction(
    tx: Transaction, private_keys: Iterable[coincurve.PrivateKey], chain_id: str
) -> Transaction:
    """The transaction with one more signature per key, after those it already has."""
    digest = transaction_digest(tx, chain_id)
    new = tuple(sign_digest(digest, key) for key in private_keys)
    return tx.with_signatures(tx.signatures + new)


def sign_digest(digest: bytes, private_key: coincurve.PrivateKey) -> bytes:
    """A canonical compact signature of a 32-byte digest, deterministic for key and digest."""
    for counter in itertools.count():
        extra = ffi.new("unsigned char[32]", counter.to_bytes(32, "little"))
        nonce = (ffi.NULL, ffi.NULL if counter == 0 else extra)
        raw = private_key.sign_recoverable(digest, hasher=None, custom_nonce=nonce)
        signature = bytes([_COMPACT_HEADER + raw[64]]) + raw[:64]
        if is_canonical(signature):
            return signature
    raise AssertionError("unreachable")


def is_canonical(signature: bytes) -> bool:
    """fc's canonical rule for compact signatures: r and s each have the top bit clear and are
    not padded with a zero byte (which also implies BIP 62's low s)."""
    r, s = signature[1:33], signature[33:65]
    return all(not part[0] & 0x80 and not (part[0] == 0 and not part[1] & 0x80) for part in (r, s))


def recover_public_key(signature: bytes, digest: bytes) -> str:
    """The "STM..." key that made a compact signature; ValueError if none can be recovered."""
    if len(signature) != 65 or not 27 <= signature[0] < 35:
        raise ValueError("unable to reconstruct public key from signature")
    recovery_id = (signature[0] - 27) % 4
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[1:] + bytes([recovery_id]), digest, hasher=None
        )
    except ValueError as exc:
        raise ValueError("unable to reconstruct public key from signature") from exc
    return keys.public_key_to_str(public_key.format(compressed=True))
