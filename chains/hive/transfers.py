"""Transfers in Hive blocks, as block_api returns them, and the portal's deposit memo format.

Amounts stay integers of the asset's smallest unit (0.001 HIVE or HBD): the appbase form gives
{"amount": "1000", "precision": 3, "nai": "@@000000021"}, which is read without a float.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Asset ids on Hive (NAIs) and the symbols the portal knows them by; both have 3 decimals.
NAI_SYMBOLS = {"@@000000021": "HIVE", "@@000000013": "HBD"}
PRECISION = 3
# The memo that routes a deposit to a portal account: "to:<username>" (docs/hive.md). Django's
# usernames are at most 150 of letters, digits and @.+-_; Hive memos are at most 2047 bytes.
MEMO_PREFIX = "to:"
_MEMO_ROUTE = re.compile(r"to:([\w.@+-]{1,150})", re.ASCII)


class BlockFormatError(ValueError):
    """A block the node answered is not in the shape block_api documents."""


@dataclass(frozen=True)
class Transfer:
    block_num: int
    timestamp: str
    trx_id: str
    op_index: int
    sender: str
    to: str
    asset: str  # "HIVE", "HBD", or the NAI (and precision) of anything else
    amount: int
    memo: str


def block_num_of(block: dict[str, Any]) -> int:
    """A block id's first 4 bytes are its number, big-endian."""
    return int(str(block["block_id"])[:8], 16)


def transfers_to(block: dict[str, Any], account: str) -> Iterator[Transfer]:
    """The transfer operations to `account` in a block, in order."""
    try:
        num = block_num_of(block)
        ids = block["transaction_ids"]
        for trx_id, trx in zip(ids, block["transactions"], strict=True):
            for index, op in enumerate(trx["operations"]):
                if op["type"] == "transfer_operation" and op["value"]["to"] == account:
                    yield _transfer(num, block["timestamp"], trx_id, index, op["value"])
    except (KeyError, TypeError, ValueError) as e:
        raise BlockFormatError(f"unexpected block shape: {e!r}") from e


def _transfer(num: int, timestamp: str, trx_id: str, index: int, value: dict[str, Any]) -> Transfer:
    amount = value["amount"]
    nai, precision = amount["nai"], int(amount["precision"])
    symbol = NAI_SYMBOLS.get(nai) if precision == PRECISION else None
    return Transfer(
        block_num=num,
        timestamp=timestamp,
        trx_id=trx_id,
        op_index=index,
        sender=value["from"],
        to=value["to"],
        asset=symbol or f"{nai}/{precision}",
        amount=int(amount["amount"]),
        memo=value.get("memo", ""),
    )


def memo_for(username: str) -> str:
    return MEMO_PREFIX + username


def memo_username(memo: str) -> str | None:
    """The portal username a deposit memo names, or None if the memo is not of our format."""
    text = memo.strip()
    match = _MEMO_ROUTE.fullmatch(text) if len(text) <= 160 else None
    return match.group(1) if match else None


def is_encrypted(memo: str) -> bool:
    """Hive encrypts a memo that starts with "#"; only the memo key's holder can read it."""
    return memo.startswith("#")
