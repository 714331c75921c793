"""The dev chain: accounts, pending transactions, blocks, and the indexes the API reads.

As in hived, a broadcast transaction is checked and applied to the pending state at once (the
API shows that state), and the next block re-applies the pending transactions in order on the
last block's state, dropping those that expired or no longer apply. Irreversibility is a fixed
lag: last_irreversible_block_num = head - irreversible_lag.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import coincurve

from devnode.hive import authority, errors, keys, operations
from devnode.hive.accounts import Account, account_from_spec
from devnode.hive.protocol import Operation, Transaction, format_time
from devnode.hive.serialization import pack_string, pack_transaction, varint
from devnode.hive.transactions import (
    MAX_TIME_UNTIL_EXPIRATION,
    is_canonical,
    recover_public_key,
    reference_block,
    sign_digest,
    transaction_digest,
    transaction_id,
)

DEV_CHAIN_ID = "ecfb378905ff220794288e624ad9564bb9c3d81b43315ca16912d181a1ee0019"
BLOCK_INTERVAL = dt.timedelta(seconds=3)
WITNESS = "initminer"
WITNESS_KEY = coincurve.PrivateKey(hashlib.sha256(b"sonportal hive devnode initminer").digest())
NULL_BLOCK_ID = "00" * 20
TAPOS_RANGE = 0x10000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    num: int
    block_id: str
    previous: str
    timestamp: dt.datetime
    merkle_root: str
    witness_signature: str
    transactions: tuple[Transaction, ...]
    transaction_ids: tuple[str, ...]


@dataclass(frozen=True)
class HistoryEntry:
    block: int
    trx_id: str
    trx_in_block: int
    op_in_trx: int
    timestamp: dt.datetime
    op: Operation


@dataclass(frozen=True)
class PendingTransaction:
    trx_id: str
    tx: Transaction
    signing_keys: tuple[str, ...]


State = dict[str, Account]
Listener = Callable[[str, Any], None]


class Chain:
    def __init__(
        self,
        *,
        chain_id: str = DEV_CHAIN_ID,
        irreversible_lag: int = 20,
        genesis_time: dt.datetime | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain_id = chain_id
        self.irreversible_lag = irreversible_lag
        self.clock = clock
        self.genesis_time = genesis_time or _whole_seconds(clock())
        self.lock = threading.RLock()
        self.listeners: list[Listener] = []
        self.blocks: list[Block] = []
        self.accounts: State = {}  # as of the head block
        self.state: State = {}  # with the pending transactions applied; what the API shows
        self.pending: list[PendingTransaction] = []
        self._tx_index: dict[str, tuple[int, int]] = {}
        self._history: dict[str, list[HistoryEntry]] = {}

    # Head and irreversibility

    @property
    def head_block_num(self) -> int:
        return len(self.blocks)

    @property
    def head_block_id(self) -> str:
        return self.blocks[-1].block_id if self.blocks else NULL_BLOCK_ID

    @property
    def head_block_time(self) -> dt.datetime:
        return self.blocks[-1].timestamp if self.blocks else self.genesis_time

    @property
    def last_irreversible_block_num(self) -> int:
        return max(0, self.head_block_num - self.irreversible_lag)

    # Accounts

    def create_account(self, spec: Any) -> Account:
        with self.lock:
            name = spec.get("name") if isinstance(spec, dict) else None
            if name in self.state:
                raise errors.assertion("account == nullptr", f"Account {name} already exists")
            account = account_from_spec(
                spec, account_id=len(self.state), created=self.head_block_time
            )
            self.restore_account(account)
            return account

    def restore_account(self, account: Account) -> None:
        with self.lock:
            self.accounts[account.name] = account
            self.state[account.name] = account
            self._notify("account", account)

    # Transactions

    def push_transaction(self, tx: Transaction) -> str:
        """Check a transaction as hived does and add it to the pending ones; its id."""
        _validate(tx)
        trx_id = transaction_id(tx)
        signing_keys = self._signing_keys(tx)
        with self.lock:
            self._check_duplicate(trx_id)
            if self.blocks:  # hived skips expiration and TaPoS before the first block
                self._check_expiration(tx)
                self._check_tapos(tx)
            self.state = self._evaluate(tx, signing_keys, self.state, self.head_block_time)
            self.pending.append(PendingTransaction(trx_id, tx, signing_keys))
        log.info("accepted transaction %s", trx_id)
        return trx_id

    def _signing_keys(self, tx: Transaction) -> tuple[str, ...]:
        digest = transaction_digest(tx, self.chain_id)
        found: list[str] = []
        for signature in tx.signatures:
            key = _recover(signature, digest)
            if key in found:
                raise errors.duplicate_signature()
            found.append(key)
        return tuple(found)

    def _check_duplicate(self, trx_id: str) -> None:
        # hived forgets an included transaction once it expires; then it fails as expired.
        location = self._tx_index.get(trx_id)
        remembered = location is not None and (
            self.blocks[location[0] - 1].transactions[location[1]].expiration
            >= self.head_block_time
        )
        if remembered or any(p.trx_id == trx_id for p in self.pending):
            raise errors.assertion(
                "trx_idx.indices().get<by_trx_id>().find(trx_id) == "
                "trx_idx.indices().get<by_trx_id>().end()",
                "Duplicate transaction check failed",
            )

    def _check_expiration(self, tx: Transaction) -> None:
        now, expiration = self.head_block_time, tx.expiration
        if expiration > now + MAX_TIME_UNTIL_EXPIRATION:
            raise errors.expired(
                "trx.expiration <= now + fc::seconds(HIVE_MAX_TIME_UNTIL_EXPIRATION): expiration "
                f"{format_time(expiration)} is too far in the future (head block time "
                f"{format_time(now)}, at most 3600 s ahead)"
            )
        if not now < expiration:
            raise errors.expired(
                f"now < trx.expiration: transaction expired at {format_time(expiration)} "
                f"(head block time {format_time(now)})"
            )

    def _check_tapos(self, tx: Transaction) -> None:
        block = self._tapos_block(tx.ref_block_num)
        expected = reference_block(block.block_id)[1] if block else 0
        if tx.ref_block_prefix != expected:
            raise errors.tapos(
                "trx.ref_block_prefix == tapos_block_summary.block_id._hash[1]: "
                f"ref_block_prefix {tx.ref_block_prefix} does not match the block with "
                f"ref_block_num {tx.ref_block_num} (expected {expected})"
            )

    def _tapos_block(self, ref_block_num: int) -> Block | None:
        """The latest block whose number's low 16 bits are ref_block_num (hived's summary)."""
        num = self.head_block_num - (self.head_block_num - ref_block_num) % TAPOS_RANGE
        return self.blocks[num - 1] if num >= 1 else None

    def _evaluate(
        self, tx: Transaction, signing_keys: Iterable[str], state: State, now: dt.datetime
    ) -> State:
        """The state after the transaction; a HiveError leaves the given state untouched."""
        active, owner = operations.required_authorities(tx.operations)
        authority.verify_authority(
            required_active=active,
            required_owner=owner,
            signing_keys=signing_keys,
            get_active=lambda name: operations.get_account(state, name).active,
            get_owner=lambda name: operations.get_account(state, name).owner,
        )
        result = dict(state)
        for op in tx.operations:
            operations.apply(op, result, now)
        return result

    # Blocks

    def produce_block(self) -> Block:
        """The next block, with the pending transactions that still apply. Its time is the
        wall clock, but at least one block interval after the head block's."""
        with self.lock:
            timestamp = max(_whole_seconds(self.clock()), self.head_block_time + BLOCK_INTERVAL)
            state = dict(self.accounts)
            included = []
            for pending in self.pending:
                after = self._include(pending, state, timestamp)
                if after is not None:
                    state = after
                    included.append(pending)
            block = self._make_block(timestamp, included)
            self.restore_block(block, state)
            return block

    def generate_blocks(self, count: int) -> list[Block]:
        with self.lock:
            return [self.produce_block() for _ in range(count)]

    def _include(
        self, pending: PendingTransaction, state: State, timestamp: dt.datetime
    ) -> State | None:
        if pending.tx.expiration < timestamp:
            log.warning("dropped transaction %s: expired", pending.trx_id)
            return None
        try:
            return self._evaluate(pending.tx, pending.signing_keys, state, timestamp)
        except errors.HiveError as exc:
            log.warning("dropped transaction %s: %s", pending.trx_id, exc.message)
            return None

    def _make_block(self, timestamp: dt.datetime, included: list[PendingTransaction]) -> Block:
        transactions = tuple(p.tx for p in included)
        merkle = merkle_root(transactions)
        header = bytes.fromhex(self.head_block_id) + struct.pack("<I", int(timestamp.timestamp()))
        header += pack_string(WITNESS) + merkle + varint(0)
        signature = sign_digest(hashlib.sha256(header).digest(), WITNESS_KEY)
        num = self.head_block_num + 1
        block_id = num.to_bytes(4, "big") + hashlib.sha224(header + signature).digest()[4:20]
        return Block(
            num=num,
            block_id=block_id.hex(),
            previous=self.head_block_id,
            timestamp=timestamp,
            merkle_root=merkle.hex(),
            witness_signature=signature.hex(),
            transactions=transactions,
            transaction_ids=tuple(p.trx_id for p in included),
        )

    def restore_block(self, block: Block, state: State | None = None) -> None:
        """Append a block. Without a state (replaying the state file) its operations are
        applied as they are: they were checked when the block was made."""
        with self.lock:
            if block.num != self.head_block_num + 1 or block.previous != self.head_block_id:
                raise ValueError(f"block {block.num} does not follow the head block")
            if state is None:
                state = dict(self.accounts)
                for tx in block.transactions:
                    for op in tx.operations:
                        operations.apply(op, state, block.timestamp)
            self.blocks.append(block)
            self.accounts = self.state = state
            self.pending = []
            self._index(block)
            self._notify("block", block)

    def _index(self, block: Block) -> None:
        pairs = zip(block.transaction_ids, block.transactions, strict=True)
        for trx_in_block, (trx_id, tx) in enumerate(pairs):
            self._tx_index[trx_id] = (block.num, trx_in_block)
            for op_in_trx, op in enumerate(tx.operations):
                entry = HistoryEntry(
                    block.num, trx_id, trx_in_block, op_in_trx, block.timestamp, op
                )
                for name in dict.fromkeys(op.accounts()):
                    self._history.setdefault(name, []).append(entry)

    def _notify(self, kind: str, item: Any) -> None:
        for listener in self.listeners:
            listener(kind, item)

    # Queries

    def get_block(self, num: int) -> Block | None:
        with self.lock:
            return self.blocks[num - 1] if 1 <= num <= self.head_block_num else None

    def find_transaction(self, trx_id: str) -> tuple[Block, int] | None:
        with self.lock:
            location = self._tx_index.get(trx_id)
            return None if location is None else (self.blocks[location[0] - 1], location[1])

    def account_history(self, name: str, *, include_reversible: bool) -> list[HistoryEntry]:
        with self.lock:
            entries = self._history.get(name, [])
            if include_reversible:
                return list(entries)
            last_irreversible = self.last_irreversible_block_num
            return [entry for entry in entries if entry.block <= last_irreversible]


