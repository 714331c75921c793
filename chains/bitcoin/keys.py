"""Deposit keys as wallets export them: a raw hex key, an extended public key or a descriptor.

parse_deposit_key() reads what a user pastes and returns a DepositKeySpec:
- a compressed public key in hex (02.../03..., 66 digits);
- an extended public key (BIP32): xpub/ypub/zpub on mainnet, tpub/upub/vpub on the test
  networks (SLIP-132's y/z/u/v versions carry the same key data). Taken as an account key:
  its keys are on the receive chain, <xpub>/0/i;
- a descriptor (BIP380-382) of one key: wpkh(KEY), pkh(KEY) or sh(wpkh(KEY)), with an
  optional key origin [fingerprint/path] and an optional #checksum, which is verified. KEY is a
  hex key, or an extended public key with an unhardened path that may end in /* or /<0;1>/*
  (the receive branch is used).
A spec with a wildcard gives a fresh key per index (key_at); a fixed one always the same key.
Only public derivation is possible, so hardened steps after an extended key are refused, and so
is anything private (xprv, tprv, WIF): it must never be pasted into a web page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import coincurve

from chains.bitcoin import base58
from chains.bitcoin.addresses import (
    PublicKeyError,
    check_compressed_pubkey,
    hash160,
    validate_pubkey,
)

# A descriptor with a key origin, a multipath step and its checksum is ~170 characters; no key
# anyone pastes is longer than this. Refused before any parsing.
MAX_KEY_INPUT = 300
HARDENED = 0x80000000
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

PUBLIC_VERSIONS = {
    bytes.fromhex("0488b21e"): ("mainnet", "xpub"),
    bytes.fromhex("049d7cb2"): ("mainnet", "ypub"),
    bytes.fromhex("04b24746"): ("mainnet", "zpub"),
    bytes.fromhex("043587cf"): ("test", "tpub"),
    bytes.fromhex("044a5262"): ("test", "upub"),
    bytes.fromhex("045f1cf6"): ("test", "vpub"),
}
PRIVATE_VERSIONS = {
    bytes.fromhex(v)
    for v in ("0488ade4", "049d7878", "04b2430c", "04358394", "044a4e28", "045f18bc")
}
PRIVATE_PREFIXES = ("xprv", "yprv", "zprv", "tprv", "uprv", "vprv")

_CHECKSUM_INPUT = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_ORIGIN = re.compile(r"\[([0-9a-fA-F]{8})((?:/[0-9]{1,10}['hH]?)*)\]")
_STEP = re.compile(r"[0-9]{1,10}['hH]?")


@dataclass(frozen=True)
class ExtendedPublicKey:
    network: str  # "mainnet" or "test" (testnet, signet and regtest share tpub)
    depth: int
    parent_fingerprint: bytes
    child_number: int
    chain_code: bytes
    key: bytes

    @property
    def fingerprint(self) -> bytes:
        return hash160(self.key)[:4]

    def child(self, index: int) -> ExtendedPublicKey:
        """CKDpub (BIP32): the unhardened child at index."""
        if not 0 <= index < HARDENED:
            raise PublicKeyError("A public key can only derive unhardened children.")
        digest = hmac.new(
            self.chain_code, self.key + index.to_bytes(4, "big"), hashlib.sha512
        ).digest()
        tweak, chain_code = digest[:32], digest[32:]
        if int.from_bytes(tweak, "big") >= CURVE_ORDER:
            raise PublicKeyError(f"Child {index} of this key is invalid (BIP32); use another.")
        try:
            key = coincurve.PublicKey(self.key).add(tweak).format(compressed=True)
        except ValueError:
            raise PublicKeyError(f"Child {index} of this key is invalid (BIP32).") from None
        return ExtendedPublicKey(
            self.network, self.depth + 1, self.fingerprint, index, chain_code, key
        )

    def derive(self, path: tuple[int, ...]) -> ExtendedPublicKey:
        node = self
        for index in path:
            node = node.child(index)
        return node


@dataclass(frozen=True)
class DepositKeySpec:
    """Where the deposit key comes from. source is what the portal stores and shows back."""

    source: str
    key: bytes | None = None  # a fixed key (hex, or an extended key with a fixed path)
    xpub: ExtendedPublicKey | None = None  # with path: the node whose children are used
    origin_fingerprint: bytes | None = None
    origin_path: tuple[int, ...] = ()  # from the origin's fingerprint to xpub's node

    @property
    def ranged(self) -> bool:
        """Whether each deposit address gets a fresh key (a wildcard or a bare xpub)."""
        return self.xpub is not None

    def key_at(self, index: int | None) -> bytes:
        if self.xpub is None:
            assert self.key is not None
            return self.key
        if index is None:
            raise ValueError("a ranged deposit key needs an index")
        return self.xpub.child(index).key

    def origin_of(self, index: int | None) -> str:
        """The key origin of the key at index, as a descriptor writes it: [fingerprint/path]."""
        if self.origin_fingerprint is None:
            return ""
        path = self.origin_path + (() if index is None else (index,))
        return "[" + self.origin_fingerprint.hex() + "".join("/" + _step(i) for i in path) + "]"


def _step(index: int) -> str:
    return f"{index - HARDENED}h" if index >= HARDENED else str(index)


def parse_deposit_key(text: str, network: str) -> DepositKeySpec:
    """network: the portal's ("mainnet", "testnet", "regtest")."""
    if len(text) > MAX_KEY_INPUT:
        raise PublicKeyError(
            f"This is longer than any public key or descriptor ({MAX_KEY_INPUT} characters)."
        )
    text = text.strip()
    if not text:
        raise PublicKeyError("Enter a public key, an extended public key or a descriptor.")
    _refuse_private(text)
    if "(" in text or "#" in text:
        return _parse_descriptor(text, network)
    if text[:4].lower() in {prefix for _, prefix in PUBLIC_VERSIONS.values()}:
        xpub = parse_extended_key(text, network)
        return _spec_from_xpub(text, xpub, (0,), ranged=True, origin=None)
    if re.fullmatch(r"[0-9a-fA-F]+", text) is None:
        raise PublicKeyError(
            "This is neither a public key in hex (66 digits, 02... or 03...) nor an extended "
            "public key (xpub, tpub) nor a descriptor such as wpkh(...). An address will not do: "
            "the portal needs the key itself."
        )
    key = validate_pubkey(text)
    return DepositKeySpec(source=key.hex(), key=key)


