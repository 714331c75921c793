"""Accounts of the dev chain: balances, authorities, and their JSON forms.

An account spec (the --accounts file, debug_node_api.debug_create_account) looks like
    {"name": "alice", "balance": "100.000 HIVE", "hbd_balance": "5.000 HBD",
     "key": "STM...", "active": {"weight_threshold": 2, "account_auths": [],
     "key_auths": [["STM...", 1], ["STM...", 1], ["STM...", 1]]}}
"key" stands for owner, active, posting and memo key at once; explicit ones override it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from devnode.hive import errors
from devnode.hive.protocol import (
    Asset,
    Authority,
    ProtocolError,
    format_time,
    is_valid_account_name,
    parse_time,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ROLES = ("owner", "active", "posting")


@dataclasses.dataclass(frozen=True)
class Account:
    id: int
    name: str
    owner: Authority
    active: Authority
    posting: Authority
    memo_key: str
    created: dt.datetime
    json_metadata: str = ""
    balance: int = 0  # HIVE in 0.001
    hbd_balance: int = 0  # HBD in 0.001
    last_account_update: dt.datetime = EPOCH
    last_owner_update: dt.datetime = EPOCH

    def balance_of(self, symbol: str) -> int:
        return self.balance if symbol == "HIVE" else self.hbd_balance

    def with_balance(self, symbol: str, amount: int) -> Account:
        if symbol == "HIVE":
            return dataclasses.replace(self, balance=amount)
        return dataclasses.replace(self, hbd_balance=amount)


def account_from_spec(spec: Any, *, account_id: int, created: dt.datetime) -> Account:
    """An account from a spec; a HiveError naming the problem if the spec is not valid."""
    try:
        return _account_from_spec(spec, account_id, created)
    except ProtocolError as exc:
        raise errors.assertion("valid account spec", str(exc)) from exc


def _account_from_spec(spec: Any, account_id: int, created: dt.datetime) -> Account:
    if not isinstance(spec, dict) or not is_valid_account_name(spec.get("name", "")):
        raise ProtocolError(f"an account spec needs a valid Hive account name: {spec!r}")
    default = Authority.single_key(spec["key"]) if "key" in spec else None
    roles = {role: _authority(spec, role, default) for role in ROLES}
    memo_key = spec.get("memo_key", spec.get("key"))
    if memo_key is None:
        raise ProtocolError(f"account {spec['name']} needs a key or a memo_key")
    return Account(
        id=account_id,
        name=spec["name"],
        memo_key=Authority.single_key(memo_key).key_auths[0][0],
        created=parse_time(spec["created"]) if "created" in spec else created,
        json_metadata=str(spec.get("json_metadata", "")),
        balance=_balance(spec, "balance", "HIVE"),
        hbd_balance=_balance(spec, "hbd_balance", "HBD"),
        owner=roles["owner"],
        active=roles["active"],
        posting=roles["posting"],
    )


def _authority(spec: dict[str, Any], role: str, default: Authority | None) -> Authority:
    if role in spec:
        return Authority.from_json(spec[role])
    if default is None:
        raise ProtocolError(f"account {spec['name']} needs a key or a {role} authority")
    return default


def _balance(spec: dict[str, Any], field: str, symbol: str) -> int:
    if field not in spec:
        return 0
    asset = Asset.from_json(spec[field])
    if asset.symbol != symbol or asset.amount < 0:
        raise ProtocolError(f"{field} must be a non-negative amount of {symbol}")
    return asset.amount


def account_to_spec(account: Account) -> dict[str, Any]:
    """The spec that recreates this account as it is (the state file stores it)."""
    shown = account_to_json(account, legacy=True)
    fields = (*ROLES, "name", "memo_key", "json_metadata", "created", "balance", "hbd_balance")
    return {field: shown[field] for field in fields}


def account_to_json(account: Account, *, legacy: bool) -> dict[str, Any]:
    """As condenser_api.get_accounts (legacy) or database_api.find_accounts shows it."""
    vests = {"amount": "0", "precision": 6, "nai": "@@000000037"}
    zero_vests = "0.000000 VESTS" if legacy else vests
    return {
        "id": account.id,
        "name": account.name,
        **{role: getattr(account, role).to_json() for role in ROLES},
        "memo_key": account.memo_key,
        "json_metadata": account.json_metadata,
        "posting_json_metadata": "",
        "created": format_time(account.created),
        "last_account_update": format_time(account.last_account_update),
        "last_owner_update": format_time(account.last_owner_update),
        "balance": Asset(account.balance, "HIVE").to_json(legacy=legacy),
        "hbd_balance": Asset(account.hbd_balance, "HBD").to_json(legacy=legacy),
        "savings_balance": Asset(0, "HIVE").to_json(legacy=legacy),
        "savings_hbd_balance": Asset(0, "HBD").to_json(legacy=legacy),
        "vesting_shares": zero_vests,
    }