def _validate(tx: Transaction) -> None:
    if not tx.operations:
        raise errors.assertion(
            "operations.size() > 0", "A transaction must have at least one operation"
        )
    for op in tx.operations:
        operations.validate(op)


def _recover(signature: bytes, digest: bytes) -> str:
    if not is_canonical(signature):
        raise errors.assertion("is_canonical( c )", "signature is not canonical")
    try:
        return recover_public_key(signature, digest)
    except ValueError as exc:
        raise errors.assertion("nV >= 27 && nV < 35", str(exc)) from exc


def merkle_root(transactions: Iterable[Transaction]) -> bytes:
    """hived's transaction_merkle_root: sha256 of each signed transaction, paired up with
    sha256 until one is left, then RIPEMD-160 of it; twenty zero bytes for no transactions."""
    digests = [
        hashlib.sha256(pack_transaction(tx, with_signatures=True)).digest() for tx in transactions
    ]
    if not digests:
        return bytes(20)
    while len(digests) > 1:
        paired = [
            hashlib.sha256(digests[i] + digests[i + 1]).digest()
            for i in range(0, len(digests) - 1, 2)
        ]
        digests = paired + digests[len(digests) - len(digests) % 2 :]
    return keys.ripemd160(digests[0])


def _whole_seconds(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)
