"""The signer's journal: every request it signed, in its own SQLite file (stdlib sqlite3).

It makes the signer idempotent and safe across restarts:
- the same request id with the same transaction gets the stored signatures back;
- a txid is bound to the content its signatures cover (the transaction, each input's amount and
  witness script, the payouts): a second request for it that differs in anything is refused;
- an outpoint is bound to its amount and scriptPubKey and to the transactions spending it, and
  is never signed in two different transactions, except in a fee bump: a request naming an
  earlier one in `fee_bump_of`, spending the same outpoints, making the same payouts, for a
  higher fee (the two are one fee-bump family);
- a withdrawal is never paid by two different transactions, except by such fee bumps;
- the payouts of the last 24 h are there for the daily cap.

Every check is a lookup by primary key (requests, transactions, outpoints, payouts), and the
24 h total is read from per-minute sums, so a request costs the same whatever the journal holds.

A request is recorded in two steps: its intent (transaction, outpoints, payouts) before any
signature is made, then its signatures before they are returned. The intent is a commit of a WAL
database with synchronous=FULL, fsync'ed to disk before the call returns: after a crash, what
was claimed stays claimed. The signatures' commit is not synced on its own (the next intent's
sync carries it): a signature record lost to a power cut only makes the same request be signed
again, into the same bytes (RFC 6979), and saves one fsync per request. The intent step takes
SQLite's write lock and checks for conflicts under it, so that two processes sharing a journal
cannot both claim one outpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from signer.bitcoin import compact_size, var_bytes
from signer.policy import (
    CONFLICTING_SPEND,
    DUPLICATE_PAYOUT,
    NOT_A_FEE_BUMP,
    OUTPOINT_MISMATCH,
    REQUEST_ID_REUSED,
    TX_CONTENT_MISMATCH,
    Payout,
    Reviewed,
)

SCHEMA_VERSION = 2
_SCHEMA = (
    """
CREATE TABLE transactions (
    txid        TEXT PRIMARY KEY,
    content     TEXT NOT NULL,  -- SHA-256 of what its signatures cover (Spend.content)
    spend       TEXT NOT NULL,  -- SHA-256 of its outpoints and payouts: one per fee-bump family
    family      TEXT NOT NULL,  -- txid of the first transaction of its fee-bump family
    fee         INTEGER NOT NULL,
    tx          BLOB NOT NULL,  -- the unsigned transaction, without witnesses
    created_at  REAL NOT NULL
)""",
    """
CREATE TABLE requests (
    request_id  TEXT PRIMARY KEY,
    txid        TEXT NOT NULL REFERENCES transactions (txid),
    fee_bump_of TEXT,
    signatures  TEXT,           -- JSON answer list; NULL while only the intent is recorded
    created_at  REAL NOT NULL,  -- Unix time of the intent
    signed_at   REAL
)""",
    """
CREATE TABLE outpoints (
    outpoint      TEXT PRIMARY KEY,  -- "<txid>:<vout>"
    amount        INTEGER NOT NULL,
    script_pubkey BLOB NOT NULL,
    family        TEXT NOT NULL     -- the fee-bump family spending it (transactions.family)
) WITHOUT ROWID""",
    """
CREATE TABLE payouts (
    withdrawal_id TEXT PRIMARY KEY,
    script_pubkey BLOB NOT NULL,
    amount        INTEGER NOT NULL,
    family        TEXT NOT NULL,    -- the fee-bump family paying it
    minute        INTEGER NOT NULL, -- created_at // 60
    created_at    REAL NOT NULL     -- when it was first recorded
) WITHOUT ROWID""",
    "CREATE INDEX payouts_minute ON payouts (minute, created_at, amount)",
    """
