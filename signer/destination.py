"""Where a withdrawal may be paid, by the signer's own rules. Pure functions, no I/O.

A payout must be one of the five standard kinds of output a wallet can spend: P2PKH, P2SH,
P2WPKH, P2WSH or P2TR (witness version 1 with a 32-byte program that is a point's x
coordinate). Anything else loses the money: witness versions 2 to 16 and other version 1
programs (pay-to-anchor among them) are spendable by anyone today, a P2TR program off the
curve or an all-zero hash by no one.

It must not pay the federation itself either: a withdrawal to a script the federation controls
burns the user's pegged tokens for coins that stay in (or return to) the federation's hands, and
a compromised portal could use that to shuffle coins into scripts it knows how to claim as
deposits. The signer knows its federation's keys and wallet script from its own configuration
(federation_scripts) and each input's scriptPubKey from its previous transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import coincurve

from signer.encoding import ripemd160
from signer.script import p2wsh

BAD_DESTINATION = "BAD_DESTINATION"

_P2PKH = (b"\x76\xa9\x14", b"\x88\xac")  # DUP HASH160 <20> EQUALVERIFY CHECKSIG
_P2SH = (b"\xa9\x14", b"\x87")  # HASH160 <20> EQUAL


def is_payable(script_pubkey: bytes) -> bool:
    """One of the five standard kinds, with a program or hash that is not degenerate."""
    size = len(script_pubkey)
    if size == 25 and script_pubkey.startswith(_P2PKH[0]) and script_pubkey.endswith(_P2PKH[1]):
        return _nonzero(script_pubkey[3:23])
    if size == 23 and script_pubkey.startswith(_P2SH[0]) and script_pubkey.endswith(_P2SH[1]):
        return _nonzero(script_pubkey[2:22])
    if size in (22, 34) and script_pubkey[0] == 0 and script_pubkey[1] == size - 2:
        return _nonzero(script_pubkey[2:])  # P2WPKH, P2WSH
    if size == 34 and script_pubkey[:2] == b"\x51\x20":
        return _nonzero(script_pubkey[2:]) and is_x_coordinate(script_pubkey[2:])  # P2TR
    return False


def is_x_coordinate(x: bytes) -> bool:
    """A point of secp256k1 has this x: a Taproot output key someone could spend with."""
    try:
        coincurve.PublicKey(b"\x02" + x)
    except ValueError:
        return False
    return True


def federation_scripts(keys: Iterable[bytes], wallet_script: bytes) -> frozenset[bytes]:
    """Output scripts the federation controls, as far as its keys and wallet script tell:
    the wallet as P2WSH, P2SH-P2WSH and bare P2SH; each key as P2PKH (of its compressed and
    uncompressed forms), P2WPKH, P2SH-P2WPKH and P2TR (the key itself and its BIP86
    key-path-only tweak). The same list as the portal's (mappings/destinations.py)."""
    scripts = set(paying_scripts(wallet_script))
    for key in keys:
        key_hash = _hash160(key)
        uncompressed = coincurve.PublicKey(key).format(compressed=False)
        p2wpkh = b"\x00\x14" + key_hash
        scripts |= {_p2pkh(key_hash), _p2pkh(_hash160(uncompressed)), p2wpkh, _p2sh(p2wpkh)}
        scripts |= {_p2tr(key[1:]), _p2tr(bip86_output_key(key))}
    return frozenset(scripts)


def paying_scripts(witness_script: bytes) -> tuple[bytes, ...]:
    """The outputs that pay a witness script: P2WSH, P2SH-P2WSH, and P2SH of the script."""
    native = p2wsh(witness_script)
    return native, _p2sh(native), _p2sh(witness_script)


def bip86_output_key(key: bytes) -> bytes:
    """BIP86: the x-only output key of a Taproot output with internal key `key` and no
    script tree, Q = P + H_TapTweak(P)·G with P the even-y point of `key`'s x."""
    x = key[1:]
    tweak = tagged_hash(b"TapTweak", x)
    return coincurve.PublicKey(b"\x02" + x).add(tweak).format()[1:]


def tagged_hash(tag: bytes, message: bytes) -> bytes:
    """BIP340: SHA-256(SHA-256(tag) || SHA-256(tag) || message)."""
    tag_hash = hashlib.sha256(tag).digest()
    return hashlib.sha256(tag_hash + tag_hash + message).digest()


def _hash160(data: bytes) -> bytes:
    return ripemd160(hashlib.sha256(data).digest())


def _p2pkh(key_hash: bytes) -> bytes:
    return _P2PKH[0] + key_hash + _P2PKH[1]


def _p2sh(redeem_script: bytes) -> bytes:
    return _P2SH[0] + _hash160(redeem_script) + _P2SH[1]


def _p2tr(program: bytes) -> bytes:
    return b"\x51\x20" + program


def _nonzero(data: bytes) -> bool:
    return any(data)
