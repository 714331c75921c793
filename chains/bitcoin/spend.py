"""Signing and witness stacks for spending federation and deposit outputs (P2WSH, BIP143).

Transactions are python-bitcoinlib objects; signatures come from coincurve (libsecp256k1):
RFC 6979 deterministic nonces and low-S, so the same request always gets the same signature.
"""

from __future__ import annotations

from collections.abc import Mapping

import coincurve
from bitcoin.core import CTransaction
from bitcoin.core.script import SIGVERSION_WITNESS_V0, CScript, SignatureHash

from chains.bitcoin.federation import parse_deposit_script, script_keys, threshold
from chains.bitcoin.script import ScriptError

SIGHASH_ALL = 1
# BIP68 relative lock-times (what CHECKSEQUENCEVERIFY checks) only apply from version 2 on.
REFUND_TX_VERSION = 2


def signature_hash(tx: CTransaction, index: int, script_code: bytes, amount: int) -> bytes:
    """BIP143 digest (SIGHASH_ALL) of input `index`, which spends `amount` satoshi.

    script_code is the witness script for P2WSH, the P2PKH-style script for P2WPKH.
    """
    script = CScript(script_code)
    digest: bytes = SignatureHash(script, tx, index, SIGHASH_ALL, amount, SIGVERSION_WITNESS_V0)
    return digest


def sign_input(
    tx: CTransaction, index: int, script_code: bytes, amount: int, secret: bytes
) -> bytes:
    """DER signature + SIGHASH_ALL byte, as it goes into the witness."""
    digest = signature_hash(tx, index, script_code, amount)
    return coincurve.PrivateKey(secret).sign(digest, hasher=None) + bytes([SIGHASH_ALL])


def federation_witness(witness_script: bytes, signatures: Mapping[bytes, bytes]) -> list[bytes]:
    """Witness stack for the SONs' spend of a federation or deposit output.

    signatures maps SON public key -> signature; exactly m of them. CHECKMULTISIG wants them
    in the order of the keys in the script, after a dummy empty item (its off-by-one bug; NULLDUMMY
    wants it empty); a deposit script also needs TRUE to take the IF branch, exactly 0x01
    because segwit's MINIMALIF policy refuses any other true value.
    """
    son_keys, is_deposit = script_keys(witness_script)
    unknown = set(signatures) - set(son_keys)
    if unknown:
        raise ScriptError(f"{len(unknown)} signature(s) by keys that are not in the script.")
    m = threshold(len(son_keys))
    if len(signatures) != m:
        raise ScriptError(f"The script needs exactly {m} signatures, not {len(signatures)}.")
    ordered = [signatures[key] for key in son_keys if key in signatures]
    branch = [b"\x01"] if is_deposit else []
    return [b"", *ordered, *branch, witness_script]


def user_witness(witness_script: bytes, signature: bytes) -> list[bytes]:
    """Witness stack for the user's refund of a deposit: an empty item takes the ELSE branch.

    The spending input needs nSequence = the script's timelock (refund_sequence) and the
    transaction version REFUND_TX_VERSION, or CHECKSEQUENCEVERIFY fails.
    """
    parse_deposit_script(witness_script)
    return [signature, b"", witness_script]


def refund_sequence(witness_script: bytes) -> int:
    """nSequence for the user's refund input: the timelock T, in blocks (BIP68 type flag 0)."""
    return parse_deposit_script(witness_script).timelock
