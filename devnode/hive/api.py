"""The JSON-RPC methods: a subset of hived's APIs, each in its own dialect, and debug_node_api.

condenser_api.* takes positional params and answers in the legacy dialect ("1.000 HIVE",
["transfer", {...}]); database_api, block_api, account_history_api and network_broadcast_api
take named params and answer in the appbase dialect (NAI amounts, {"type": ..., "value": ...}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devnode.hive import errors, keys
from devnode.hive.accounts import Account, account_to_json
from devnode.hive.authority import (
    MAX_AUTHORITY_MEMBERSHIP,
    MAX_SIG_CHECK_ACCOUNTS,
    MAX_SIG_CHECK_DEPTH,
)
from devnode.hive.chain import WITNESS, WITNESS_KEY, Block, Chain, HistoryEntry
from devnode.hive.operations import MAX_MEMO_SIZE
from devnode.hive.protocol import (
    NAI,
    Asset,
    ProtocolError,
    UnsupportedOperation,
    format_time,
    operation_to_json,
    transaction_from_json,
    transaction_to_json,
)

Handler = Callable[[Chain, Any], Any]
METHODS: dict[str, Handler] = {}
QUERY_LIMIT = 1000


def api_method(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            METHODS[name] = handler
        return handler

    return register


def call(chain: Chain, method: str, params: Any) -> Any:
    handler = METHODS.get(method)
    if handler is None:
        raise errors.method_not_found(method)
    return handler(chain, params)


# Parameters


def _args(params: Any, count: int, optional: int = 0) -> list[Any]:
    """condenser_api's positional arguments, padded with None for missing optional ones."""
    params = [] if params is None else params
    if not isinstance(params, list):
        raise errors.invalid_params("condenser_api takes its parameters as an array")
    if not count <= len(params) <= count + optional:
        raise errors.assertion(
            f"args.size() == {count}", f"Expected {count} argument(s), was {len(params)}"
        )
    return params + [None] * (count + optional - len(params))


def _named(params: Any, *required: str) -> dict[str, Any]:
    params = {} if params in (None, []) else params
    if not isinstance(params, dict):
        raise errors.invalid_params("this API takes its parameters as an object")
    missing = [name for name in required if name not in params]
    if missing:
        raise errors.invalid_params(f"missing parameter(s): {', '.join(missing)}")
    return params


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise errors.invalid_params(f"{what} must be an integer")
    try:
        return int(value)
    except ValueError as exc:
        raise errors.invalid_params(f"{what} must be an integer") from exc


# Global properties and configuration


@api_method("condenser_api.get_dynamic_global_properties")
def _condenser_dynamic_global_properties(chain: Chain, params: Any) -> dict[str, Any]:
    _args(params, 0)
    return dynamic_global_properties(chain, legacy=True)


@api_method("database_api.get_dynamic_global_properties")
def _database_dynamic_global_properties(chain: Chain, params: Any) -> dict[str, Any]:
    _named(params)
    return dynamic_global_properties(chain, legacy=False)


def dynamic_global_properties(chain: Chain, *, legacy: bool) -> dict[str, Any]:
    with chain.lock:
        hive = sum(account.balance for account in chain.state.values())
        hbd = sum(account.hbd_balance for account in chain.state.values())
        return {
            "id": 0,
            "head_block_number": chain.head_block_num,
            "head_block_id": chain.head_block_id,
            "time": format_time(chain.head_block_time),
            "current_witness": WITNESS,
            "current_supply": Asset(hive, "HIVE").to_json(legacy=legacy),
            "current_hbd_supply": Asset(hbd, "HBD").to_json(legacy=legacy),
            "maximum_block_size": 65536,
            "last_irreversible_block_num": chain.last_irreversible_block_num,
        }


@api_method("condenser_api.get_config", "database_api.get_config")
def _get_config(chain: Chain, params: Any) -> dict[str, Any]:
    return {
        "IS_TEST_NET": False,
        "HIVE_CHAIN_ID": chain.chain_id,
        "HIVE_ADDRESS_PREFIX": keys.ADDRESS_PREFIX,
        "HIVE_BLOCK_INTERVAL": 3,
        "HIVE_MAX_TIME_UNTIL_EXPIRATION": 3600,
        "HIVE_MAX_MEMO_SIZE": MAX_MEMO_SIZE,
        "HIVE_MAX_SIG_CHECK_DEPTH": MAX_SIG_CHECK_DEPTH,
        "HIVE_MAX_AUTHORITY_MEMBERSHIP": MAX_AUTHORITY_MEMBERSHIP,
        "HIVE_MAX_SIG_CHECK_ACCOUNTS": MAX_SIG_CHECK_ACCOUNTS,
        "HIVE_SYMBOL": {"nai": NAI["HIVE"], "decimals": 3},
        "HBD_SYMBOL": {"nai": NAI["HBD"], "decimals": 3},
    }


