"""Base58 and the Graphene (Hive) public key format. Pure functions, no I/O."""

from __future__ import annotations

import hashlib

HIVE_PREFIX = "STM"
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}


def b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet); each leading zero byte becomes a leading '1'."""
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_ALPHABET[remainder])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """Inverse of b58encode; ValueError on a character outside the alphabet."""
    number = 0
    for char in text:
        if char not in _INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + _INDEX[char]
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * zeros + body


def ripemd160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


def hive_public_key(compressed: bytes) -> str:
    """'STM' + base58(key33 + ripemd160(key33)[:4]), the Graphene public key format."""
    if len(compressed) != 33 or compressed[0] not in (2, 3):
        raise ValueError("expected a 33-byte compressed secp256k1 public key")
    return HIVE_PREFIX + b58encode(compressed + ripemd160(compressed)[:4])


def parse_hive_public_key(text: str) -> bytes:
    """The 33-byte compressed key inside an 'STM...' string; ValueError if malformed."""
    if not text.startswith(HIVE_PREFIX):
        raise ValueError(f"a Hive public key starts with {HIVE_PREFIX}")
    raw = b58decode(text[len(HIVE_PREFIX) :])
    key, checksum = raw[:-4], raw[-4:]
    if len(key) != 33 or ripemd160(key)[:4] != checksum:
        raise ValueError("bad Hive public key checksum or length")
    return key
