"""The signer's own Hive code: transfer transactions, their bytes, digest, id and signatures.

Independent of the portal, chains/ and the dev node (tests check its bytes against beem's):
- packing is hived's legacy fc::raw::pack: little-endian integers, LEB128 lengths, UTF-8
  strings, an asset as int64 amount, uint8 precision 3 and the 7-byte legacy name ("STEEM" for
  HIVE, "SBD" for HBD); a transfer is operation 2;
- digest = sha256(chain_id || transaction without signatures); trx_id = the first 20 bytes of
  sha256(transaction without signatures), hex;
- a signature is Graphene's 65-byte compact form (27 + 4 + recovery id, r, s), canonical by
  fc's rule, made with RFC 6979 and a counter as extra nonce data until canonical, so the same
  key and transaction always give the same signature.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import itertools
import struct
from dataclasses import dataclass

import coincurve
from coincurve._libsecp256k1 import ffi  # type: ignore[import-not-found]  # no stubs

SYMBOLS = ("HIVE", "HBD")
_BINARY_SYMBOL = {"HIVE": b"STEEM", "HBD": b"SBD"}
_TRANSFER_OP = 2
_ACCOUNT_UPDATE_OP = 10
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
KEY_PREFIX = "STM"


@dataclass(frozen=True)
class HiveTransfer:
    sender: str
    to: str
    amount: int  # 0.001 units
    symbol: str
    memo: str


@dataclass(frozen=True)
class HiveTransaction:
    ref_block_num: int
    ref_block_prefix: int
    expiration: dt.datetime
    transfers: tuple[HiveTransfer, ...]


@dataclass(frozen=True)
class HiveAuthorityUpdate:
    """An account_update that sets the active authority: each key weight 1, the threshold, no
    account authorities; the owner authority set to the same when `owner`, else left alone; the
    posting authority left alone."""

    account: str
    threshold: int
    keys: tuple[str, ...]  # "STM..."
    memo_key: str  # "STM..."; account_update always states one
    owner: bool = False  # the owner authority becomes the same as the active one


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return varint(len(data)) + data


def _header(ref_block_num: int, ref_block_prefix: int, expiration: dt.datetime) -> bytes:
    return struct.pack(
        "<HII", ref_block_num, ref_block_prefix, calendar.timegm(expiration.utctimetuple())
    )


def pack_authority_update(
    ref_block_num: int, ref_block_prefix: int, expiration: dt.datetime, op: HiveAuthorityUpdate
) -> bytes:
    """A transaction of the one account_update, as hived packs it without signatures: the
    optional owner (present and equal to the active authority when op.owner, else absent), the
    active authority present, the posting absent, then the memo key and empty JSON metadata.
    Keys are packed in the order of their bytes (hived's flat_map)."""
    keys = sorted(public_key_bytes(key) for key in op.keys)
    authority = struct.pack("<I", op.threshold) + varint(0) + varint(len(keys))
    authority += b"".join(key + struct.pack("<H", 1) for key in keys)
    owner = b"\1" + authority if op.owner else b"\0"
    body = _string(op.account) + owner + b"\1" + authority + b"\0"
    body += public_key_bytes(op.memo_key) + _string("")
    header = _header(ref_block_num, ref_block_prefix, expiration)
    return header + varint(1) + varint(_ACCOUNT_UPDATE_OP) + body + varint(0)


def pack(tx: HiveTransaction) -> bytes:
    """The transaction as hived packs it without signatures."""
    out = _header(tx.ref_block_num, tx.ref_block_prefix, tx.expiration)
    out += varint(len(tx.transfers))
    for t in tx.transfers:
        asset = struct.pack("<qB", t.amount, 3) + _BINARY_SYMBOL[t.symbol].ljust(7, b"\0")
        out += varint(_TRANSFER_OP) + _string(t.sender) + _string(t.to) + asset + _string(t.memo)
    return out + varint(0)  # no extensions


def digest(tx: HiveTransaction, chain_id: bytes) -> bytes:
    return hashlib.sha256(chain_id + pack(tx)).digest()


def trx_id(tx: HiveTransaction) -> str:
    return hashlib.sha256(pack(tx)).digest()[:20].hex()


def sign(message_digest: bytes, key: coincurve.PrivateKey) -> bytes:
    for counter in itertools.count():
        extra = ffi.new("unsigned char[32]", counter.to_bytes(32, "little"))
        nonce = (ffi.NULL, ffi.NULL if counter == 0 else extra)
        raw = key.sign_recoverable(message_digest, hasher=None, custom_nonce=nonce)
        signature = bytes([27 + 4 + raw[64]]) + raw[:64]
        if is_canonical(signature):
            return signature
    raise AssertionError("unreachable")


def is_canonical(signature: bytes) -> bool:
    r, s = signature[1:33], signature[33:65]
    return all(not p[0] & 0x80 and not (p[0] == 0 and not p[1] & 0x80) for p in (r, s))


def public_key_str(key: coincurve.PublicKey) -> str:
    """The "STM..." form: base58 of the compressed key and its RIPEMD-160 checksum."""
    raw = key.format(compressed=True)
    checksum = hashlib.new("ripemd160", raw).digest()[:4]
    return KEY_PREFIX + _b58encode(raw + checksum)


def public_key_bytes(text: str) -> bytes:
    """The compressed key of an "STM..." string; ValueError unless its checksum and point hold."""
    if not text.startswith(KEY_PREFIX) or not 40 <= len(text) <= 60:
        raise ValueError("not an STM public key")
    number = 0
    for char in text[len(KEY_PREFIX) :]:
        if char not in _B58:
            raise ValueError("not an STM public key")
        number = number * 58 + _B58.index(char)
    data = number.to_bytes(37, "big") if number < 1 << 296 else b""
    raw, checksum = data[:33], data[33:]
    if len(data) != 37 or hashlib.new("ripemd160", raw).digest()[:4] != checksum:
        raise ValueError("not an STM public key")
    coincurve.PublicKey(raw)  # ValueError if not on the curve
    return raw


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _B58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def is_account_name(name: str) -> bool:
    """Hive's rules: 3..16 characters; dot-separated labels of 3+ characters, each starting
    with a lower-case letter, ending with a letter or digit, with letters, digits and '-'."""
    if not 3 <= len(name) <= 16:
        return False
    return all(_is_label(label) for label in name.split("."))


def _is_label(label: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    return (
        len(label) >= 3
        and label[0].isascii()
        and label[0].isalpha()
        and label[-1] != "-"
        and set(label) <= allowed
    )