@api_method("condenser_api.get_version", "database_api.get_version")
def _get_version(chain: Chain, params: Any) -> dict[str, Any]:
    return {
        "blockchain_version": "1.27.0",
        "hive_revision": "devnode",
        "fc_revision": "devnode",
        "chain_id": chain.chain_id,
        "node_type": "devnode",
    }


@api_method("jsonrpc.get_methods")
def _get_methods(chain: Chain, params: Any) -> list[str]:
    return sorted(METHODS)


# Accounts


@api_method("condenser_api.get_accounts")
def _condenser_get_accounts(chain: Chain, params: Any) -> list[dict[str, Any]]:
    names, _delayed_votes_active = _args(params, 1, optional=1)
    return [account_to_json(account, legacy=True) for account in _find_accounts(chain, names)]


@api_method("database_api.find_accounts")
def _database_find_accounts(chain: Chain, params: Any) -> dict[str, Any]:
    names = _named(params, "accounts")["accounts"]
    found = _find_accounts(chain, names)
    return {"accounts": [account_to_json(account, legacy=False) for account in found]}


def _find_accounts(chain: Chain, names: Any) -> list[Account]:
    """The accounts that exist, in the order asked; unknown names are left out, as hived does."""
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise errors.invalid_params("accounts must be an array of account names")
    if len(names) > QUERY_LIMIT:
        raise errors.assertion(
            "args.accounts.size() <= DATABASE_API_SINGLE_QUERY_LIMIT",
            f"at most {QUERY_LIMIT} accounts per call",
        )
    with chain.lock:
        return [chain.state[name] for name in names if name in chain.state]


# Blocks


@api_method("condenser_api.get_block")
def _condenser_get_block(chain: Chain, params: Any) -> dict[str, Any] | None:
    (num,) = _args(params, 1)
    block = chain.get_block(_integer(num, "block_num"))
    return None if block is None else block_to_json(block, legacy=True)


@api_method("block_api.get_block")
def _block_api_get_block(chain: Chain, params: Any) -> dict[str, Any]:
    num = _named(params, "block_num")["block_num"]
    block = chain.get_block(_integer(num, "block_num"))
    return {} if block is None else {"block": block_to_json(block, legacy=False)}


# hived's block_api refuses a range of more than 1000 blocks.
MAX_BLOCK_RANGE = 1000


@api_method("block_api.get_block_range")
def _block_api_get_block_range(chain: Chain, params: Any) -> dict[str, Any]:
    named = _named(params, "starting_block_num", "count")
    start = _integer(named["starting_block_num"], "starting_block_num")
    count = _integer(named["count"], "count")
    if not 0 < count <= MAX_BLOCK_RANGE:
        raise errors.assertion(
            f"count <= {MAX_BLOCK_RANGE}",
            f"You can only ask for {MAX_BLOCK_RANGE} blocks at a time",
        )
    blocks = []
    for num in range(max(start, 1), start + count):
        block = chain.get_block(num)
        if block is None:
            break
        blocks.append(block_to_json(block, legacy=False))
    return {"blocks": blocks}


def block_to_json(block: Block, *, legacy: bool) -> dict[str, Any]:
    transactions = [transaction_to_json(tx, legacy=legacy) for tx in block.transactions]
    if legacy:  # condenser_api repeats each transaction's id and position in the block
        for index, (tx, trx_id) in enumerate(zip(transactions, block.transaction_ids, strict=True)):
            tx.update(transaction_id=trx_id, block_num=block.num, transaction_num=index)
    return {
        "previous": block.previous,
        "timestamp": format_time(block.timestamp),
        "witness": WITNESS,
        "transaction_merkle_root": block.merkle_root,
        "extensions": [],
        "witness_signature": block.witness_signature,
        "transactions": transactions,
        "block_id": block.block_id,
        "signing_key": keys.public_key_of(WITNESS_KEY),
        "transaction_ids": list(block.transaction_ids),
    }


# Transactions


