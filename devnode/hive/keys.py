"""Hive key formats: public keys as "STM" + base58(key + checksum), private keys as WIF.

A Hive public key string is the address prefix followed by base58 of the 33-byte compressed
secp256k1 key and the first 4 bytes of its RIPEMD-160. A WIF is base58 of 0x80 + the 32-byte
secret + the first 4 bytes of its double SHA-256 (Bitcoin's uncompressed WIF).
"""

from __future__ import annotations

import hashlib

import coincurve
from beemgraphenebase.base58 import base58decode, base58encode

ADDRESS_PREFIX = "STM"
_WIF_VERSION = b"\x80"


def ripemd160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


def public_key_to_str(key: bytes, prefix: str = ADDRESS_PREFIX) -> str:
    """The "STM..." form of a 33-byte compressed public key."""
    if len(key) != 33 or key[0] not in (2, 3):
        raise ValueError("a public key is 33 bytes, compressed")
    return prefix + _b58encode(key + ripemd160(key)[:4])


def public_key_from_str(text: str, prefix: str = ADDRESS_PREFIX) -> bytes:
    """The 33-byte compressed key of an "STM..." string; ValueError if it is not one."""
    if not text.startswith(prefix):
        raise ValueError(f"public key does not start with {prefix}")
    raw = _b58decode(text[len(prefix) :])
    key, checksum = raw[:-4], raw[-4:]
    if len(key) != 33 or ripemd160(key)[:4] != checksum:
        raise ValueError("public key checksum mismatch")
    coincurve.PublicKey(key)  # rejects points that are not on the curve
    return key


def public_key_of(private_key: coincurve.PrivateKey, prefix: str = ADDRESS_PREFIX) -> str:
    return public_key_to_str(private_key.public_key.format(compressed=True), prefix)


def private_key_to_wif(private_key: coincurve.PrivateKey) -> str:
    payload = _WIF_VERSION + private_key.secret
    return _b58encode(payload + _double_sha256(payload)[:4])


def private_key_from_wif(wif: str) -> coincurve.PrivateKey:
    raw = _b58decode(wif)
    payload, checksum = raw[:-4], raw[-4:]
    if len(payload) != 33 or payload[:1] != _WIF_VERSION:
        raise ValueError("not an uncompressed WIF private key")
    if _double_sha256(payload)[:4] != checksum:
        raise ValueError("WIF checksum mismatch")
    return coincurve.PrivateKey(payload[1:])


def _double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _b58encode(data: bytes) -> str:
    # beem's base58 (hex in, hex out): the dev node reads keys with code that is not the portal's.
    return base58encode(data.hex())


def _b58decode(text: str) -> bytes:
    try:
        return bytes.fromhex(base58decode(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not base58") from exc
