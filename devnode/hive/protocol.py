"""Hive protocol objects (assets, authorities, operations, transactions) and their JSON forms.

Two JSON dialects exist and both are read: the legacy one of condenser_api (amounts as
"1.000 HIVE", operations as ["transfer", {...}]) and the appbase one of database_api,
block_api and network_broadcast_api (amounts as {"amount": "1000", "precision": 3,
"nai": "@@000000021"}, operations as {"type": "transfer_operation", "value": {...}}).
Only the operations the bridge uses are modelled: transfer and account_update.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from devnode.hive import keys

PRECISION = 3
NAI = {"HIVE": "@@000000021", "HBD": "@@000000013"}
SYMBOL_OF_NAI = {nai: symbol for symbol, nai in NAI.items()}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_UINT16 = 0xFFFF
MAX_UINT32 = 0xFFFFFFFF
_LEGACY_AMOUNT = re.compile(r"^(-?)(\d+)\.(\d{3}) (HIVE|HBD)$")


class ProtocolError(ValueError):
    """A value that is not a well-formed Hive protocol object."""


class UnsupportedOperation(ProtocolError):
    """A real Hive operation that this package does not model."""


# Account names and times


def is_valid_account_name(name: str) -> bool:
    """Hive's rule: 3 to 16 characters; dot-separated labels of at least 3 characters, each
    starting with a letter, ending with a letter or digit, with letters, digits and hyphens."""
    if not isinstance(name, str) or not 3 <= len(name) <= 16:
        return False
    return all(_is_valid_label(label) for label in name.split("."))


def _is_valid_label(label: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", label)) and len(label) >= 3


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TIME_FORMAT)


def parse_time(text: Any) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.UTC)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"not a time in {TIME_FORMAT} form: {text!r}") from exc


# Assets


@dataclass(frozen=True)
class Asset:
    """An amount of HIVE or HBD in thousandths (0.001), the chain's base unit for both."""

    amount: int
    symbol: str

    def __post_init__(self) -> None:
        if self.symbol not in NAI:
            raise ProtocolError(f"unknown asset symbol {self.symbol!r}")

    @classmethod
    def from_json(cls, value: Any) -> Asset:
        if isinstance(value, str):
            return cls._from_legacy(value)
        if isinstance(value, dict):
            return cls._from_nai(value)
        raise ProtocolError(f"not an asset: {value!r}")

    @classmethod
    def _from_legacy(cls, text: str) -> Asset:
        match = _LEGACY_AMOUNT.match(text)
        if match is None:
            raise ProtocolError(f"not a legacy asset like '1.000 HIVE': {text!r}")
        sign, whole, fraction, symbol = match.groups()
        amount = int(whole) * 1000 + int(fraction)
        return cls(-amount if sign else amount, symbol)

    @classmethod
    def _from_nai(cls, value: dict[str, Any]) -> Asset:
        symbol = SYMBOL_OF_NAI.get(value.get("nai", ""))
        if symbol is None or str(value.get("precision")) != str(PRECISION):
            raise ProtocolError(f"unknown asset {value!r}")
        try:
            amount = int(value["amount"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"asset amount is not an integer: {value!r}") from exc
        return cls(amount, symbol)

    def to_legacy(self) -> str:
        sign = "-" if self.amount < 0 else ""
        whole, fraction = divmod(abs(self.amount), 1000)
        return f"{sign}{whole}.{fraction:03d} {self.symbol}"

    def to_nai(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "precision": PRECISION, "nai": NAI[self.symbol]}

    def to_json(self, *, legacy: bool) -> Any:
        return self.to_legacy() if legacy else self.to_nai()


# Authorities


@dataclass(frozen=True)
class Authority:
    """weight_threshold and weighted keys/accounts, sorted as hived's flat_map keeps them."""

    weight_threshold: int
    account_auths: tuple[tuple[str, int], ...] = ()
    key_auths: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "account_auths", _sorted_unique(self.account_auths, str))
        object.__setattr__(
            self, "key_auths", _sorted_unique(self.key_auths, keys.public_key_from_str)
        )

    @classmethod
    def single_key(cls, public_key: str) -> Authority:
        return cls(1, (), ((public_key, 1),))

    @classmethod
    def from_json(cls, value: Any) -> Authority:
        if not isinstance(value, dict):
            raise ProtocolError(f"not an authority: {value!r}")
        threshold = _uint(value.get("weight_threshold"), MAX_UINT32, "weight_threshold")
        accounts = tuple(_weighted(pair, _account_name) for pair in value.get("account_auths", []))
        key_auths = tuple(_weighted(pair, _public_key) for pair in value.get("key_auths", []))
        return cls(threshold, accounts, key_auths)

    def to_json(self) -> dict[str, Any]:
        return {
            "weight_threshold": self.weight_threshold,
            "account_auths": [[name, weight] for name, weight in self.account_auths],
            "key_auths": [[key, weight] for key, weight in self.key_auths],
        }

    def is_impossible(self) -> bool:
        weights = [w for _, w in self.account_auths] + [w for _, w in self.key_auths]
        return sum(weights) < self.weight_threshold


def _sorted_unique(pairs: Any, sort_key: Any) -> tuple[tuple[Any, int], ...]:
    """Like inserting into a flat_map: sorted, and the first of equal keys wins."""
    unique: dict[Any, tuple[Any, int]] = {}
    for name, weight in pairs:
        unique.setdefault(name, (name, weight))
    return tuple(sorted(unique.values(), key=lambda pair: sort_key(pair[0])))


def _weighted(pair: Any, parse: Any) -> tuple[Any, int]:
    if not (isinstance(pair, list | tuple) and len(pair) == 2):
        raise ProtocolError(f"not a [name or key, weight] pair: {pair!r}")
    return parse(pair[0]), _uint(pair[1], MAX_UINT16, "weight")