@api_method("condenser_api.broadcast_transaction")
def _condenser_broadcast(chain: Chain, params: Any) -> dict[str, Any]:
    (trx,) = _args(params, 1)
    _push(chain, trx)
    return {}


@api_method("network_broadcast_api.broadcast_transaction")
def _network_broadcast(chain: Chain, params: Any) -> dict[str, Any]:
    # max_block_age guards against broadcasting through a node that is behind; the dev
    # node never is, so it is accepted and has no effect.
    _push(chain, _named(params, "trx")["trx"])
    return {}


def _push(chain: Chain, trx: Any) -> str:
    try:
        tx = transaction_from_json(trx)
    except UnsupportedOperation as exc:
        raise errors.unsupported(f"{exc} by the dev node") from exc
    except ProtocolError as exc:
        raise errors.parse_error(str(exc)) from exc
    return chain.push_transaction(tx)


@api_method("condenser_api.get_transaction")
def _condenser_get_transaction(chain: Chain, params: Any) -> dict[str, Any]:
    (trx_id,) = _args(params, 1)
    return _transaction(chain, trx_id, legacy=True, include_reversible=True)


@api_method("account_history_api.get_transaction")
def _history_get_transaction(chain: Chain, params: Any) -> dict[str, Any]:
    args = _named(params, "id")
    reversible = bool(args.get("include_reversible", False))
    return _transaction(chain, args["id"], legacy=False, include_reversible=reversible)


def _transaction(
    chain: Chain, trx_id: Any, *, legacy: bool, include_reversible: bool
) -> dict[str, Any]:
    found = chain.find_transaction(trx_id) if isinstance(trx_id, str) else None
    if found and not include_reversible and found[0].num > chain.last_irreversible_block_num:
        found = None
    if found is None:
        raise errors.assertion("false", f"Unknown Transaction {trx_id}")
    block, index = found
    result = transaction_to_json(block.transactions[index], legacy=legacy)
    result.update(transaction_id=trx_id, block_num=block.num, transaction_num=index)
    return result


# Account history


@api_method("account_history_api.get_account_history")
def _get_account_history(chain: Chain, params: Any) -> dict[str, Any]:
    args = _named(params, "account")
    if args.get("operation_filter_low") or args.get("operation_filter_high"):
        raise errors.unsupported("operation filters are not supported by the dev node")
    entries = chain.account_history(
        str(args["account"]), include_reversible=bool(args.get("include_reversible", False))
    )
    start = _integer(args.get("start", -1), "start")
    limit = _integer(args.get("limit", QUERY_LIMIT), "limit")
    page = _page(entries, start, limit)
    return {"history": [[seq, history_entry_json(entries[seq])] for seq in page]}


def _page(entries: list[HistoryEntry], start: int, limit: int) -> range:
    """Sequence numbers start-limit+1 .. start (0-based; start -1 means the newest)."""
    if not 0 < limit <= QUERY_LIMIT:
        raise errors.assertion(
            "args.limit <= 1000", f"limit of {limit} is greater than maxmimum allowed"
        )
    if 0 <= start < limit - 1:
        raise errors.assertion(
            "args.start >= args.limit-1",
            "start must be greater than or equal to limit-1 (start is 0-based index)",
        )
    last = len(entries) - 1 if start < 0 else min(start, len(entries) - 1)
    return range(max(0, last - limit + 1), last + 1)


def history_entry_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "trx_id": entry.trx_id,
        "block": entry.block,
        "trx_in_block": entry.trx_in_block,
        "op_in_trx": entry.op_in_trx,
        "virtual_op": False,
        "timestamp": format_time(entry.timestamp),
        "op": operation_to_json(entry.op, legacy=False),
        "operation_id": 0,
    }


# debug_node_api: dev node only, like bitcoind's generatetoaddress on regtest


@api_method("debug_node_api.debug_generate_blocks")
def _debug_generate_blocks(chain: Chain, params: Any) -> dict[str, Any]:
    args = _named(params, "count")
    count = _integer(args["count"], "count")
    if not 0 <= count <= 10_000:
        raise errors.invalid_params("count must be from 0 to 10000")
    if args.get("miss_blocks"):
        raise errors.unsupported("miss_blocks is not supported by the dev node")
    chain.generate_blocks(count)
    return {"blocks": count}


@api_method("debug_node_api.debug_create_account")
def _debug_create_account(chain: Chain, params: Any) -> dict[str, Any]:
    account = chain.create_account(_named(params, "name"))
    return {"account": account_to_json(account, legacy=False)}
