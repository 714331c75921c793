"""A lean parse of raw Bitcoin blocks: the header, every transaction output and, on request,
the inputs spending watched outpoints; nothing else.

The deposit listener reads every output of every block. python-bitcoinlib's CBlock.deserialize
builds full objects (inputs, scripts, witnesses) and manages ~25,000 outputs/s on one core; this
parser walks the bytes once through a memoryview, skips inputs (but for a set lookup of their
outpoints when asked) and witnesses, and hashes the non-witness serialization (version, inputs,
outputs, locktime) for the txid. It remembers where those bytes lie for the transactions whose
outputs it keeps (Block.tx_bytes), so that the listener copies only the deposits' transactions.
tests/sidechains/test_bitcoin_blocks.py checks it against python-bitcoinlib on bcoin's blocks
and on generated ones. Pure Python; imports nothing from Django.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container
from typing import NamedTuple

HEADER_SIZE = 80
# Smallest possible encodings, used to refuse counts that cannot fit in what is left.
MIN_INPUT_SIZE = 41  # outpoint 36, empty script 1, sequence 4
MIN_OUTPUT_SIZE = 9  # value 8, empty script 1


class BlockParseError(ValueError):
    """The bytes are not a well-formed block."""


class Output(NamedTuple):
    txid: str  # hex, in the usual (reversed) display order
    vout: int
    value: int  # satoshi
    script_pubkey: bytes


class Spend(NamedTuple):
    txid: str  # the spending transaction, hex, display order
    prev_txid: str  # the outpoint it spends, hex, display order
    prev_vout: int


class Block(NamedTuple):
    hash: str  # hex, display order
    prev_hash: str
    tx_count: int
    outputs: list[Output]
    spends: list[Spend] = []  # only the inputs of parse_block's `watch`; never mutated
    raw: bytes = b""
    # txid -> where a transaction holding a kept output lies in `raw`: (start, end), or for a
    # segwit one (start, inputs, witnesses, locktime, end); never mutated
    spans: dict[str, tuple[int, ...]] = {}

    def tx_bytes(self, txid: str) -> bytes:
        """A transaction holding a kept output, serialized without witnesses: the bytes its
        txid hashes (a coin's previous transaction, for the signers)."""
        span = self.spans[txid]
        if len(span) == 2:
            return self.raw[span[0] : span[1]]
        start, body, body_end, locktime, end = span  # version, [marker, flag], body, ...
        return self.raw[start : start + 4] + self.raw[body:body_end] + self.raw[locktime:end]


def outpoint_key(txid: str, vout: int) -> bytes:
    """An outpoint as it is serialized in an input (txid in internal order, vout LE): what
    parse_block's `watch` holds."""
    return bytes.fromhex(txid)[::-1] + vout.to_bytes(4, "little")


def parse_block(
    raw: bytes,
    keep: Callable[[bytes], bool] | None = None,
    watch: Container[bytes] | None = None,
) -> Block:
    """The block's header hashes and its outputs in block order.

    With `keep`, only the outputs whose script it accepts are returned, and only the
    transactions holding one are hashed (the listener keeps outputs shaped like deposits).
    With `watch` (outpoint_key()s), the inputs spending one of them are returned as spends,
    and their transactions hashed (the listener watches uncredited deposits).
    """
    view = memoryview(raw)
    if len(view) <= HEADER_SIZE:
        raise BlockParseError(f"A block is longer than its header; got {len(view)} bytes.")
    try:
        tx_count, pos = _count(view, HEADER_SIZE, MIN_INPUT_SIZE)
        outputs: list[Output] = []
        spends: list[Spend] = []
        spans: dict[str, tuple[int, ...]] = {}
        for _ in range(tx_count):
            pos = _read_transaction(view, pos, outputs, keep, spends, watch, spans)
    except IndexError:
        raise BlockParseError("The block ends in the middle of a transaction.") from None
    if pos != len(view):
        raise BlockParseError(f"The transactions end at byte {pos}, the block at {len(view)}.")
    header = view[:HEADER_SIZE]
    block_hash, prev_hash = _display_hex(_sha256d(header)), _display_hex(header[4:36])
    return Block(block_hash, prev_hash, tx_count, outputs, spends, raw, spans)


def parse_transaction(raw: bytes, keep: Callable[[bytes], bool] | None = None) -> list[Output]:
    """The (kept) outputs of one raw transaction, as parse_block reads them (the mempool
    watcher reads transactions that are in no block yet)."""
    view = memoryview(raw)
    outputs: list[Output] = []
    try:
        end = _read_transaction(view, 0, outputs, keep, [], None, {})
    except IndexError:
        raise BlockParseError("The transaction ends too early.") from None
    if end != len(view):
        raise BlockParseError(f"The transaction ends at byte {end}, its bytes at {len(view)}.")
    return outputs


def parse_header(raw: bytes) -> tuple[str, str]:
    """(hash, previous block's hash) of a raw block or header, without reading the rest."""
    header = memoryview(raw)[:HEADER_SIZE]
    if len(header) < HEADER_SIZE:
        raise BlockParseError(f"A block header has {HEADER_SIZE} bytes; got {len(header)}.")
    return _display_hex(_sha256d(header)), _display_hex(header[4:36])


# The loops below read one-byte varints (almost every length) inline: this is the hot path.


def _read_transaction(
    view: memoryview,
    start: int,
    outputs: list[Output],
    keep: Callable[[bytes], bool] | None,
    spends: list[Spend],
    watch: Container[bytes] | None,
    spans: dict[str, tuple[int, ...]],
) -> int:
    """Append the transaction's (kept) outputs and (watched) spends, and the byte ranges of a
    transaction with kept outputs; return where the next transaction starts."""
    # Long because it is the hot path: one inline walk over every input, output and witness of
    # every block (bench.listener); helper calls per item would slow it measurably.
    pos = start + 4  # version
    segwit = view[pos] == 0  # BIP144 marker: no valid transaction has zero inputs
    if segwit:
        if view[pos + 1] != 1:
            raise BlockParseError(f"Unknown segwit flag {view[pos + 1]} at byte {pos + 1}.")
        pos += 2
    body = pos
    n_inputs, pos = _count(view, pos, MIN_INPUT_SIZE)
    spent: list[bytes] = []
    for _ in range(n_inputs):
        if watch is not None:
            outpoint = view[pos : pos + 36].tobytes()
            if outpoint in watch:
                spent.append(outpoint)
        length = view[pos + 36]  # outpoint, then the script's length
        if length < 0xFD:
            pos += 41 + length  # + sequence
        else:
            length, pos = _varint(view, pos + 36)
            pos += length + 4
    found, pos = _read_outputs(view, pos, keep)
    body_end = pos
    if segwit:
        for _ in range(n_inputs):
            pos = _skip_witness(view, pos)
    end = pos + 4  # locktime
    if end > len(view):
        raise IndexError
    if found or spent:
        if segwit:
            txid = _sha256d(view[start : start + 4], view[body:body_end], view[pos:end])
        else:
            txid = _sha256d(view[start:end])
        txid_hex = _display_hex(txid)
        if found:  # where its non-witness serialization lies: around the marker and witnesses
            spans[txid_hex] = (start, body, body_end, pos, end) if segwit else (start, end)
        outputs.extend(Output(txid_hex, n, value, script) for n, value, script in found)
        spends.extend(
            Spend(txid_hex, _display_hex(o[:32]), int.from_bytes(o[32:], "little")) for o in spent
        )
    return end


def _read_outputs(
    view: memoryview, pos: int, keep: Callable[[bytes], bool] | None
) -> tuple[list[tuple[int, int, bytes]], int]:
    n_outputs, pos = _count(view, pos, MIN_OUTPUT_SIZE)
    found: list[tuple[int, int, bytes]] = []
    for n in range(n_outputs):
        length = view[pos + 8]  # after the value
        if length < 0xFD:
            script_at = pos + 9
        else:
            length, script_at = _varint(view, pos + 8)
        script = view[script_at : script_at + length].tobytes()
        if keep is None or keep(script):
            found.append((n, int.from_bytes(view[pos : pos + 8], "little"), script))
        pos = script_at + length
    return found, pos


def _skip_witness(view: memoryview, pos: int) -> int:
    n_items, pos = _varint(view, pos)
    for _ in range(n_items):
        length = view[pos]
        if length < 0xFD:
            pos += 1 + length
        else:
            length, pos = _varint(view, pos)
            pos += length
    return pos


def _count(view: memoryview, pos: int, min_item_size: int) -> tuple[int, int]:
    count, pos = _varint(view, pos)
    if count * min_item_size > len(view) - pos:
        raise BlockParseError(f"A count of {count} at byte {pos} cannot fit in the block.")
    return count, pos


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    first = view[pos]
    if first < 0xFD:
        return first, pos + 1
    size = 2 if first == 0xFD else 4 if first == 0xFE else 8
    if pos + 1 + size > len(view):
        raise IndexError
    return int.from_bytes(view[pos + 1 : pos + 1 + size], "little"), pos + 1 + size


def _sha256d(*parts: memoryview) -> bytes:
    inner = hashlib.sha256()
    for part in parts:
        inner.update(part)
    return hashlib.sha256(inner.digest()).digest()


def _display_hex(digest: bytes | memoryview) -> str:
    return bytes(digest)[::-1].hex()
