"""Bech32 and bech32m (BIP173, BIP350), the checksummed base32 of segwit addresses.

A generic codec: it knows nothing of Bitcoin networks or witness versions (bitcoin.py does).
Its error messages are written for people, because they reach the address form unchanged.
"""

from __future__ import annotations

import enum

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_VALUES = {char: value for value, char in enumerate(CHARSET)}
MAX_LENGTH = 90  # BIP173's limit on the whole string, HRP and checksum included
CHECKSUM_LENGTH = 6
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Encoding(enum.Enum):
    """The two checksums differ only in the constant the polymod must come out to."""

    BECH32 = 1
    BECH32M = 0x2BC830A3


class Bech32Error(ValueError):
    """The text is not valid bech32/bech32m; str() is a message for the user."""


def encode(hrp: str, data: list[int], encoding: Encoding) -> str:
    """hrp + "1" + data (5-bit values) + checksum, in lower case."""
    hrp = hrp.lower()
    checksum = _create_checksum(hrp, data, encoding)
    return hrp + "1" + "".join(CHARSET[value] for value in data + checksum)


def decode(text: str) -> tuple[str, list[int], Encoding]:
    """(lower-case HRP, data as 5-bit values without the checksum, which checksum it has)."""
    _check_characters(text)
    hrp, data = _split(text.lower())
    return hrp, data[:-CHECKSUM_LENGTH], _verify_checksum(hrp, data)


def to_words(data: bytes) -> list[int]:
    """Bytes as 5-bit values, the last one padded with zero bits."""
    acc = bits = 0
    words = []
    for byte in data:
        acc = (acc << 8 | byte) & 0xFFF  # never more than 12 bits are pending
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append(acc >> bits & 31)
    if bits:
        words.append(acc << (5 - bits) & 31)
    return words


def from_words(words: list[int]) -> bytes:
    """Inverse of to_words. The padding rules make every byte string's encoding unique."""
    acc = bits = 0
    data = bytearray()
    for word in words:
        acc = (acc << 5 | word) & 0xFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            data.append(acc >> bits & 0xFF)
    if bits >= 5:
        raise Bech32Error("The address is malformed: it ends with a superfluous character.")
    if acc & ((1 << bits) - 1):
        raise Bech32Error("The address is malformed: its last character has stray bits set.")
    return bytes(data)


def _check_characters(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise Bech32Error(
            f"The address is too long: {len(text)} characters, at most {MAX_LENGTH} are allowed."
        )
    for char in text:
        if not 33 <= ord(char) <= 126:
            raise Bech32Error(f"The address contains {char!r}, which cannot be part of it.")
    if text.lower() != text and text.upper() != text:
        # BIP173: all-upper (for QR codes) and all-lower are both fine, a mix is an error.
        raise Bech32Error("The address mixes upper and lower case letters; use one case only.")


def _split(text: str) -> tuple[str, list[int]]:
    hrp, separator, rest = text.rpartition("1")
    if not separator:
        raise Bech32Error("The address has no '1' separating its prefix from its data.")
    if not hrp:
        raise Bech32Error("The address has nothing before its '1' separator.")
    if len(rest) < CHECKSUM_LENGTH:
        raise Bech32Error("The address is too short to hold its 6-character checksum.")
    for char in rest:
        if char not in _VALUES:
            raise Bech32Error(
                f"The address contains {char!r}, which bech32 does not use (never 1, b, i, o)."
            )
    return hrp, [_VALUES[char] for char in rest]


def _verify_checksum(hrp: str, data: list[int]) -> Encoding:
    residue = _polymod(_expand_hrp(hrp) + data)
    for encoding in Encoding:
        if residue == encoding.value:
            return encoding
    raise Bech32Error("The address's checksum does not match: check it for typos.")


def _create_checksum(hrp: str, data: list[int], encoding: Encoding) -> list[int]:
    residue = _polymod(_expand_hrp(hrp) + data + [0] * CHECKSUM_LENGTH) ^ encoding.value
    return [residue >> 5 * (CHECKSUM_LENGTH - 1 - i) & 31 for i in range(CHECKSUM_LENGTH)]


def _expand_hrp(hrp: str) -> list[int]:
    # The HRP enters the checksum as each character's high bits, a zero, then its low bits.
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _polymod(values: list[int]) -> int:
    """Remainder of the BCH code over GF(32) that both checksums share."""
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if top >> bit & 1:
                checksum ^= generator
    return checksum