def _account_name(value: Any) -> str:
    if not is_valid_account_name(value):
        raise ProtocolError(f"invalid account name {value!r}")
    return value


def _public_key(value: Any) -> str:
    try:
        keys.public_key_from_str(value)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"invalid public key {value!r}: {exc}") from exc
    return value


def _uint(value: Any, maximum: int, what: str) -> int:
    """An integer field; like fc's variant conversion, a string of digits is accepted too."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ProtocolError(f"{what} must be an integer from 0 to {maximum}: {value!r}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string: {value!r}")
    return value


# Operations


@dataclass(frozen=True)
class Transfer:
    NAME = "transfer"
    OP_ID = 2

    from_account: str
    to: str
    amount: Asset
    memo: str = ""

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Transfer:
        return cls(
            from_account=_text(value.get("from"), "from"),
            to=_text(value.get("to"), "to"),
            amount=Asset.from_json(value.get("amount")),
            memo=_text(value.get("memo", ""), "memo"),
        )

    def to_json(self, *, legacy: bool) -> dict[str, Any]:
        return {
            "from": self.from_account,
            "to": self.to,
            "amount": self.amount.to_json(legacy=legacy),
            "memo": self.memo,
        }

    def accounts(self) -> tuple[str, ...]:
        return (self.from_account, self.to)


@dataclass(frozen=True)
class AccountUpdate:
    NAME = "account_update"
    OP_ID = 10

    account: str
    memo_key: str
    owner: Authority | None = None
    active: Authority | None = None
    posting: Authority | None = None
    json_metadata: str = ""

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AccountUpdate:
        return cls(
            account=_text(value.get("account"), "account"),
            memo_key=_public_key(value.get("memo_key")),
            owner=_optional_authority(value.get("owner")),
            active=_optional_authority(value.get("active")),
            posting=_optional_authority(value.get("posting")),
            json_metadata=_text(value.get("json_metadata", ""), "json_metadata"),
        )

    def to_json(self, *, legacy: bool) -> dict[str, Any]:
        result: dict[str, Any] = {"account": self.account}
        for role in ("owner", "active", "posting"):
            authority = getattr(self, role)
            if authority is not None:
                result[role] = authority.to_json()
        result.update(memo_key=self.memo_key, json_metadata=self.json_metadata)
        return result

    def accounts(self) -> tuple[str, ...]:
        return (self.account,)


Operation = Transfer | AccountUpdate
OPERATION_TYPES: dict[str, type[Transfer] | type[AccountUpdate]] = {
    Transfer.NAME: Transfer,
    AccountUpdate.NAME: AccountUpdate,
}


def _optional_authority(value: Any) -> Authority | None:
    return None if value is None else Authority.from_json(value)


def operation_from_json(value: Any) -> Operation:
    """An operation in either dialect: ["transfer", {...}] or {"type": "transfer_operation"...}."""
    if isinstance(value, list | tuple) and len(value) == 2:
        name, body = value
    elif isinstance(value, dict) and isinstance(value.get("type"), str):
        name, body = value["type"].removesuffix("_operation"), value.get("value")
    else:
        raise ProtocolError(f"not an operation: {value!r}")
    op_type = OPERATION_TYPES.get(name)
    if op_type is None:
        raise UnsupportedOperation(f"operation {name!r} is not supported")
    if not isinstance(body, dict):
        raise ProtocolError(f"{name} operation body must be an object")
    return op_type.from_json(body)


def operation_to_json(op: Operation, *, legacy: bool) -> Any:
    if legacy:
        return [op.NAME, op.to_json(legacy=True)]
    return {"type": f"{op.NAME}_operation", "value": op.to_json(legacy=False)}


# Transactions


@dataclass(frozen=True)
class Transaction:
    ref_block_num: int
    ref_block_prefix: int
    expiration: dt.datetime
    operations: tuple[Operation, ...]
    signatures: tuple[bytes, ...] = field(default=())

    def with_signatures(self, signatures: tuple[bytes, ...]) -> Transaction:
        return Transaction(
            self.ref_block_num, self.ref_block_prefix, self.expiration, self.operations, signatures
        )


def transaction_from_json(value: Any) -> Transaction:
    if not isinstance(value, dict):
        raise ProtocolError("a transaction must be an object")
    if value.get("extensions"):
        raise ProtocolError("transaction extensions are not supported")
    operations = value.get("operations")
    if not isinstance(operations, list):
        raise ProtocolError("operations must be a list")
    return Transaction(
        ref_block_num=_uint(value.get("ref_block_num"), MAX_UINT16, "ref_block_num"),
        ref_block_prefix=_uint(value.get("ref_block_prefix"), MAX_UINT32, "ref_block_prefix"),
        expiration=parse_time(value.get("expiration")),
        operations=tuple(operation_from_json(op) for op in operations),
        signatures=tuple(_signature(sig) for sig in value.get("signatures", [])),
    )


def transaction_to_json(tx: Transaction, *, legacy: bool = False) -> dict[str, Any]:
    return {
        "ref_block_num": tx.ref_block_num,
        "ref_block_prefix": tx.ref_block_prefix,
        "expiration": format_time(tx.expiration),
        "operations": [operation_to_json(op, legacy=legacy) for op in tx.operations],
        "extensions": [],
        "signatures": [sig.hex() for sig in tx.signatures],
    }


def _signature(value: Any) -> bytes:
    try:
        signature = bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"signature is not hex: {value!r}") from exc
    if len(signature) != 65:
        raise ProtocolError(f"a signature is 65 bytes, not {len(signature)}")
    return signature