CREATE TABLE payout_minutes (
    minute INTEGER PRIMARY KEY,     -- Unix time // 60
    amount INTEGER NOT NULL         -- satoshi of the payouts first recorded in that minute
)""",
)
_IN_CHUNK = 500  # values per IN (...) list, under every SQLite's variable limit
# A request writes about one page per input (outpoints are keyed by random txids), so the WAL
# grows fast; checkpointing every 4,000 pages (16 MB) instead of SQLite's 1,000 writes each page
# back to the file fewer times. Measured with python -m bench.signer (bench/README.md).
_CHECKPOINT_PAGES = 4_000


class JournalError(Exception):
    """The journal file cannot be used."""


class Outpoint(NamedTuple):
    outpoint: str  # "<txid>:<vout>"
    amount: int
    script_pubkey: bytes


@dataclass(frozen=True)
class Spend:
    """What the journal keeps of a request."""

    request_id: str
    txid: str
    tx: bytes
    content: str  # hex SHA-256 of the transaction, each input's amount and script, the payouts
    key: str  # hex SHA-256 of the outpoints and payouts: equal within a fee-bump family
    outpoints: tuple[Outpoint, ...]  # sorted
    payouts: tuple[Payout, ...]  # sorted
    fee: int
    fee_bump_of: str | None

    @classmethod
    def of(cls, reviewed: Reviewed) -> Spend:
        tx = reviewed.tx
        outpoints = sorted(
            Outpoint(f"{txin.txid}:{txin.vout}", out.amount, out.script_pubkey)
            for txin, out in zip(tx.inputs, reviewed.spent, strict=True)
        )
        scripts = [claim.witness_script for claim in reviewed.request.inputs]
        amounts = [out.amount for out in reviewed.spent]
        return cls(
            request_id=reviewed.request.id,
            txid=tx.txid,
            tx=tx.raw,
            content=content_digest(tx.raw, amounts, scripts, reviewed.payouts),
            key=spend_digest([o.outpoint for o in outpoints], reviewed.payouts),
            outpoints=tuple(outpoints),
            payouts=reviewed.payouts,
            fee=reviewed.fee,
            fee_bump_of=reviewed.request.fee_bump_of,
        )


def content_digest(
    tx: bytes, amounts: Sequence[int], scripts: Sequence[bytes], payouts: Sequence[Payout]
) -> str:
    """What a transaction's signatures stand for, unambiguously (every item length-prefixed):
    the unsigned bytes, each input's amount and witness script, the payouts (sorted)."""
    digest = hashlib.sha256(b"son-signer content v1\0" + var_bytes(tx))
    for amount, script in zip(amounts, scripts, strict=True):
        digest.update(_u64(amount) + var_bytes(script))
    digest.update(_payouts_bytes(payouts))
    return digest.hexdigest()


def spend_digest(outpoints: Sequence[str], payouts: Sequence[Payout]) -> str:
    """The outpoints (sorted) and payouts (sorted) of a spend: a fee bump must keep both."""
    digest = hashlib.sha256(b"son-signer spend v1\0" + compact_size(len(outpoints)))
    for outpoint in outpoints:
        digest.update(var_bytes(outpoint.encode()))
    digest.update(_payouts_bytes(payouts))
    return digest.hexdigest()


def _payouts_bytes(payouts: Sequence[Payout]) -> bytes:
    return compact_size(len(payouts)) + b"".join(
        var_bytes(p.withdrawal_id.encode()) + var_bytes(p.script_pubkey) + _u64(p.amount)
        for p in payouts
    )


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


