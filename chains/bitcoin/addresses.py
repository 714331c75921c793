"""Bitcoin addresses and public keys as users type them, checked for the portal's network.

decode_address() reads base58check (P2PKH, P2SH) and segwit addresses (bech32 for version 0,
bech32m for versions 1 to 16, per BIP173/BIP350) and returns the scriptPubKey they stand for.
validate_address() also refuses what the portal must never pay: every kind but p2pkh, p2sh,
p2wpkh, p2wsh and p2tr (undefined witness versions and v1 lengths, pay-to-anchor: anyone can
spend them), all-zero hashes and programs and taproot keys off the curve (nobody can).
validate_pubkey() accepts a compressed secp256k1 key in hex. Errors carry a message that can be
shown to the user as it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import coincurve

from chains.bitcoin import base58, bech32
from chains.bitcoin.base58 import Base58Error
from chains.bitcoin.bech32 import Bech32Error, Encoding

# Longer than any Bitcoin address (bech32 stops at 90): refuse before decoding, so a pasted
# essay costs nothing.
MAX_ADDRESS_LENGTH = 100
# WIF private keys are base58check too; recognising them lets us warn instead of "bad length".
PRIVATE_KEY_VERSIONS = (0x80, 0xEF)
# The kinds of address the portal pays; every other one loses the coins.
PAYABLE_KINDS = ("p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr")
# Pay-to-anchor (Bitcoin Core 28): OP_1 <4e73>, an output anyone can spend, for CPFP fee bumps.
PAY_TO_ANCHOR_PROGRAM = bytes.fromhex("4e73")


class AddressError(ValueError):
    """The text is not a usable address on the network; str() is a message for the user."""


class PublicKeyError(ValueError):
    """The text is not a compressed secp256k1 public key; str() is a message for the user."""


@dataclass(frozen=True)
class Network:
    name: str
    pubkey_hash: int  # base58 version byte of P2PKH addresses
    script_hash: int  # base58 version byte of P2SH addresses
    hrp: str  # bech32 human-readable part
    prefixes: str  # how its addresses start, for messages


NETWORKS = {
    "mainnet": Network("mainnet", 0x00, 0x05, "bc", "bc1, 1 or 3"),
    "testnet": Network("testnet", 0x6F, 0xC4, "tb", "tb1, m, n or 2"),
    "regtest": Network("regtest", 0x6F, 0xC4, "bcrt", "bcrt1, m, n or 2"),
}
_NETWORK_BY_HRP = {network.hrp: network.name for network in NETWORKS.values()}


@dataclass(frozen=True)
class BitcoinAddress:
    """A valid address. program is the 20-byte hash for p2pkh/p2sh, else the witness program."""

    text: str  # normalised: stripped, and lower case for bech32 (BIP173's canonical form)
    network: str
    kind: str  # p2pkh, p2sh, p2wpkh, p2wsh, p2tr, p2a or witness_unknown
    witness_version: int | None
    program: bytes
    script_pubkey: bytes


def get_network(name: str) -> Network:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(
            f"unknown Bitcoin network {name!r}; expected one of {list(NETWORKS)}"
        ) from None


def validate_address(text: str, network: str) -> BitcoinAddress:
    """An address the portal may pay: decode_address() and a payable kind (module docstring)."""
    address = decode_address(text, network)
    check_payable(address)
    return address


def check_payable(address: BitcoinAddress) -> None:
    """AddressError unless coins paid to the address can be spent by its owner, and only them."""
    if address.kind not in PAYABLE_KINDS:
        raise AddressError(_unpayable_kind_message(address))
    if not any(address.program):
        what = "hash" if address.witness_version is None else "witness program"
        raise AddressError(
            f"This address's {what} is all zeros: nobody can spend coins sent to it."
        )
    if address.kind == "p2tr":
        try:
            coincurve.PublicKeyXOnly(address.program)
        except ValueError:
            raise AddressError(
                "This taproot address's key is not a point on the curve: nobody can spend "
                "coins sent to it."
            ) from None


def _unpayable_kind_message(address: BitcoinAddress) -> str:
    payable = "Use a p2wpkh, p2tr, p2wsh, p2pkh or p2sh address."
    if address.kind == "p2a":
        return f"This is a pay-to-anchor address: anyone can spend coins sent to it. {payable}"
    version, size = address.witness_version, len(address.program)
    if version == 1:
        return (
            f"This version 1 address is no taproot address (its program is {size} bytes, not "
            f"32): anyone can spend coins sent to it. {payable}"
        )
    return (
        f"This is a version {version} witness address, which Bitcoin does not define yet: "
        f"anyone can spend coins sent to it. {payable}"
    )


def decode_address(text: str, network: str) -> BitcoinAddress:
    """Any valid address of the network, payable or not (BIP173/BIP350, base58check)."""
    params = get_network(network)
    address = text.strip()
    if not address:
        raise AddressError("Enter a Bitcoin address.")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise AddressError("This is too long to be a Bitcoin address.")
    # Base58 addresses start with 1, 3, m, n or 2, so no base58 address has a bech32 HRP
    # before its last '1'; the HRP alone tells the two formats apart.
    if address.lower().rpartition("1")[0] in _NETWORK_BY_HRP:
        return _segwit_address(address, params)
    if all(char in base58.ALPHABET for char in address):
        return _base58_address(address, params)
    raise AddressError(
        f"This is not a Bitcoin address: {params.name} addresses start with {params.prefixes}."
    )


def segwit_address(version: int, program: bytes, network: str) -> str:
    """Encode a witness program: bech32 for version 0, bech32m for later versions (BIP350)."""
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    return bech32.encode(get_network(network).hrp, [version, *bech32.to_words(program)], encoding)


def base58_address(kind: str, hash160: bytes, network: str) -> str:
    """Encode a P2PKH or P2SH address from its 20-byte hash."""
    params = get_network(network)
    version = params.pubkey_hash if kind == "p2pkh" else params.script_hash
    return base58.check_encode(bytes([version]) + hash160)


def witness_script_pubkey(version: int, program: bytes) -> bytes:
    # Version 0 is OP_0 (0x00); versions 1..16 are OP_1..OP_16 (0x51..0x60).
    return bytes([0 if version == 0 else 0x50 + version, len(program)]) + program


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256: the hash inside P2PKH and P2WPKH outputs."""
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def p2sh_script_pubkey(redeem_script: bytes) -> bytes:
    return _base58_script_pubkey("p2sh", hash160(redeem_script))


