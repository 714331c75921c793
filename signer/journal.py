"""The signer's journal: every request it signed, in its own SQLite file (stdlib sqlite3).

It makes the signer idempotent and safe across restarts:
- the same request id with the same transaction gets the stored signatures back;
- an outpoint is never signed in two different transactions, except in a fee bump: a request
  naming an earlier one in `fee_bump_of`, spending the same outpoints, making the same payouts,
  for a higher fee;
- a withdrawal is never paid by two different transactions, except by such fee bumps;
- the payouts of the last 24 h are there for the daily cap.

A request is recorded in two steps: its intent (outpoints, payouts, fee) before any signature is
made, then its signatures before they are returned. Both are commits of a WAL database with
synchronous=FULL, so each is fsync'ed to disk before the call returns. The intent step takes
SQLite's write lock and re-checks for conflicts under it, so that two processes sharing a
journal cannot both claim one outpoint.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from signer.policy import (
    CONFLICTING_SPEND,
    DUPLICATE_PAYOUT,
    NOT_A_FEE_BUMP,
    REQUEST_ID_REUSED,
    Payout,
    Reviewed,
)

SCHEMA_VERSION = 1
_SCHEMA = (
    """
CREATE TABLE signed_requests (
    request_id   TEXT PRIMARY KEY,
    txid         TEXT NOT NULL,
    tx           TEXT NOT NULL,     -- hex, without witnesses: what was signed
    fee_bump_of  TEXT,
    outpoints    TEXT NOT NULL,     -- JSON, sorted ["<txid>:<vout>", ...]
    payouts      TEXT NOT NULL,     -- JSON, sorted [["<withdrawal id>", "<script hex>", sats]]
    fee          INTEGER NOT NULL,
    signatures   TEXT,              -- JSON answer list; NULL while only the intent is recorded
    created_at   REAL NOT NULL,     -- Unix time of the intent
    signed_at    REAL
)""",
    "CREATE INDEX signed_requests_created_at ON signed_requests (created_at)",
)
_COLUMNS = "request_id, txid, fee_bump_of, outpoints, payouts, fee, signatures"


class JournalError(Exception):
    """The journal file cannot be used."""


@dataclass(frozen=True)
class Spend:
    """What the journal keeps of a request."""

    request_id: str
    txid: str
    tx: bytes
    outpoints: tuple[str, ...]  # sorted
    payouts: tuple[Payout, ...]  # sorted
    fee: int
    fee_bump_of: str | None

    @classmethod
    def of(cls, reviewed: Reviewed) -> Spend:
        tx = reviewed.tx
        return cls(
            request_id=reviewed.request.id,
            txid=tx.txid,
            tx=tx.raw,
            outpoints=tuple(sorted(f"{txin.txid}:{txin.vout}" for txin in tx.inputs)),
            payouts=reviewed.payouts,
            fee=reviewed.fee,
            fee_bump_of=reviewed.request.fee_bump_of,
        )

    @property
    def outpoints_json(self) -> str:
        return _json(list(self.outpoints))

    @property
    def payouts_json(self) -> str:
        return _json([[p.withdrawal_id, p.script_pubkey.hex(), p.amount] for p in self.payouts])


@dataclass(frozen=True)
class _Row:
    request_id: str
    txid: str
    fee_bump_of: str | None
    outpoints: str
    payouts: str
    fee: int
    signatures: str | None

    def same_spend(self, spend: Spend) -> bool:
        """Same outpoints and same payouts: one of a fee-bump family."""
        return (self.outpoints, self.payouts) == (spend.outpoints_json, spend.payouts_json)


class Journal:
    def __init__(self, path: str | Path, *, timeout: float = 10.0):
        path = Path(path)
        _create_private(path)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=timeout)
        try:
            self._configure()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def already_signed(self, spend: Spend) -> list[dict] | None:
        """The stored signatures of this request id and transaction, if it was signed."""
        row = self._row(spend.request_id)
        if row is None or row.txid != spend.txid or row.signatures is None:
            return None
        return json.loads(row.signatures)

    def conflicts(self, spend: Spend) -> str | None:
        """Why signing `spend` would break a journal rule, or None."""
        mine = self._row(spend.request_id)
        if mine is not None and mine.txid != spend.txid:
            return REQUEST_ID_REUSED
        in_family = self._family_check(spend)
        if isinstance(in_family, str):
            return in_family
        for row in self._sharing_outpoints(spend):
            if not in_family(row):
                return CONFLICTING_SPEND
        for row in self._sharing_withdrawals(spend):
            if not in_family(row):
                return DUPLICATE_PAYOUT
        return None

    def record_intent(self, spend: Spend, now: datetime) -> str | None:
        """Claim the outpoints and payouts of `spend` before signing it; the conflict reason
        instead if another signature got there first (checked again under the write lock)."""
        with self._write():
            reason = self.conflicts(spend)
            if reason is not None or self._row(spend.request_id) is not None:
                return reason  # a request recorded before: its intent stands
            self._db.execute(
                "INSERT INTO signed_requests (request_id, txid, tx, fee_bump_of, outpoints,"
                " payouts, fee, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    spend.request_id,
                    spend.txid,
                    spend.tx.hex(),
                    spend.fee_bump_of,
                    spend.outpoints_json,
                    spend.payouts_json,
                    spend.fee,
                    now.timestamp(),
                ),
            )
        return None

    def record_signatures(self, spend: Spend, signatures: list[dict], now: datetime) -> None:
        """Store the signatures of a recorded intent, before they leave the signer."""
        with self._write():
            updated = self._db.execute(
                "UPDATE signed_requests SET signatures = ?, signed_at = ?"
                " WHERE request_id = ? AND txid = ? AND signatures IS NULL",
                (_json(signatures), now.timestamp(), spend.request_id, spend.txid),
            ).rowcount
        if updated != 1 and self.already_signed(spend) != signatures:
            raise JournalError(f"request {spend.request_id} has no intent to complete")

    def payouts_since(self, since: datetime) -> list[Payout]:
        rows = self._db.execute(
            "SELECT payouts FROM signed_requests WHERE created_at > ?", (since.timestamp(),)
        )
        return [
            Payout(withdrawal_id, bytes.fromhex(script_hex), amount)
            for (payouts,) in rows
            for withdrawal_id, script_hex, amount in json.loads(payouts)
        ]

    def _family_check(self, spend: Spend) -> Callable[[_Row], bool] | str:
        """A predicate telling the rows `spend` may share outpoints and payouts with, or the
        reason why `spend` is not the fee bump it claims to be."""
        if spend.fee_bump_of is None:
            return lambda row: False
        target = self._row(spend.fee_bump_of)
        if target is None or not target.same_spend(spend) or spend.fee <= target.fee:
            return NOT_A_FEE_BUMP
        return lambda row: row.same_spend(spend)

    def _sharing_outpoints(self, spend: Spend) -> list[_Row]:
        return self._rows(
            "json_each(r.outpoints) AS o WHERE o.value IN (SELECT value FROM json_each(?))",
            spend.outpoints_json,
            spend.txid,
        )

    def _sharing_withdrawals(self, spend: Spend) -> list[_Row]:
        ids = _json([payout.withdrawal_id for payout in spend.payouts])
        return self._rows(
            "json_each(r.payouts) AS p"
            " WHERE json_extract(p.value, '$[0]') IN (SELECT value FROM json_each(?))",
            ids,
            spend.txid,
        )

    def _rows(self, join_and_filter: str, values: str, txid: str) -> list[_Row]:
        """Rows of other transactions than `txid` that match the filter."""
        query = (
            f"SELECT DISTINCT {', '.join('r.' + c for c in _COLUMNS.split(', '))}"
            f" FROM signed_requests AS r, {join_and_filter} AND r.txid != ?"
        )
        return [_Row(*row) for row in self._db.execute(query, (values, txid))]

    def _row(self, request_id: str) -> _Row | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM signed_requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else _Row(*row)

    @contextmanager
    def _write(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _configure(self) -> None:
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot use the journal {self.path}: {exc}") from None
        if mode != "wal":
            raise JournalError(f"cannot put the journal {self.path} in WAL mode")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise JournalError(f"unknown journal schema version {version}")
        with self._write():
            # One statement at a time: executescript() would commit halfway.
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _create_private(path: Path) -> None:
    """Create the file readable by its owner only (SQLite gives its -wal file the same mode)."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from None


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
