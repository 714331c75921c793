"""Partially Signed Bitcoin Transactions (BIP-174, version 0), the little the portal needs:
an unsigned transaction with, per input, what a wallet needs to sign a P2WSH spend (the
previous transaction, the output spent, the witness script, the sighash type), and a strict
parser of the same format (for tests and for checking what we hand out).

python-bitcoinlib has no PSBT. The format is maps of <compact size key length><key><compact
size value length><value> pairs, each map ended by a 0x00 byte: the global map (the unsigned
transaction), then one map per input and one per output, after the magic b"psbt\\xff".
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO

from bitcoin.core import CMutableTransaction, CMutableTxIn, COutPoint, CTransaction, CTxOut, lx
from bitcoin.core.script import CScript

from chains.bitcoin.federation import p2wsh_script_pubkey
from chains.bitcoin.fees import DUST_LIMIT, compact_size
from chains.bitcoin.spend import REFUND_TX_VERSION, SIGHASH_ALL, refund_sequence

MAGIC = b"psbt\xff"
GLOBAL_UNSIGNED_TX = 0x00
IN_NON_WITNESS_UTXO = 0x00
IN_WITNESS_UTXO = 0x01
IN_SIGHASH_TYPE = 0x03
IN_WITNESS_SCRIPT = 0x05
MAX_PSBT_BYTES = 1_000_000  # a parse reads at most this much


class PsbtError(ValueError):
    """Bytes that are not a PSBT this module reads."""


@dataclass(frozen=True)
class PsbtInput:
    """What a signer needs for one input; every field optional, as in BIP-174."""

    non_witness_utxo: bytes | None = None  # the previous transaction, without witnesses
    witness_utxo: tuple[int, bytes] | None = None  # (satoshi, scriptPubKey) of the output spent
    witness_script: bytes | None = None
    sighash_type: int | None = None


@dataclass
class Psbt:
    unsigned_tx: CTransaction
    inputs: list[dict[bytes, bytes]] = field(default_factory=list)
    outputs: list[dict[bytes, bytes]] = field(default_factory=list)

    def witness_utxo(self, index: int) -> tuple[int, bytes]:
        raw = self.inputs[index][bytes([IN_WITNESS_UTXO])]
        out = CTxOut.deserialize(raw)
        return out.nValue, bytes(out.scriptPubKey)

    def witness_script(self, index: int) -> bytes:
        return self.inputs[index][bytes([IN_WITNESS_SCRIPT])]


def _pair(key: bytes, value: bytes) -> bytes:
    return compact_size(len(key)) + key + compact_size(len(value)) + value


def psbt_serialize(tx: CTransaction, inputs: Sequence[PsbtInput]) -> bytes:
    """The PSBT of `tx` (its scriptSigs and witnesses must be empty) with `inputs`' data."""
    if len(inputs) != len(tx.vin):
        raise PsbtError(f"{len(tx.vin)} inputs in the transaction, {len(inputs)} given.")
    if any(len(txin.scriptSig) for txin in tx.vin) or tx.has_witness():
        raise PsbtError("The transaction must be unsigned.")
    unsigned = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    parts = [MAGIC, _pair(bytes([GLOBAL_UNSIGNED_TX]), unsigned), b"\x00"]
    for data in inputs:
        parts += [_input_map(data), b"\x00"]
    parts += [b"\x00"] * len(tx.vout)
    return b"".join(parts)


def _input_map(data: PsbtInput) -> bytes:
    pairs = []
    if data.non_witness_utxo is not None:
        pairs.append(_pair(bytes([IN_NON_WITNESS_UTXO]), data.non_witness_utxo))
    if data.witness_utxo is not None:
        amount, script_pubkey = data.witness_utxo
        out = CTxOut(amount, CScript(script_pubkey)).serialize()
        pairs.append(_pair(bytes([IN_WITNESS_UTXO]), out))
    if data.sighash_type is not None:
        pairs.append(_pair(bytes([IN_SIGHASH_TYPE]), data.sighash_type.to_bytes(4, "little")))
    if data.witness_script is not None:
        pairs.append(_pair(bytes([IN_WITNESS_SCRIPT]), data.witness_script))
    return b"".join(pairs)


