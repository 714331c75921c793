"""The state file: an append-only log of the chain, one JSON object per line.

The first line is {"genesis": {"chain_id", "time"}}, then {"account": spec} for every account
created outside transactions and {"block": ...} for every block, in order. Starting with an
existing file replays it (operations are applied without re-checking signatures: they were
checked when the block was made); pending transactions are not kept, as in hived.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from devnode.hive.accounts import Account, account_from_spec, account_to_spec
from devnode.hive.chain import Block, Chain
from devnode.hive.protocol import (
    format_time,
    parse_time,
    transaction_from_json,
    transaction_to_json,
)

log = logging.getLogger(__name__)


def load_chain(path: Path, *, irreversible_lag: int, clock: Callable[[], float]) -> Chain:
    """The chain recorded in the state file, or a new chain if there is no file yet."""
    if not path.exists():
        return Chain(irreversible_lag=irreversible_lag, clock=clock)
    events = _read_events(path)
    genesis = events[0]["genesis"]
    chain = Chain(
        chain_id=genesis["chain_id"],
        genesis_time=parse_time(genesis["time"]),
        irreversible_lag=irreversible_lag,
        clock=clock,
    )
    for event in events[1:]:
        _replay(chain, event)
    log.info("replayed %s: head block %d", path, chain.head_block_num)
    return chain


def _read_events(path: Path) -> list[dict[str, Any]]:
    """The file's events. A last record cut short by a crash is cut off the file."""
    data = path.read_bytes()
    complete, _, tail = data.rpartition(b"\n")
    if tail:
        log.warning("%s: dropping an incomplete last record", path)
        with open(path, "r+b") as file:
            file.truncate(len(complete) + 1 if complete else 0)
    events = [json.loads(line) for line in complete.split(b"\n") if line]
    if not events or "genesis" not in events[0]:
        raise ValueError(f"{path} is not a hive devnode state file")
    return events


def _replay(chain: Chain, event: dict[str, Any]) -> None:
    if "account" in event:
        spec = event["account"]
        created = parse_time(spec["created"])
        chain.restore_account(account_from_spec(spec, account_id=len(chain.state), created=created))
    elif "block" in event:
        chain.restore_block(block_from_json(event["block"]))
    else:
        raise ValueError(f"unknown state file record {sorted(event)}")


class Journal:
    """Appends every new account and block of a chain to its state file."""

    def __init__(self, path: Path, chain: Chain) -> None:
        is_new = not path.exists() or path.stat().st_size == 0
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        if is_new:
            genesis = {"chain_id": chain.chain_id, "time": format_time(chain.genesis_time)}
            self._write({"genesis": genesis})
        chain.listeners.append(self.record)

    def record(self, kind: str, item: Account | Block) -> None:
        if isinstance(item, Account):
            self._write({"account": account_to_spec(item)})
        else:
            self._write({"block": block_to_json(item)})

    def _write(self, event: dict[str, Any]) -> None:
        self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def block_to_json(block: Block) -> dict[str, Any]:
    return {
        "num": block.num,
        "block_id": block.block_id,
        "previous": block.previous,
        "timestamp": format_time(block.timestamp),
        "merkle_root": block.merkle_root,
        "witness_signature": block.witness_signature,
        "transactions": [transaction_to_json(tx, legacy=True) for tx in block.transactions],
        "transaction_ids": list(block.transaction_ids),
    }


def block_from_json(value: dict[str, Any]) -> Block:
    return Block(
        num=value["num"],
        block_id=value["block_id"],
        previous=value["previous"],
        timestamp=parse_time(value["timestamp"]),
        merkle_root=value["merkle_root"],
        witness_signature=value["witness_signature"],
        transactions=tuple(transaction_from_json(tx) for tx in value["transactions"]),
        transaction_ids=tuple(value["transaction_ids"]),
    )