def key_script_pubkeys(pubkey: bytes) -> list[bytes]:
    """The standard output scripts a compressed key spends alone: P2PKH (of the compressed and
    the uncompressed form), P2WPKH, P2SH-P2WPKH, and P2TR with the key as the output key and
    as the internal key of a key-path-only output (BIP86)."""
    key = coincurve.PublicKey(check_compressed_pubkey(pubkey))
    key_hash = hash160(pubkey)
    p2wpkh = witness_script_pubkey(0, key_hash)
    return [
        _base58_script_pubkey("p2pkh", key_hash),
        _base58_script_pubkey("p2pkh", hash160(key.format(compressed=False))),
        p2wpkh,
        p2sh_script_pubkey(p2wpkh),
        witness_script_pubkey(1, pubkey[1:]),
        witness_script_pubkey(1, taproot_output_key(pubkey[1:])),
    ]


def taproot_output_key(internal_key: bytes) -> bytes:
    """BIP341's output key for an x-only internal key and no script tree (BIP86)."""
    tweak = _tagged_hash("TapTweak", internal_key)
    return coincurve.PublicKey(b"\x02" + internal_key).add(tweak).format()[1:]


def _tagged_hash(tag: str, message: bytes) -> bytes:
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + message).digest()


def validate_pubkey(hex_text: str) -> bytes:
    """The 33 bytes of a compressed secp256k1 public key given in hex."""
    text = hex_text.strip()
    if not text:
        raise PublicKeyError("Enter a public key.")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise PublicKeyError(
            "A public key is written in hexadecimal: an even number of digits 0-9 and a-f."
        ) from None
    return check_compressed_pubkey(raw)


def check_compressed_pubkey(raw: bytes) -> bytes:
    """raw itself if it is a compressed key on the curve, else PublicKeyError."""
    if len(raw) == 65 and raw[0] in (4, 6, 7):
        # Segwit v0 spends with uncompressed keys are non-standard (BIP143): coins sent to a
        # script holding one could not be moved by ordinary nodes' relay policy.
        raise PublicKeyError(
            "This is an uncompressed public key. Use the compressed form "
            "(33 bytes, starting 02 or 03)."
        )
    if len(raw) != 33:
        raise PublicKeyError(
            f"A compressed public key is 33 bytes (66 hex digits); this one is {len(raw)} bytes."
        )
    if raw[0] not in (2, 3):
        raise PublicKeyError("A compressed public key starts with 02 or 03.")
    try:
        coincurve.PublicKey(raw)
    except ValueError:
        raise PublicKeyError(
            "This is not a valid secp256k1 public key: the point is not on the curve."
        ) from None
    return raw


