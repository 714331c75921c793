"""Keys, accounts and transactions for the Hive tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

import coincurve

from chains.hive.rpc import HiveRPC
from devnode.hive import keys
from devnode.hive.protocol import Operation, Transaction, parse_time, transaction_to_json
from devnode.hive.transactions import build_transaction, sign_transaction
from tests.hive_node import HiveDevNode

_serial = itertools.count(1)


def private_key(name: str) -> coincurve.PrivateKey:
    """A fixed test key per name (never use such keys outside tests)."""
    return coincurve.PrivateKey(hashlib.sha256(f"hive test key {name}".encode()).digest())


def public_key(name: str) -> str:
    return keys.public_key_of(private_key(name))


def multisig(threshold: int, *key_names: str) -> dict[str, Any]:
    key_auths = [[public_key(name), 1] for name in key_names]
    return {"weight_threshold": threshold, "account_auths": [], "key_auths": key_auths}


def new_account(node: HiveDevNode, prefix: str, **spec: Any) -> str:
    """A fresh account on the node; its key is private_key(<its name>) unless spec says."""
    name = f"{prefix}-{next(_serial)}"
    spec.setdefault("key", public_key(name))
    node.create_account(name, **spec)
    return name


def unsigned(
    rpc: HiveRPC, *operations: Operation, expires_in: dt.timedelta = dt.timedelta(seconds=60)
) -> Transaction:
    """A transaction referring to the node's head block, expiring relative to its time."""
    head = rpc.get_dynamic_global_properties()
    return build_transaction(
        operations,
        head_block_id=head["head_block_id"],
        head_block_time=parse_time(head["time"]),
        expires_in=expires_in,
    )


def signed(tx: Transaction, chain_id: str, *key_names: str) -> Transaction:
    return sign_transaction(tx, [private_key(name) for name in key_names], chain_id)


def broadcast(rpc: HiveRPC, tx: Transaction) -> None:
    rpc.broadcast_transaction(transaction_to_json(tx))


def balance(rpc: HiveRPC, name: str, field: str = "balance") -> int:
    [account] = rpc.get_accounts([name])
    return int(account[field]["amount"])


def head_block_num(rpc: HiveRPC) -> int:
    return int(rpc.get_dynamic_global_properties()["head_block_number"])
