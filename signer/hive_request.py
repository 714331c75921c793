"""The Hive signing request: its strict format (docs/signing-requests.md, "Hive").

Every key is required and no other is allowed; sizes are checked before anything is decoded.
A malformed request is refused with MALFORMED and a detail, never partly read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from signer import hive

MALFORMED = "MALFORMED"
UNKNOWN_VERSION = "UNKNOWN_VERSION"
WRONG_CHAIN = "WRONG_CHAIN"

VERSION = 1
MAX_WITHDRAWALS = 100
MAX_MEMO = 2047
_KEYS = {
    "id",
    "version",
    "chain",
    "chain_id",
    "ref_block_num",
    "ref_block_prefix",
    "reference_time",
    "expiration",
    "operations",
    "trx_id",
    "withdrawals",
}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_LEGACY_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,15})\.([0-9]{3}) (HIVE|HBD)")
MAX_AMOUNT = 10**15  # 10^12 HIVE: far beyond any supply


class HiveRequestError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class HiveWithdrawal:
    id: str
    account: str
    amount: int
    asset: str


@dataclass(frozen=True)
class HiveRequest:
    id: str
    chain_id: str
    reference_time: dt.datetime
    transaction: hive.HiveTransaction  # as the request states it
    trx_id: str
    withdrawals: tuple[HiveWithdrawal, ...]


def parse(document: object) -> HiveRequest:
    doc = object_with(document, _KEYS, "request")
    if doc["chain"] != "hive":
        raise HiveRequestError(WRONG_CHAIN, f"chain {str(doc['chain'])[:16]!r} is not hive")
    if doc["version"] != VERSION or isinstance(doc["version"], bool):
        raise HiveRequestError(UNKNOWN_VERSION, "this signer reads Hive request version 1")
    ops = _list(doc["operations"], "operations", MAX_WITHDRAWALS)
    tx = hive.HiveTransaction(
        ref_block_num=to_int(doc["ref_block_num"], "ref_block_num", 0xFFFF),
        ref_block_prefix=to_int(doc["ref_block_prefix"], "ref_block_prefix", 0xFFFFFFFF),
        expiration=parse_time(doc["expiration"], "expiration"),
        transfers=tuple(_operation(op) for op in ops),
    )
    items = _list(doc["withdrawals"], "withdrawals", MAX_WITHDRAWALS)
    return HiveRequest(
        id=match(doc["id"], _ID, "id"),
        chain_id=match(doc["chain_id"], _HEX64, "chain_id"),
        reference_time=parse_time(doc["reference_time"], "reference_time"),
        transaction=tx,
        trx_id=match(doc["trx_id"], _HEX40, "trx_id"),
        withdrawals=tuple(_withdrawal(item) for item in items),
    )


def _operation(value: object) -> hive.HiveTransfer:
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
        raise HiveRequestError(MALFORMED, "an operation is [name, body]")
    if value[0] != "transfer":
        # Not malformed: a well-formed request for something a withdrawal never needs.
        return hive.HiveTransfer("", "", 0, f"op:{value[0][:32]}", "")
    body = object_with(value[1], {"from", "to", "amount", "memo"}, "transfer")
    amount = match(body["amount"], _LEGACY_AMOUNT, "amount")
    found = _LEGACY_AMOUNT.fullmatch(amount)
    assert found is not None
    return hive.HiveTransfer(
        sender=_text(body["from"], "from", 16),
        to=_text(body["to"], "to", 16),
        amount=int(found.group(1)) * 1000 + int(found.group(2)),
        symbol=found.group(3),
        memo=_text(body["memo"], "memo", MAX_MEMO),
    )


def _withdrawal(value: object) -> HiveWithdrawal:
    item = object_with(value, {"id", "account", "amount", "asset"}, "withdrawal")
    return HiveWithdrawal(
        id=match(item["id"], _ID, "withdrawal id"),
        account=_text(item["account"], "account", 16),
        amount=to_int(item["amount"], "amount", MAX_AMOUNT),
        asset=_text(item["asset"], "asset", 8),
    )


def object_with(value: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise HiveRequestError(MALFORMED, f"a {what} has exactly the keys {sorted(keys)}")
    return value


def _list(value: object, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        raise HiveRequestError(MALFORMED, f"{what} is a list of 1 to {limit} items")
    return value


def to_int(value: object, what: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise HiveRequestError(MALFORMED, f"{what} is an integer in 0..{maximum}")
    return value


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise HiveRequestError(MALFORMED, f"{what} is a string of at most {limit} characters")
    return value


def match(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or len(value) > 160 or not pattern.fullmatch(value):
        raise HiveRequestError(MALFORMED, f"{what} is not in its format")
    return value


def parse_time(value: object, what: str) -> dt.datetime:
    text = match(value, _TIME, what)
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError as e:
        raise HiveRequestError(MALFORMED, f"{what} is not a time") from e
