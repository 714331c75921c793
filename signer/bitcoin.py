"""Bitcoin transactions for the signer: parsing, txid, BIP143 sighash, signing, size. No I/O.

The signer re-derives everything it checks from the transaction bytes, so it parses them itself
(strictly: canonical CompactSize numbers, no trailing bytes, no witness section) instead of
trusting the portal's description or the portal's code. That holds for the transaction it signs
and for the previous transactions its inputs spend, whose outputs give the amounts it signs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import coincurve

SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80
MAX_MONEY = 21_000_000 * 100_000_000
MAX_TX_BYTES = 100_000  # Bitcoin Core's standard limit is 400,000 weight units = 100 kvB
MAX_SCRIPT_BYTES = 10_000
# A DER signature with a high R and a high S is 72 bytes, plus the sighash byte: what a finished
# input can carry per signature at most (our own, low-S ones are at most 72 with the byte).
MAX_SIGNATURE_BYTES = 73
_ZERO = bytes(32)


class TxError(ValueError):
    """The bytes are not a transaction the signer accepts."""


@dataclass(frozen=True)
class TxIn:
    txid: str  # of the spent transaction, in the usual (byte-reversed, RPC) hex
    vout: int
    script_sig: bytes
    sequence: int

    @property
    def outpoint(self) -> bytes:
        return bytes.fromhex(self.txid)[::-1] + self.vout.to_bytes(4, "little")


@dataclass(frozen=True)
class TxOut:
    amount: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return self.amount.to_bytes(8, "little") + var_bytes(self.script_pubkey)


@dataclass(frozen=True)
class Tx:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    raw: bytes  # the bytes it was parsed from: its serialization without witnesses

    @property
    def txid(self) -> str:
        return txid_of(self.raw)


def txid_of(raw: bytes) -> str:
    """The txid of a transaction serialized without witnesses, in the usual (RPC) hex."""
    return double_sha256(raw)[::-1].hex()


def parse_tx(raw: bytes, *, script_limit: int = MAX_SCRIPT_BYTES) -> Tx:
    """A transaction in the serialization without witnesses; TxError otherwise.

    An unsigned segwit transaction has only empty witnesses, and BIP144 serializes those
    without the marker and flag; a 0x00 where the input count belongs is refused. Scripts are
    at most `script_limit` bytes: MAX_SCRIPT_BYTES for what the signer signs; a previous
    transaction, which the chain accepted already, may hold any script that fits in it.
    """
    if len(raw) > MAX_TX_BYTES:
        raise TxError("the transaction is too large")
    reader = _Reader(raw)
    version = reader.uint(4)
    inputs = tuple(_read_input(reader, script_limit) for _ in range(reader.count(1, 41)))
    outputs = tuple(_read_output(reader, script_limit) for _ in range(reader.count(1, 9)))
    locktime = reader.uint(4)
    if not reader.at_end():
        raise TxError("bytes after the transaction")
    return Tx(version, inputs, outputs, locktime, bytes(raw))


def parse_outputs(raw: bytes) -> tuple[TxOut, ...]:
    """The outputs of a transaction serialized without witnesses, read as strictly as parse_tx
    (canonical counts, no bytes after it) but without building its inputs: all a previous
    transaction is needed for. The chain took it already, so any script that fits may be in it.
    TxError otherwise."""
    if len(raw) > MAX_TX_BYTES:
        raise TxError("the transaction is too large")
    reader = _Reader(raw)
    reader.skip(4)  # version
    for _ in range(reader.count(1, 41)):
        reader.skip(36)  # outpoint
        reader.skip(reader.count(0, 1, limit=MAX_TX_BYTES) + 4)  # script, sequence
    outputs = tuple(_read_output(reader, MAX_TX_BYTES) for _ in range(reader.count(1, 9)))
    reader.skip(4)  # lock time
    if not reader.at_end():
        raise TxError("bytes after the transaction")
    return outputs


def signature_hash(
    tx: Tx, index: int, script_code: bytes, amount: int, hash_type: int = SIGHASH_ALL
) -> bytes:
    """BIP143 digest of input `index` spending `amount` satoshi under `script_code` (the
    witness script for P2WSH). The signer only signs SIGHASH_ALL (signature_hashes); the other
    types are here so that every published BIP143 vector can check this function."""
    base, anyone_can_pay = hash_type & 0x1F, hash_type & SIGHASH_ANYONECANPAY
    prevouts = sequences = outputs = _ZERO
    if not anyone_can_pay:
        prevouts = _hash_prevouts(tx)
        if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
            sequences = _hash_sequences(tx)
    if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        outputs = _hash_outputs(tx)
    elif base == SIGHASH_SINGLE and index < len(tx.outputs):
        outputs = double_sha256(tx.outputs[index].serialize())
    shared = (prevouts, sequences, outputs)
    return _digest(tx, index, script_code, amount, hash_type, shared)


def signature_hashes(tx: Tx, spent: Sequence[tuple[bytes, int]]) -> list[bytes]:
    """The SIGHASH_ALL digests of every input, from its (script code, amount). BIP143's
    shared hashes (hashPrevouts, hashSequence, hashOutputs) are computed once for all of them,
    so that signing n inputs costs O(n), not O(n^2)."""
    if len(spent) != len(tx.inputs):
        raise ValueError("one (script code, amount) per input")
    shared = (_hash_prevouts(tx), _hash_sequences(tx), _hash_outputs(tx))
    return [
        _digest(tx, index, script_code, amount, SIGHASH_ALL, shared)
        for index, (script_code, amount) in enumerate(spent)
    ]


def _hash_prevouts(tx: Tx) -> bytes:
    return double_sha256(b"".join(txin.outpoint for txin in tx.inputs))


def _hash_sequences(tx: Tx) -> bytes:
    return double_sha256(b"".join(_u32(txin.sequence) for txin in tx.inputs))


def _hash_outputs(tx: Tx) -> bytes:
    return double_sha256(b"".join(txout.serialize() for txout in tx.outputs))


def _digest(
    tx: Tx,
    index: int,
    script_code: bytes,
    amount: int,
    hash_type: int,
    shared: tuple[bytes, bytes, bytes],
) -> bytes:
    prevouts, sequences, outputs = shared
    txin = tx.inputs[index]
    preimage = b"".join(
        [
            _u32(tx.version),
            prevouts,
            sequences,
            txin.outpoint,
            var_bytes(script_code),
            amount.to_bytes(8, "little"),
            _u32(txin.sequence),
            outputs,
            _u32(tx.locktime),
            _u32(hash_type),
        ]
    )
    return double_sha256(preimage)


def sign(digest: bytes, private_key: coincurve.PrivateKey) -> bytes:
    """DER signature + SIGHASH_ALL byte. libsecp256k1 signs with RFC 6979 nonces and low S:
    the same digest and key always give the same bytes."""
    return private_key.sign(digest, hasher=None) + bytes([SIGHASH_ALL])


def verify(signature: bytes, digest: bytes, public_key: bytes) -> bool:
    """A witness signature (DER + sighash byte) over `digest` by `public_key`."""
    try:
        return coincurve.PublicKey(public_key).verify(signature[:-1], digest, hasher=None)
    except (ValueError, TypeError):
        return False


def estimated_vsize(tx: Tx, witnesses: list[tuple[int, bool, bytes]]) -> int:
    """Virtual size of `tx` once signed: per input (m, is_deposit, witness script).

    The finished witness of a federation input is: a dummy empty item (CHECKMULTISIG's
    off-by-one), m signatures of at most MAX_SIGNATURE_BYTES, 0x01 for a deposit script's IF
    branch, and the witness script. Signatures can be shorter, so this is an upper bound,
    by at most a few bytes per signature.
    """
    witness_bytes = 2  # segwit marker and flag
    for m, is_deposit, script in witnesses:
        items = 1 + m + (1 if is_deposit else 0) + 1
        witness_bytes += len(compact_size(items)) + 1  # item count, the empty dummy
        witness_bytes += m * (1 + MAX_SIGNATURE_BYTES)
        witness_bytes += 2 if is_deposit else 0
        witness_bytes += len(var_bytes(script))
    weight = 4 * len(tx.raw) + witness_bytes
    return (weight + 3) // 4


def double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def var_bytes(data: bytes) -> bytes:
    return compact_size(len(data)) + data


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def _read_input(reader: _Reader, script_limit: int) -> TxIn:
    txid = reader.take(32)[::-1].hex()
    vout = reader.uint(4)
    script_sig = reader.take(reader.count(0, 1, limit=script_limit))
    return TxIn(txid, vout, script_sig, reader.uint(4))


def _read_output(reader: _Reader, script_limit: int) -> TxOut:
    amount = reader.uint(8)
    if amount > MAX_MONEY:
        raise TxError("an output pays more than all bitcoins")
    return TxOut(amount, reader.take(reader.count(0, 1, limit=script_limit)))


class _Reader:
    """Reads the transaction's bytes front to back; TxError at the first thing out of place.
    The hot path of every request (each input's previous transaction is read too)."""

    _WIDTHS = {0xFD: 2, 0xFE: 4, 0xFF: 8}
    _SMALLEST = {2: 0xFD, 4: 0x10000, 8: 0x100000000}  # below these, a shorter form exists

    def __init__(self, data: bytes):
        self._data = data
        self._position = 0

    def take(self, size: int) -> bytes:
        end = self._position + size
        if end > len(self._data):
            raise TxError("the transaction ends early")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def skip(self, size: int) -> None:
        end = self._position + size
        if end > len(self._data):
            raise TxError("the transaction ends early")
        self._position = end

    def uint(self, size: int) -> int:
        end = self._position + size
        if end > len(self._data):
            raise TxError("the transaction ends early")
        value = int.from_bytes(self._data[self._position : end], "little")
        self._position = end
        return value

    def count(self, minimum: int, item_bytes: int, *, limit: int = MAX_TX_BYTES) -> int:
        """A canonical CompactSize in [minimum, limit] whose items can still fit in the data."""
        first = self.uint(1)
        width = self._WIDTHS.get(first)
        n = first if width is None else self.uint(width)
        if width is not None and n < self._SMALLEST[width]:
            raise TxError("a non-canonical CompactSize")
        if not minimum <= n <= limit or n * item_bytes > len(self._data) - self._position:
            raise TxError("a count out of range")
        return n

    def at_end(self) -> bool:
        return self._position == len(self._data)