def _segwit_address(address: str, params: Network) -> BitcoinAddress:
    try:
        hrp, data, encoding = bech32.decode(address)
    except Bech32Error as exc:
        raise AddressError(str(exc)) from None
    version, program = _witness_program(data, encoding)
    _check_network([_NETWORK_BY_HRP[hrp]], params)
    return BitcoinAddress(
        text=address.lower(),
        network=params.name,
        kind=_witness_kind(version, program),
        witness_version=version,
        program=program,
        script_pubkey=witness_script_pubkey(version, program),
    )


def _witness_program(data: list[int], encoding: Encoding) -> tuple[int, bytes]:
    """Version and program, checked in the order of BIP350's reference decoder."""
    if not data:
        raise AddressError("The address has no witness version or program.")
    version = data[0]
    if version > 16:
        raise AddressError("The address has an invalid witness version (it must be 0 to 16).")
    try:
        program = bech32.from_words(data[1:])
    except Bech32Error as exc:
        raise AddressError(str(exc)) from None
    if not 2 <= len(program) <= 40:
        raise AddressError(
            f"The address's witness program is {len(program)} bytes; it must be 2 to 40 bytes."
        )
    if version == 0 and len(program) not in (20, 32):
        raise AddressError(
            f"The address's version 0 witness program is {len(program)} bytes; "
            "it must be 20 or 32 bytes."
        )
    _check_encoding(version, encoding)
    return version, program


def _check_encoding(version: int, encoding: Encoding) -> None:
    # BIP350: v0 keeps bech32; v1+ must use bech32m, because bech32's insertion weakness could
    # turn a mistyped v1+ address into a different valid one.
    if version == 0 and encoding is not Encoding.BECH32:
        raise AddressError(
            "The address is version 0 but has a bech32m checksum; version 0 addresses use "
            "bech32. Check it for typos."
        )
    if version > 0 and encoding is not Encoding.BECH32M:
        raise AddressError(
            f"The address is version {version} but has an old-style bech32 checksum; version 1 "
            "and later addresses use bech32m (BIP350)."
        )


def _witness_kind(version: int, program: bytes) -> str:
    if version == 0:
        return "p2wpkh" if len(program) == 20 else "p2wsh"
    if version == 1 and len(program) == 32:
        return "p2tr"
    if version == 1 and program == PAY_TO_ANCHOR_PROGRAM:
        return "p2a"
    return "witness_unknown"


def _base58_address(address: str, params: Network) -> BitcoinAddress:
    try:
        payload = base58.check_decode(address)
    except Base58Error as exc:
        raise AddressError(str(exc)) from None
    version, body = payload[0], payload[1:]
    if version in PRIVATE_KEY_VERSIONS and len(body) in (32, 33):
        raise AddressError(
            "This is a private key, not an address. Never share it: anyone who has it can take "
            "the coins it controls."
        )
    if len(body) != 20:
        raise AddressError("The address has the wrong length for a Bitcoin address.")
    kind, networks = _base58_kind(version)
    _check_network(networks, params)
    return BitcoinAddress(
        text=address,
        network=params.name,
        kind=kind,
        witness_version=None,
        program=body,
        script_pubkey=_base58_script_pubkey(kind, body),
    )


def _base58_kind(version: int) -> tuple[str, list[str]]:
    """The address kind of a version byte and the networks using it (testnet = regtest)."""
    for kind, attribute in (("p2pkh", "pubkey_hash"), ("p2sh", "script_hash")):
        networks = [n.name for n in NETWORKS.values() if getattr(n, attribute) == version]
        if networks:
            return kind, networks
    raise AddressError(f"The address has an unknown version byte ({version}).")


def _base58_script_pubkey(kind: str, hash160: bytes) -> bytes:
    if kind == "p2pkh":  # OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY OP_CHECKSIG
        return b"\x76\xa9\x14" + hash160 + b"\x88\xac"
    return b"\xa9\x14" + hash160 + b"\x87"  # OP_HASH160 <hash> OP_EQUAL


def _check_network(found: list[str], params: Network) -> None:
    if params.name not in found:
        raise AddressError(
            f"This is a {' or '.join(found)} address; the portal runs on {params.name}."
        )
