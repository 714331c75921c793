"""Sizes and fees of the federation's transactions, computed as the signers compute them
(docs/signing-requests.md): the virtual size once m signatures are in every input's witness."""

from __future__ import annotations

import math

from chains.bitcoin.federation import script_keys, threshold

DUST_LIMIT = 546  # the highest standard dust threshold (P2PKH), as the signers use
# A DER signature with high R and S is 72 bytes, plus the sighash byte: an upper bound.
MAX_SIGNATURE_BYTES = 73
P2WPKH_OUTPUT_BYTES = 31
INPUT_BYTES = 41  # outpoint 36, empty script 1, sequence 4
TX_OVERHEAD_BYTES = 10  # version 4, input and output counts, locktime 4
P2WSH_OUTPUT_BYTES = 43


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")


def signed_vsize(unsigned_size: int, witness_scripts: list[bytes]) -> int:
    """Virtual size once signed of a transaction of `unsigned_size` bytes (no witnesses)
    spending federation or deposit scripts: per input, the empty dummy item, m signatures,
    the IF branch byte of a deposit script, the witness script."""
    witness = 2  # marker and flag
    for script in witness_scripts:
        keys, is_deposit = script_keys(script)
        m = threshold(len(keys))
        witness += 1 + 1 + m * (1 + MAX_SIGNATURE_BYTES) + (2 if is_deposit else 0)
        witness += len(compact_size(len(script))) + len(script)
    return (4 * unsigned_size + witness + 3) // 4


def fee_for(feerate: int, vsize: int) -> int:
    """Satoshi at `feerate` sat/vB for `vsize` vbytes, rounded up."""
    return math.ceil(feerate * vsize)