def _refuse_private(text: str) -> None:
    words = re.findall(r"[1-9A-HJ-NP-Za-km-z]{51,52}", text)
    if any(p in text for p in PRIVATE_PREFIXES) or any(_is_wif(w) for w in words):
        raise PublicKeyError(
            "This is a PRIVATE key: never paste it into a web page. Anyone who has it can take "
            "your coins. Give the public key, extended public key (xpub/tpub) or descriptor."
        )


def _is_wif(text: str) -> bool:
    if not 51 <= len(text) <= 52:
        return False
    try:
        payload = base58.check_decode(text)
    except ValueError:
        return False
    return len(payload) in (33, 34) and payload[0] in (0x80, 0xEF)


def parse_extended_key(text: str, network: str) -> ExtendedPublicKey:
    try:
        raw = base58.check_decode(text)
    except ValueError:
        raise PublicKeyError(
            "This extended public key does not decode: a character is wrong or missing "
            "(its checksum fails)."
        ) from None
    if len(raw) != 78:
        raise PublicKeyError(f"An extended public key is 78 bytes; this one is {len(raw)}.")
    if raw[:4] in PRIVATE_VERSIONS:
        _refuse_private("xprv")
    if raw[:4] not in PUBLIC_VERSIONS:
        raise PublicKeyError("This is not an extended public key (xpub, tpub, zpub, vpub...).")
    key_network, prefix = PUBLIC_VERSIONS[raw[:4]]
    expected = "mainnet" if network == "mainnet" else "test"
    if key_network != expected:
        wanted = "xpub, ypub or zpub" if expected == "mainnet" else "tpub, upub or vpub"
        raise PublicKeyError(
            f"This {prefix} is for {'mainnet' if key_network == 'mainnet' else 'test networks'}; "
            f"the portal runs on {network}: give a {wanted}."
        )
    depth, parent, child = raw[4], raw[5:9], int.from_bytes(raw[9:13], "big")
    if depth == 0 and (parent != b"\0\0\0\0" or child != 0):
        raise PublicKeyError("This extended key is malformed (depth 0 with a parent).")
    key = check_compressed_pubkey(raw[45:78])
    return ExtendedPublicKey(key_network, depth, parent, child, raw[13:45], key)


