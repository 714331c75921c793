"""What the signer benchmark signs and what it seeds its journal with.

Requests are built like the signer's tests build them (tests/signer/withdrawals.py: scripts from
mappings.chains, transactions from python-bitcoinlib), each with new coins and withdrawal ids so
that none repeats or conflicts with another.

Seeding writes rows straight into the journal's tables, shaped as record_intent and
record_signatures write them (a transaction, its request with signatures, its outpoints bound to
amount and script, its payouts and their minute's sum), in one SQLite transaction with
synchronous=OFF: 100,000 requests take seconds instead of the minutes that signing them would.
Seeded requests spend SEED_INPUTS outpoints and pay SEED_PAYOUTS withdrawals each, with times
spread evenly over the SEED_DAYS before now, so that the last 24 h hold a share of them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from datetime import datetime
from itertools import count
from pathlib import Path

from chains.bitcoin.addresses import hash160, segwit_address
from chains.bitcoin.federation import deposit_witness_script
from signer.journal import Journal
from tests.signer.withdrawals import (
    NETWORK,
    SON_KEYS,
    TIMELOCK,
    WALLET_SCRIPT,
    Draft,
    coin,
    pubkey,
    secret,
)

SEED_INPUTS = 5
SEED_PAYOUTS = 10
SEED_DAYS = 30
_PAYEES = [segwit_address(0, hash160(pubkey(secret(f"payee {n}"))), NETWORK) for n in range(64)]
_USERS = [pubkey(secret(f"depositor {n}")) for n in range(64)]


class Requests:
    """Fresh signing requests, none spending a coin or paying a withdrawal of another."""

    def __init__(self, inputs: int, withdrawals: int) -> None:
        self.inputs, self.withdrawals = inputs, withdrawals
        self._numbers = count()

    def make(self) -> dict:
        n = next(self._numbers)
        coins = tuple(self._coin(n, i) for i in range(self.inputs))
        payouts = tuple(
            (f"w-{n}-{i}", _PAYEES[i % len(_PAYEES)], 100_000 + i) for i in range(self.withdrawals)
        )
        # 2 sat/vB on a generous estimate of the signed size: well inside the signer's limits
        fee = 2 * (200 * self.inputs + 40 * self.withdrawals)
        return Draft(id=f"bench-{n}", coins=coins, withdrawals=payouts, fee=fee).request()

    def _coin(self, n: int, i: int):
        if i % 2 == 0:
            return coin(f"bench {n} {i}", 1_000_000, WALLET_SCRIPT)
        user = _USERS[(n * self.inputs + i) % len(_USERS)]
        script = deposit_witness_script(SON_KEYS, user, TIMELOCK)
        return coin(f"bench {n} {i}", 1_000_000, script, vout=1)


def seed(path: Path, start: int, stop: int, now: datetime) -> None:
    """Seeded requests number `start` to `stop - 1`, in the journal at `path`."""
    Journal(path).close()  # its schema
    window = SEED_DAYS * 86_400
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        for n in range(start, stop):
            _seed_one(db, n, now.timestamp() - window + window * n / max(stop, 1))
        db.execute("COMMIT")
    finally:
        db.close()


def _seed_one(db: sqlite3.Connection, n: int, at: float) -> None:
    txid = hashlib.sha256(f"seeded tx {n}".encode()).hexdigest()
    db.execute(
        "INSERT INTO transactions (txid, content, spend, family, fee, tx, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (txid, secrets.token_hex(32), secrets.token_hex(32), txid, 5_000, bytes(300), at),
    )
    signatures = [
        {"input": i, "pubkey": SON_KEYS[0].hex(), "signature": "30" * 71} for i in range(5)
    ]
    db.execute(
        "INSERT INTO requests (request_id, txid, fee_bump_of, signatures, created_at, signed_at)"
        " VALUES (?, ?, NULL, ?, ?, ?)",
        (f"seeded-{n}", txid, json.dumps(signatures), at, at),
    )
    db.executemany(
        "INSERT INTO outpoints (outpoint, amount, script_pubkey, family) VALUES (?, ?, ?, ?)",
        [(f"{txid[::-1]}:{i}", 1_000_000, bytes(34), txid) for i in range(SEED_INPUTS)],
    )
    minute = int(at // 60)
    db.executemany(
        "INSERT INTO payouts (withdrawal_id, script_pubkey, amount, family, minute, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(f"seeded-{n}-{i}", bytes(22), 100_000, txid, minute, at) for i in range(SEED_PAYOUTS)],
    )
    db.execute(
        "INSERT INTO payout_minutes (minute, amount) VALUES (?, ?)"
        " ON CONFLICT (minute) DO UPDATE SET amount = amount + excluded.amount",
        (minute, 100_000 * SEED_PAYOUTS),
    )
