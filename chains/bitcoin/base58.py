"""Base58 and base58check (Bitcoin's alphabet; checksum = first 4 bytes of double SHA-256)."""

from __future__ import annotations

import hashlib

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
CHECKSUM_LENGTH = 4


class Base58Error(ValueError):
    """The text is not valid base58check; str() is a message for the user."""


def encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(ALPHABET[remainder])
    # The number drops leading zero bytes, so each one is written as a leading '1'.
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _VALUES:
            raise Base58Error(
                f"The address contains {char!r}, which Bitcoin addresses do not use "
                "(base58 has no 0, O, I or l)."
            )
        number = number * 58 + _VALUES[char]
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def check_encode(payload: bytes) -> str:
    return encode(payload + checksum(payload))


def check_decode(text: str) -> bytes:
    """The payload (version byte included) of a base58check string."""
    raw = decode(text)
    if len(raw) <= CHECKSUM_LENGTH:
        raise Base58Error("The address is too short.")
    payload, check = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    if checksum(payload) != check:
        raise Base58Error("The address's checksum does not match: check it for typos.")
    return payload


def checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:CHECKSUM_LENGTH]
