"""Bitcoin addresses -> the scriptPubKey they stand for, for one network. Pure functions.

Base58check (P2PKH, P2SH) and segwit (bech32 for version 0, bech32m for 1..16: BIP173, BIP350).
Written for the signer alone, independent of the portal's mappings/chains/ (docs/decisions.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from signer.encoding import b58decode

NETWORKS = ("mainnet", "testnet", "regtest")
_HRP = {"mainnet": "bc", "testnet": "tb", "regtest": "bcrt"}
# base58 version bytes: (P2PKH, P2SH); testnet and regtest share theirs.
_BASE58 = {"mainnet": (0x00, 0x05), "testnet": (0x6F, 0xC4), "regtest": (0x6F, 0xC4)}
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32, _BECH32M = 1, 0x2BC830A3
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_LENGTH = 90


class AddressError(ValueError):
    """Not an address at all."""


class OtherNetworkError(AddressError):
    """A valid address, but of another network."""


def script_pubkey(address: str, network: str) -> bytes:
    """The output script `address` pays on `network`; AddressError or OtherNetworkError."""
    if not isinstance(address, str) or not 0 < len(address) <= MAX_LENGTH:
        raise AddressError("not an address")
    if not address.isascii():
        raise AddressError("not an address")
    hrp = address.lower().rpartition("1")[0]
    if hrp in _HRP.values():
        return _segwit(address, hrp, network)
    return _base58(address, network)


def _segwit(address: str, hrp: str, network: str) -> bytes:
    if address.lower() != address and address.upper() != address:
        raise AddressError("mixed case")
    data = [_CHARSET.find(char) for char in address.lower()[len(hrp) + 1 :]]
    if len(data) < 7 or -1 in data:
        raise AddressError("bad bech32 data")
    constant = _polymod(_expand(hrp) + data)
    if constant not in (_BECH32, _BECH32M):
        raise AddressError("bad checksum")
    version, program = data[0], _from_words(data[1:-6])
    if version > 16 or not 2 <= len(program) <= 40:
        raise AddressError("bad witness program")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError("bad version 0 program")
    if constant != (_BECH32 if version == 0 else _BECH32M):
        raise AddressError("wrong checksum variant for the witness version")
    if hrp != _HRP[network]:
        raise OtherNetworkError(f"an address of another network than {network}")
    return bytes([0 if version == 0 else 0x50 + version, len(program)]) + program


def _base58(address: str, network: str) -> bytes:
    try:
        raw = b58decode(address)
    except ValueError:
        raise AddressError("not base58") from None
    payload, checksum = raw[:-4], raw[-4:]
    digest = hashlib.sha256(hashlib.sha256(payload).digest()).digest()
    if len(raw) != 25 or digest[:4] != checksum:
        raise AddressError("bad base58check")
    version, body = payload[0], payload[1:]
    pubkey_hash, script_hash = _BASE58[network]
    if version == pubkey_hash:
        return b"\x76\xa9\x14" + body + b"\x88\xac"  # DUP HASH160 <h> EQUALVERIFY CHECKSIG
    if version == script_hash:
        return b"\xa9\x14" + body + b"\x87"  # HASH160 <h> EQUAL
    if any(version in versions for versions in _BASE58.values()):
        raise OtherNetworkError(f"an address of another network than {network}")
    raise AddressError("unknown version byte")


def _from_words(words: list[int]) -> bytes:
    acc = bits = 0
    out = bytearray()
    for word in words:
        acc = (acc << 5 | word) & 0xFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits & 0xFF)
    if bits >= 5 or acc & ((1 << bits) - 1):
        raise AddressError("bad padding")
    return bytes(out)


def _expand(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _generator_sums() -> tuple[int, ...]:
    """For each 5-bit top value, the XOR of the generators its set bits select (BIP173)."""
    return tuple(
        _xor_all(generator for bit, generator in enumerate(_GENERATOR) if top >> bit & 1)
        for top in range(32)
    )


def _xor_all(values: Iterable[int]) -> int:
    result = 0
    for value in values:
        result ^= value
    return result


_GENERATOR_SUMS = _generator_sums()


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value ^ _GENERATOR_SUMS[checksum >> 25]
    return checksum
