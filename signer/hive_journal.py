"""The signer's memory of the Hive transactions it signed (its own SQLite file).

- a repeated request for a transaction it signed returns the first signature (Hive signatures
  from our signer are deterministic, but a journal answer never depends on that);
- each withdrawal id is bound to the transaction that pays it: a different transaction for the
  same withdrawal is refused while the first can still be included (until its expiration plus
  a margin), so two live transactions never pay one withdrawal;
- the amounts paid in the last 24 h per asset, counted once per withdrawal.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from signer.hive_request import HiveWithdrawal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hive_tx (
    trx_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, expiration INTEGER NOT NULL,
    signature TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hive_payout (
    withdrawal_id TEXT NOT NULL, trx_id TEXT NOT NULL, account TEXT NOT NULL,
    asset TEXT NOT NULL, amount INTEGER NOT NULL, expiration INTEGER NOT NULL,
    created INTEGER NOT NULL, PRIMARY KEY (withdrawal_id, trx_id));
"""


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


class HiveJournal:
    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=10)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def signature_of(self, trx_id: str) -> str | None:
        row = self._db.execute("SELECT signature FROM hive_tx WHERE trx_id = ?", [trx_id])
        found = row.fetchone()
        return None if found is None else str(found[0])

    def live_conflict(
        self,
        withdrawals: Sequence[HiveWithdrawal],
        trx_id: str,
        now: dt.datetime,
        margin: int,
        reference_time: dt.datetime | None = None,
    ) -> str | None:
        """The reason to refuse: a withdrawal bound to another payout, or paid by another
        transaction that can still be included: its expiration plus `margin` is not past on
        this signer's clock, or the new transaction's reference block (chain time, as the
        request states it) is older than that expiration."""
        chain_before = None if reference_time is None else _epoch(reference_time)
        for w in withdrawals:
            rows = self._db.execute(
                "SELECT trx_id, account, asset, amount, expiration FROM hive_payout "
                "WHERE withdrawal_id = ? AND trx_id != ?",
                [w.id, trx_id],
            ).fetchall()
            for _, account, asset, amount, expiration in rows:
                if (account, asset, amount) != (w.account, w.asset, w.amount):
                    return "PAYOUT_REBOUND"
                if expiration + margin > _epoch(now):
                    return "WITHDRAWAL_IN_FLIGHT"
                if chain_before is not None and chain_before < expiration:
                    return "WITHDRAWAL_IN_FLIGHT"
        return None

    def paid_since(self, asset: str, since: dt.datetime, excluding: Sequence[str]) -> int:
        """Sum of distinct withdrawals of `asset` first signed since `since`, but those named."""
        rows = self._db.execute(
            "SELECT withdrawal_id, MAX(amount) FROM hive_payout WHERE asset = ? "
            "GROUP BY withdrawal_id HAVING MIN(created) >= ?",
            [asset, _epoch(since)],
        ).fetchall()
        skip = set(excluding)
        return sum(int(amount) for wid, amount in rows if wid not in skip)

    def known_withdrawals(self, ids: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT DISTINCT withdrawal_id FROM hive_payout WHERE withdrawal_id IN ({marks})",
            list(ids),
        )
        return {str(r[0]) for r in rows}

    def record(
        self,
        *,
        request_id: str,
        trx_id: str,
        expiration: dt.datetime,
        signature: str,
        withdrawals: Sequence[HiveWithdrawal],
        now: dt.datetime,
    ) -> None:
        """Bind the withdrawals to the transaction and keep its signature, atomically."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO hive_tx VALUES (?, ?, ?, ?, ?)",
                [trx_id, request_id, _epoch(expiration), signature, _epoch(now)],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO hive_payout VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (w.id, trx_id, w.account, w.asset, w.amount, _epoch(expiration), _epoch(now))
                    for w in withdrawals
                ],
            )