class _Known(NamedTuple):
    """A recorded transaction, as the rules need it."""

    content: str
    spend: str
    family: str
    fee: int


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

    def already_signed(self, spend: Spend) -> list[dict[str, Any]] | None:
        """The stored signatures of this request id, transaction and content, if signed."""
        row = self._db.execute(
            "SELECT r.signatures, t.content FROM requests AS r JOIN transactions AS t"
            " ON t.txid = r.txid WHERE r.request_id = ? AND r.txid = ?",
            (spend.request_id, spend.txid),
        ).fetchone()
        if row is None or row[0] is None or row[1] != spend.content:
            return None
        signatures: list[dict[str, Any]] = json.loads(row[0])
        return signatures

    def conflicts(self, spend: Spend) -> str | None:
        """Why signing `spend` would break a journal rule, or None."""
        return self._placement(spend)[0]

    def record_intent(self, spend: Spend, now: datetime) -> str | None:
        """Claim the transaction, outpoints and payouts of `spend` before signing it; the
        conflict reason instead if the journal's rules forbid it (checked under the write
        lock, so that a concurrent signer cannot claim the same outpoint in between)."""
        with self._write():
            reason, family = self._placement(spend)
            if reason is not None or self._request_txid(spend.request_id) is not None:
                return reason  # a request recorded before: its intent stands
            family = family or spend.txid
            row = (spend.txid, spend.content, spend.key, family, spend.fee, spend.tx)
            self._db.execute(
                "INSERT OR IGNORE INTO transactions (txid, content, spend, family, fee, tx,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row, now.timestamp()),
            )
            self._db.execute(
                "INSERT INTO requests (request_id, txid, fee_bump_of, created_at)"
                " VALUES (?, ?, ?, ?)",
                (spend.request_id, spend.txid, spend.fee_bump_of, now.timestamp()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO outpoints (outpoint, amount, script_pubkey, family)"
                " VALUES (?, ?, ?, ?)",
                [(*outpoint, family) for outpoint in spend.outpoints],
            )
            self._record_payouts(spend.payouts, family, now)
        return None

    def record_signatures(
        self, spend: Spend, signatures: list[dict[str, Any]], now: datetime
    ) -> None:
        """Store the signatures of a recorded intent, before they leave the signer (a commit
        without its own fsync: see the module's docstring)."""
        with self._write(durable=False):
            updated = self._db.execute(
                "UPDATE requests SET signatures = ?, signed_at = ?"
                " WHERE request_id = ? AND txid = ? AND signatures IS NULL",
                (_json(signatures), now.timestamp(), spend.request_id, spend.txid),
            ).rowcount
        if updated != 1 and self.already_signed(spend) != signatures:
            raise JournalError(f"request {spend.request_id} has no intent to complete")

    def paid_since(self, since: datetime) -> int:
        """Satoshi of the distinct payouts first recorded after `since`: the whole minutes
        from their running sums, the minute `since` falls in from its payouts."""
        cutoff = since.timestamp()
        minute = int(cutoff // 60)
        (whole,) = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM payout_minutes WHERE minute > ?", (minute,)
        ).fetchone()
        (edge,) = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM payouts WHERE minute = ? AND created_at > ?",
            (minute, cutoff),
        ).fetchone()
        paid: int = whole + edge
        return paid

    def recorded(self, payouts: Sequence[Payout]) -> set[Payout]:
        """Those of `payouts` recorded before, identically."""
        ids = [payout.withdrawal_id for payout in payouts]
        found = {
            Payout(withdrawal_id, bytes(script_pubkey), amount)
            for withdrawal_id, script_pubkey, amount, _ in self._payout_rows(ids)
        }
        return found & set(payouts)

    def _placement(self, spend: Spend) -> tuple[str | None, str | None]:
        """(reason, None) if a rule forbids `spend`; else (None, the fee-bump family it joins,
        None for a new one). Rules in order: request id, txid content, fee bump, outpoints,
        payouts."""
        request_txid = self._request_txid(spend.request_id)
        if request_txid is not None and request_txid != spend.txid:
            return REQUEST_ID_REUSED, None
        known = self._known(spend.txid)
        if known is not None and known.content != spend.content:
            return TX_CONTENT_MISMATCH, None
        family = known.family if known is not None else None
        if spend.fee_bump_of is not None:
            target = self._known_request(spend.fee_bump_of)
            if target is None or target.spend != spend.key or spend.fee <= target.fee:
                return NOT_A_FEE_BUMP, None
            family = target.family
        reason = self._outpoint_reason(spend, family) or self._payout_reason(spend, family)
        return reason, family

    def _outpoint_reason(self, spend: Spend, family: str | None) -> str | None:
        mine = {outpoint.outpoint: outpoint for outpoint in spend.outpoints}
        rows = self._rows(
            "SELECT outpoint, amount, script_pubkey, family FROM outpoints WHERE outpoint IN",
            list(mine),
        )
        if any(row[3] != family for row in rows):
            return CONFLICTING_SPEND
        # The same outpoint with another amount or script: the previous transaction's hash
        # rules that out, so this is a signer bug or a hash collision. Never sign through it.
        if any(Outpoint(row[0], row[1], bytes(row[2])) != mine[row[0]] for row in rows):
            return OUTPOINT_MISMATCH
        return None

    def _payout_reason(self, spend: Spend, family: str | None) -> str | None:
        mine = {payout.withdrawal_id: payout for payout in spend.payouts}
        for withdrawal_id, script_pubkey, amount, paid_by in self._payout_rows(list(mine)):
            same = Payout(withdrawal_id, bytes(script_pubkey), amount) == mine[withdrawal_id]
            if paid_by != family or not same:
                return DUPLICATE_PAYOUT
        return None

    def _record_payouts(self, payouts: Sequence[Payout], family: str, now: datetime) -> None:
        """New payouts are recorded with the time they were first seen, and counted into
        their minute's sum; those recorded before (a fee bump's) are left as they are. Runs
        under the write lock, so what is not there now is new."""
        known = {row[0] for row in self._payout_rows([p.withdrawal_id for p in payouts])}
        new = [payout for payout in payouts if payout.withdrawal_id not in known]
        if not new:
            return
        created_at = now.timestamp()
        minute = int(created_at // 60)
        self._db.executemany(
            "INSERT INTO payouts (withdrawal_id, script_pubkey, amount, family, minute,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(p.withdrawal_id, p.script_pubkey, p.amount, family, minute, created_at) for p in new],
        )
        self._db.execute(
            "INSERT INTO payout_minutes (minute, amount) VALUES (?, ?)"
            " ON CONFLICT (minute) DO UPDATE SET amount = amount + excluded.amount",
            (minute, sum(payout.amount for payout in new)),
        )

    def _payout_rows(self, ids: list[str]) -> list[tuple[Any, ...]]:
        return self._rows(
            "SELECT withdrawal_id, script_pubkey, amount, family FROM payouts"
            " WHERE withdrawal_id IN",
            ids,
        )

    def _rows(self, query: str, values: Sequence[str | bytes]) -> list[tuple[Any, ...]]:
        """`query` + " (?, ...)" over `values`, in chunks."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows += self._db.execute(f"{query} ({marks})", chunk).fetchall()
        return rows

    def _request_txid(self, request_id: str) -> str | None:
        row = self._db.execute(
            "SELECT txid FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else row[0]

    def _known(self, txid: str) -> _Known | None:
        row = self._db.execute(
            "SELECT content, spend, family, fee FROM transactions WHERE txid = ?", (txid,)
        ).fetchone()
        return None if row is None else _Known(*row)

    def _known_request(self, request_id: str) -> _Known | None:
        row = self._db.execute(
            "SELECT t.content, t.spend, t.family, t.fee FROM requests AS r"
            " JOIN transactions AS t ON t.txid = r.txid WHERE r.request_id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else _Known(*row)

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[None]:
        """A write transaction holding SQLite's write lock; fsync'ed at commit if durable."""
        if not durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            if not durable:
                self._db.execute("PRAGMA synchronous=FULL")

    def _configure(self) -> None:
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot use the journal {self.path}: {exc}") from None
        if mode != "wal":
            raise JournalError(f"cannot put the journal {self.path} in WAL mode")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version == 1:
            raise JournalError(
                f"the journal {self.path} was written by an earlier signer (schema 1), which"
                " took input amounts on trust and bound no outpoint to its amount: it cannot"
                " be carried over. Keep it for the record and configure a new journal file."
            )
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
