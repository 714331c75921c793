"""The operations the dev node evaluates, with hived's checks and messages.

validate() is the stateless check (hived's operation::validate), apply() the evaluator: it reads
and replaces accounts in a state dict, raising a HiveError that leaves the caller's state alone
as long as the caller applies a transaction to a copy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable

from devnode.hive import errors
from devnode.hive.accounts import Account
from devnode.hive.protocol import (
    AccountUpdate,
    Authority,
    Operation,
    Transfer,
    is_valid_account_name,
)

MAX_MEMO_SIZE = 2048
OWNER_UPDATE_LIMIT = dt.timedelta(hours=1)

State = dict[str, Account]


def validate(op: Operation) -> None:
    if isinstance(op, Transfer):
        _validate_transfer(op)
    else:
        _validate_account_update(op)


def _validate_transfer(op: Transfer) -> None:
    _check_name(op.from_account)
    _check_name(op.to)
    if op.amount.amount <= 0:
        raise errors.assertion(
            "amount.amount > 0", "Cannot transfer a negative amount (aka: stealing)"
        )
    if len(op.memo.encode("utf-8")) >= MAX_MEMO_SIZE:
        raise errors.assertion("memo.size() < HIVE_MAX_MEMO_SIZE", "Memo is too large")


def _validate_account_update(op: AccountUpdate) -> None:
    _check_name(op.account)
    if op.json_metadata:
        try:
            json.loads(op.json_metadata)
        except ValueError as exc:
            raise errors.assertion(
                "fc::json::is_valid(json_metadata)", "JSON Metadata not valid JSON"
            ) from exc


def _check_name(name: str) -> None:
    if not is_valid_account_name(name):
        raise errors.assertion("is_valid_account_name( name )", f"Account name {name} is invalid")


def required_authorities(operations: Iterable[Operation]) -> tuple[list[str], list[str]]:
    """(accounts whose active authority is required, accounts whose owner authority is)."""
    active: dict[str, None] = {}
    owner: dict[str, None] = {}
    for op in operations:
        if isinstance(op, Transfer):
            active[op.from_account] = None
        elif op.owner is not None:
            owner[op.account] = None
        else:
            active[op.account] = None
    return sorted(active), sorted(owner)


def get_account(state: State, name: str) -> Account:
    account = state.get(name)
    if account is None:
        raise errors.assertion("_account != nullptr", f"Account {name} doesn't exist")
    return account


def apply(op: Operation, state: State, now: dt.datetime) -> None:
    if isinstance(op, Transfer):
        _apply_transfer(op, state)
    else:
        _apply_account_update(op, state, now)


def _apply_transfer(op: Transfer, state: State) -> None:
    sender = get_account(state, op.from_account)
    get_account(state, op.to)
    symbol = op.amount.symbol
    if sender.balance_of(symbol) < op.amount.amount:
        raise errors.assertion(
            "_db.get_balance( from_account, o.amount.symbol ) >= o.amount",
            "Account does not have sufficient funds for transfer.",
        )
    state[sender.name] = sender.with_balance(symbol, sender.balance_of(symbol) - op.amount.amount)
    receiver = state[op.to]
    state[receiver.name] = receiver.with_balance(
        symbol, receiver.balance_of(symbol) + op.amount.amount
    )


def _apply_account_update(op: AccountUpdate, state: State, now: dt.datetime) -> None:
    account = get_account(state, op.account)
    changes: dict[str, object] = {"memo_key": op.memo_key, "last_account_update": now}
    if op.owner is not None:
        _check_owner_update(op.owner, account, now)
        _check_accounts_exist(op.owner, "owner", state)
        changes.update(owner=op.owner, last_owner_update=now)
    for role in ("active", "posting"):
        authority = getattr(op, role)
        if authority is not None:
            _check_accounts_exist(authority, role, state)
            changes[role] = authority
    if op.json_metadata:
        changes["json_metadata"] = op.json_metadata
    state[account.name] = dataclasses.replace(account, **changes)  # type: ignore[arg-type]


def _check_owner_update(owner: Authority, account: Account, now: dt.datetime) -> None:
    if now - account.last_owner_update <= OWNER_UPDATE_LIMIT:
        raise errors.assertion(
            "_db.head_block_time() - account_auth.last_owner_update > HIVE_OWNER_UPDATE_LIMIT",
            "Owner authority can only be updated once an hour.",
        )
    if owner.is_impossible():
        raise errors.assertion(
            "!o.owner->is_impossible()", "Cannot set owner authority to an impossible threshold."
        )


def _check_accounts_exist(authority: Authority, role: str, state: State) -> None:
    for name, _ in authority.account_auths:
        if name not in state:
            raise errors.assertion(
                "acc != nullptr", f"Account '{name}' in {role} authority does not exist"
            )
