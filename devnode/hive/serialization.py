"""Hive's binary serialization (fc::raw::pack) of the transactions the bridge builds.

Integers are little-endian, lengths are unsigned LEB128 varints, strings are UTF-8 with a
length, optionals are a 0/1 byte before the value. An asset is int64 amount, uint8 precision and
the 7-byte legacy symbol name: Hive kept Steem's names in the binary form, so HIVE is packed as
"STEEM" and HBD as "SBD".
"""

from __future__ import annotations

import calendar
import struct

from devnode.hive import keys
from devnode.hive.protocol import AccountUpdate, Asset, Authority, Operation, Transaction

_BINARY_SYMBOL = {"HIVE": b"STEEM", "HBD": b"SBD"}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pack_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return varint(len(data)) + data


def pack_asset(asset: Asset) -> bytes:
    name = _BINARY_SYMBOL[asset.symbol].ljust(7, b"\0")
    return struct.pack("<qB", asset.amount, 3) + name


def pack_authority(authority: Authority) -> bytes:
    out = struct.pack("<I", authority.weight_threshold)
    out += varint(len(authority.account_auths))
    for name, weight in authority.account_auths:
        out += pack_string(name) + struct.pack("<H", weight)
    out += varint(len(authority.key_auths))
    for key, weight in authority.key_auths:
        out += keys.public_key_from_str(key) + struct.pack("<H", weight)
    return out


def pack_operation(op: Operation) -> bytes:
    if isinstance(op, AccountUpdate):
        body = _pack_account_update(op)
    else:
        body = pack_string(op.from_account) + pack_string(op.to)
        body += pack_asset(op.amount) + pack_string(op.memo)
    return varint(op.OP_ID) + body


def _pack_account_update(op: AccountUpdate) -> bytes:
    out = pack_string(op.account)
    for authority in (op.owner, op.active, op.posting):
        out += b"\0" if authority is None else b"\1" + pack_authority(authority)
    return out + keys.public_key_from_str(op.memo_key) + pack_string(op.json_metadata)


def pack_transaction(tx: Transaction, *, with_signatures: bool = False) -> bytes:
    """The transaction as hived packs it; the id and the signing digest exclude signatures."""
    expiration = calendar.timegm(tx.expiration.utctimetuple())
    out = struct.pack("<HII", tx.ref_block_num, tx.ref_block_prefix, expiration)
    out += varint(len(tx.operations))
    for op in tx.operations:
        out += pack_operation(op)
    out += varint(0)  # extensions
    if with_signatures:
        out += varint(len(tx.signatures)) + b"".join(tx.signatures)
    return out