def psbt_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def psbt_parse(data: bytes) -> Psbt:
    """A PSBT's unsigned transaction and its input and output maps (key -> value, raw); refuses
    anything malformed, duplicated keys, and more than MAX_PSBT_BYTES."""
    if len(data) > MAX_PSBT_BYTES:
        raise PsbtError(f"A PSBT of more than {MAX_PSBT_BYTES} bytes is not read.")
    if not data.startswith(MAGIC):
        raise PsbtError("Not a PSBT: the magic bytes are missing.")
    stream = BytesIO(data[len(MAGIC) :])
    global_map = _read_map(stream)
    raw_tx = global_map.get(bytes([GLOBAL_UNSIGNED_TX]))
    if raw_tx is None:
        raise PsbtError("The global map has no unsigned transaction.")
    try:
        tx = CTransaction.deserialize(raw_tx)
    except Exception as e:  # python-bitcoinlib raises several kinds
        raise PsbtError(f"The unsigned transaction does not parse: {e}") from None
    if any(len(txin.scriptSig) for txin in tx.vin) or tx.has_witness():
        raise PsbtError("The transaction in a PSBT must be unsigned.")
    psbt = Psbt(tx)
    psbt.inputs = [_read_map(stream) for _ in tx.vin]
    psbt.outputs = [_read_map(stream) for _ in tx.vout]
    if stream.read(1):
        raise PsbtError("Bytes after the last map.")
    return psbt


def _read_map(stream: BytesIO) -> dict[bytes, bytes]:
    pairs: dict[bytes, bytes] = {}
    while True:
        key_length = _read_compact_size(stream)
        if key_length == 0:
            return pairs
        key = _read_exactly(stream, key_length)
        value = _read_exactly(stream, _read_compact_size(stream))
        if key in pairs:
            raise PsbtError(f"Duplicate key {key.hex()}.")
        pairs[key] = value


def _read_compact_size(stream: BytesIO) -> int:
    first = _read_exactly(stream, 1)[0]
    if first < 0xFD:
        return first
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(_read_exactly(stream, width), "little")


def _read_exactly(stream: BytesIO, n: int) -> bytes:
    if n > MAX_PSBT_BYTES:  # a length no PSBT we read can hold; BytesIO.read overflows on it
        raise PsbtError("Unexpected end of the PSBT.")
    chunk = stream.read(n)
    if len(chunk) != n:
        raise PsbtError("Unexpected end of the PSBT.")
    return chunk


@dataclass(frozen=True)
class Reclaim:
    """A depositor's own spend of a deposit through the script's ELSE branch, unsigned."""

    psbt: bytes
    fee: int
    amount: int  # what arrives


def reclaim_vsize(witness_script: bytes, pay_to: bytes) -> int:
    """Virtual size of the signed reclaim: one input, one output; the witness is a signature
    (at most 73 bytes), the empty item of the ELSE branch and the witness script."""
    base = TX_BASE_BYTES + RECLAIM_INPUT_BYTES + 8 + len(compact_size(len(pay_to))) + len(pay_to)
    witness = 2 + 1 + 1 + 73 + 1 + len(compact_size(len(witness_script))) + len(witness_script)
    return (4 * base + witness + 3) // 4


TX_BASE_BYTES = 10  # version, input and output counts, lock time
RECLAIM_INPUT_BYTES = 41  # outpoint, empty scriptSig, sequence


def reclaim_psbt(
    *,
    outpoint: tuple[str, int],
    amount: int,
    prev_tx: bytes | None,
    witness_script: bytes,
    pay_to: bytes,
    feerate: int,
) -> Reclaim:
    """The PSBT a depositor signs with their deposit key to take `amount` back to `pay_to`
    (a scriptPubKey) once the deposit is T blocks deep: version 2, nSequence = T (BIP68), the
    fee at `feerate` sat/vB. Its witness, once signed: [signature, <empty>, witness_script]."""
    fee = feerate * reclaim_vsize(witness_script, pay_to)
    if amount - fee < DUST_LIMIT:
        raise PsbtError(f"{amount} sat cannot pay a fee of {fee} sat and leave more than dust.")
    txin = CMutableTxIn(
        COutPoint(lx(outpoint[0]), outpoint[1]), nSequence=refund_sequence(witness_script)
    )
    tx = CMutableTransaction(
        [txin], [CTxOut(amount - fee, CScript(pay_to))], nVersion=REFUND_TX_VERSION
    )
    data = PsbtInput(
        non_witness_utxo=prev_tx,
        witness_utxo=(amount, p2wsh_script_pubkey(witness_script)),
        witness_script=witness_script,
        sighash_type=SIGHASH_ALL,
    )
    return Reclaim(psbt_serialize(tx, [data]), fee, amount - fee)