def descriptor_checksum(descriptor: str) -> str:
    """BIP380's 8-character checksum of a descriptor (without its #)."""
    generator = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)
    c, cls, clscount = 1, 0, 0

    def polymod(c: int, value: int) -> int:
        c0 = c >> 35
        c = ((c & 0x7FFFFFFFF) << 5) ^ value
        for bit in range(5):
            if (c0 >> bit) & 1:
                c ^= generator[bit]
        return c

    for ch in descriptor:
        pos = _CHECKSUM_INPUT.find(ch)
        if pos == -1:
            raise PublicKeyError(f"A descriptor cannot contain {ch!r}.")
        c = polymod(c, pos & 31)
        cls = cls * 3 + (pos >> 5)
        clscount += 1
        if clscount == 3:
            c, cls, clscount = polymod(c, cls), 0, 0
    if clscount > 0:
        c = polymod(c, cls)
    for _ in range(8):
        c = polymod(c, 0)
    c ^= 1
    return "".join(_CHECKSUM_CHARSET[(c >> (5 * (7 - i))) & 31] for i in range(8))


def _parse_descriptor(text: str, network: str) -> DepositKeySpec:
    body, _, checksum = text.partition("#")
    if checksum and checksum != descriptor_checksum(body):
        raise PublicKeyError(
            "The descriptor's checksum (after #) does not match: it was changed or mistyped."
        )
    match = re.fullmatch(r"(wpkh|pkh|sh\(wpkh)\((.*?)\)\)?", body)
    if match is None or body.count("(") != body.count(")"):
        raise PublicKeyError(
            "The portal takes a descriptor of one key: wpkh(...), pkh(...) or sh(wpkh(...)). "
            "Multisig and taproot (tr) descriptors cannot give it a key."
        )
    return _parse_key_expression(match.group(2), network, body)


def _parse_key_expression(expr: str, network: str, source: str) -> DepositKeySpec:
    origin = _ORIGIN.match(expr)
    fingerprint: bytes | None = None
    origin_path: tuple[int, ...] = ()
    if origin is not None:
        fingerprint = bytes.fromhex(origin.group(1))
        origin_path = _path(origin.group(2).strip("/").split("/") if origin.group(2) else [])
        expr = expr[origin.end() :]
    head, *steps = expr.split("/")
    if not steps and re.fullmatch(r"[0-9a-fA-F]{66}", head):
        return DepositKeySpec(
            source=source,
            key=validate_pubkey(head),
            origin_fingerprint=fingerprint,
            origin_path=origin_path,
        )
    xpub = parse_extended_key(head, network)
    if fingerprint is None:
        fingerprint, origin_path = xpub.fingerprint, ()
    ranged = bool(steps) and steps[-1] in ("*", "*'", "*h")
    if ranged and steps[-1] != "*":
        raise PublicKeyError("A hardened wildcard (*') needs the private key: use /*.")
    fixed = steps[:-1] if ranged else steps
    if len(fixed) >= 1 and fixed[-1] == "<0;1>":
        fixed = [*fixed[:-1], "0"]  # the receive branch of a multipath descriptor
    path = _path(fixed, unhardened=True)
    return _spec_from_xpub(source, xpub, path, ranged, (fingerprint, origin_path))


def _spec_from_xpub(
    source: str,
    xpub: ExtendedPublicKey,
    path: tuple[int, ...],
    ranged: bool,
    origin: tuple[bytes, tuple[int, ...]] | None,
) -> DepositKeySpec:
    fingerprint, origin_path = origin if origin is not None else (xpub.fingerprint, ())
    node = xpub.derive(path)
    if ranged:
        return DepositKeySpec(
            source=source, xpub=node, origin_fingerprint=fingerprint, origin_path=origin_path + path
        )
    return DepositKeySpec(
        source=source, key=node.key, origin_fingerprint=fingerprint, origin_path=origin_path + path
    )


def _path(steps: list[str], unhardened: bool = False) -> tuple[int, ...]:
    out = []
    for step in steps:
        if _STEP.fullmatch(step) is None:
            raise PublicKeyError(f"{step!r} is not a derivation step (a number, or * at the end).")
        hardened = step[-1] in "'hH"
        if hardened and unhardened:
            raise PublicKeyError(
                "A hardened step after an extended public key needs the private key: export "
                "the xpub at the hardened level instead."
            )
        index = int(step.rstrip("'hH"))
        if index >= HARDENED:
            raise PublicKeyError(f"Derivation step {index} is too large (at most 2147483647).")
        out.append(index + HARDENED if hardened else index)
    return tuple(out)
