"""The web benchmark's database: users, mappings, deposits, withdrawals and their transactions,
the ledger that matches them, and proposals, loaded by COPY; then the few rows the pages need
(SONs, witnesses, an administrator, the rate, the listener's cursor) through the ORM.

Shape (the issue's figures by default): user 1 is the heavy user with HEAVY_DEPOSITS deposits
and HEAVY_WITHDRAWALS withdrawals; the other deposits and withdrawals are spread evenly over the
other users. Every deposit but the refund-pending ones is credited (one ledger entry each);
settled withdrawals have their escrow and burn entries, the others their escrow only. Balances
are the sums of those entries, so the ledger check passes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

HEAVY_DEPOSITS = 18_000
HEAVY_WITHDRAWALS = 2_000
DEPOSIT_AMOUNT = 100_000  # sat, credited 1:1
WITHDRAWAL_AMOUNT = 20_000
WITHDRAWALS_PER_TX = 50
OPEN_PROPOSALS = 101  # refund proposals, as in the measurement
TIP = 800_000
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    users: int
    deposits: int
    withdrawals: int
    proposals: int

    def depositor(self, i: int) -> int:
        """The user id of deposit i (0-based)."""
        if i < HEAVY_DEPOSITS:
            return 1
        return 2 + (i - HEAVY_DEPOSITS) % (self.users - 1)

    def withdrawer(self, j: int) -> int:
        if j < HEAVY_WITHDRAWALS:
            return 1
        return 2 + (j - HEAVY_WITHDRAWALS) % (self.users - 1)

    def refund_pending(self, i: int) -> bool:
        """The last OPEN_PROPOSALS deposits wait for a refund (and a proposal each)."""
        return i >= self.deposits - OPEN_PROPOSALS


def connection_params() -> dict:
    return {
        "host": os.environ.get("DATABASE_HOST", "127.0.0.1"),
        "port": os.environ.get("DATABASE_PORT", "5432"),
        "user": os.environ.get("DATABASE_USER", "sonportal"),
        "password": os.environ.get("DATABASE_PASSWORD") or None,
    }


def recreate_database(name: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **connection_params()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_exists(name: str) -> bool:
    with psycopg.connect(dbname="postgres", autocommit=True, **connection_params()) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


def seeded(shape: Shape) -> bool:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM sidechains_deposit")
        deposits = c.fetchone()[0]
        c.execute("SELECT count(*) FROM proposals_proposal")
        proposals = c.fetchone()[0]
    return deposits == shape.deposits and proposals == shape.proposals


def seed(shape: Shape) -> dict[str, float]:
    """Loads everything into a freshly migrated database; returns seconds per part."""
    from django.core.management import call_command
    from django.db import connection

    timings: dict[str, float] = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    timings["migrate"] = time.perf_counter() - started
    with connection.cursor() as c:
        raw = c.connection.cursor()
        for name, load in (
            ("users and mappings", _users),
            ("deposits", _deposits),
            ("transactions and withdrawals", _withdrawals),
            ("ledger", _ledger),
            ("proposals", _proposals),
        ):
            started = time.perf_counter()
            load(raw, shape)
            timings[name] = time.perf_counter() - started
        started = time.perf_counter()
        for table in _TABLES:
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        c.execute("ANALYZE")
        timings["sequences and ANALYZE"] = time.perf_counter() - started
    return timings


_TABLES = [
    "auth_user",
    "mappings_sidechainaddress",
    "sidechains_deposit",
    "sidechains_sidechaintransaction",
    "sidechains_withdrawal",
    "ledger_ledgeraccount",
    "ledger_balance",
    "ledger_entry",
    "proposals_proposal",
]


def withdraw_address() -> str:
    from chains.bitcoin.addresses import segwit_address

    return segwit_address(0, hashlib.sha256(b"bench-withdraw").digest()[:20], "regtest")


def _users(cursor, shape: Shape) -> None:
    now = datetime.now(UTC)
    columns = "id, password, is_superuser, username, first_name, last_name, email, is_staff, "
    columns += "is_active, date_joined"
    with cursor.copy(f"COPY auth_user ({columns}) FROM STDIN") as copy:
        for n in range(1, shape.users + 1):
            copy.write_row((n, "!", False, f"user_{n}", "", "", "", False, True, now))
    columns = (
        "id, user_id, sidechain, deposit_public_key, withdraw_address, deposit_address, "
        "deposit_script_pubkey, hive_account, valid_from, expires, request_id, "
        "deposit_key_source, deposit_key_origin"
    )
    address = withdraw_address()
    with cursor.copy(f"COPY mappings_sidechainaddress ({columns}) FROM STDIN") as copy:
        for n in range(1, shape.users + 1):
            digest = hashlib.sha256(b"bench-web-%d" % n).digest()
            row = (n, n, "bitcoin", "02" + digest.hex(), address, "", b"\x00\x20" + digest, "")
            copy.write_row((*row, EPOCH, None, "", "", ""))


def _deposits(cursor, shape: Shape) -> None:
    columns = (
        "id, chain, txid, vout, amount, mapping_id, user_id, block_hash, block_height, raw_tx, "
        "status, confirmations_required, detected_at, confirmed_at, credited_at, rate, "
        "credited_amount, note, attempts"
    )
    raw_tx = b"\x02" * 250  # a previous transaction's size; never read by the pages
    with cursor.copy(f"COPY sidechains_deposit ({columns}) FROM STDIN") as copy:
        for i in range(shape.deposits):
            user = shape.depositor(i)
            at = EPOCH + timedelta(seconds=30 * i)
            height = TIP - (shape.deposits - i) // 50
            pending = shape.refund_pending(i)
            status = "refund_pending" if pending else "credited"
            credited = (None, None, None) if pending else (at, "1", DEPOSIT_AMOUNT)
            txid = hashlib.sha256(b"deposit-%d" % i).hexdigest()
            row = (i + 1, "bitcoin", txid, 0, DEPOSIT_AMOUNT, user, user, "00" * 32, height)
            copy.write_row((*row, raw_tx, status, 3, at, at, *credited, "", 0))


def _withdrawals(cursor, shape: Shape) -> None:
    txs = -(-shape.withdrawals // WITHDRAWALS_PER_TX)
    columns = (
        "id, chain, status, unsigned_tx, signed_tx, txid, fee, vsize, feerate, change_amount, "
        "signers, broadcast_at, mined_height, confirmed_height, last_error, attempts, created_at, "
        "abandoned_reason, kind"
    )
    with cursor.copy(f"COPY sidechains_sidechaintransaction ({columns}) FROM STDIN") as copy:
        for t in range(txs):
            at = EPOCH + timedelta(minutes=10 * t)
            txid = hashlib.sha256(b"tx-%d" % t).hexdigest()
            height = TIP - (txs - t)
            row = (t + 1, "bitcoin", "confirmed", b"\x01" * 2_000, b"\x02" * 4_000, txid, 3_000)
            copy.write_row(
                (*row, 1_500, 2, 0, "[1, 2]", at, height, height, "", 0, at, "", "withdrawal")
            )
    columns = (
        "id, user_id, chain, amount_pegged, rate, amount, fee_share, address, status, "
        "request_id, sidechain_tx_id, note, failure_reason, created_at, settled_at, asset"
    )
    address = withdraw_address()
    with cursor.copy(f"COPY sidechains_withdrawal ({columns}) FROM STDIN") as copy:
        for j in range(shape.withdrawals):
            at = EPOCH + timedelta(seconds=150 * j)
            tx = j // WITHDRAWALS_PER_TX + 1
            row = (j + 1, shape.withdrawer(j), "bitcoin", WITHDRAWAL_AMOUNT, "1")
            row += (WITHDRAWAL_AMOUNT, 60, address, "settled", f"bench-{j}", tx, "", "")
            copy.write_row((*row, at, at, ""))


def _ledger(cursor, shape: Shape) -> None:
    """Accounts 1 (issuance), 2 (son-account) and 2 + user id; every settled withdrawal's escrow
    and burn, every credited deposit's credit."""
    columns = "id, user_id, system"
    with cursor.copy(f"COPY ledger_ledgeraccount ({columns}) FROM STDIN") as copy:
        copy.write_row((1, None, "issuance"))
        copy.write_row((2, None, "son-account"))
        for n in range(1, shape.users + 1):
            copy.write_row((2 + n, n, ""))
    balances = [0] * (shape.users + 1)
    columns = "source_id, destination_id, asset, amount, reason, reference, created_at"
    with cursor.copy(f"COPY ledger_entry ({columns}) FROM STDIN") as copy:
        for i in range(shape.deposits):
            if shape.refund_pending(i):
                continue
            user = shape.depositor(i)
            balances[user] += DEPOSIT_AMOUNT
            at = EPOCH + timedelta(seconds=30 * i)
            copy.write_row((1, 2 + user, "pBTC", DEPOSIT_AMOUNT, "deposit", f"deposit:{i + 1}", at))
        for j in range(shape.withdrawals):
            user = shape.withdrawer(j)
            balances[user] -= WITHDRAWAL_AMOUNT
            at = EPOCH + timedelta(seconds=150 * j)
            ref = f"withdrawal:{j + 1}"
            copy.write_row((2 + user, 2, "pBTC", WITHDRAWAL_AMOUNT, "withdrawal_escrow", ref, at))
            copy.write_row((2, 1, "pBTC", WITHDRAWAL_AMOUNT, "withdrawal_burn", ref, at))
    supply = sum(balances)
    columns = "id, account_id, asset, amount, may_go_negative"
    with cursor.copy(f"COPY ledger_balance ({columns}) FROM STDIN") as copy:
        copy.write_row((1, 1, "pBTC", -supply, True))
        copy.write_row((2, 2, "pBTC", 0, False))
        for n in range(1, shape.users + 1):
            copy.write_row((2 + n, 2 + n, "pBTC", balances[n], False))


def _proposals(cursor, shape: Shape) -> None:
    """Closed deregistration proposals (about SON 1, made later by `world`) and one open
    refund proposal per refund-pending deposit."""
    columns = "id, kind, payload, son_id, deposit_id, status, created_at, expires_at, result"
    now = datetime.now(UTC)
    refund = {"fee": 300, "feerate": 2, "vsize": 150, "refund_amount": DEPOSIT_AMOUNT - 300}
    payload = json.dumps({"destination": withdraw_address(), **refund})
    closed = shape.proposals - OPEN_PROPOSALS
    with cursor.copy(f"COPY proposals_proposal ({columns}) FROM STDIN") as copy:
        for k in range(closed):
            at = EPOCH + timedelta(hours=k)
            ends = at + timedelta(days=3)
            row = (k + 1, "deregister_son", "{}", None, None, "expired", at, ends, "")
            copy.write_row(row)
        for k in range(OPEN_PROPOSALS):
            deposit = shape.deposits - OPEN_PROPOSALS + k + 1
            row = (closed + k + 1, "refund_deposit", payload, None, deposit, "open")
            copy.write_row((*row, now, now + timedelta(days=3), ""))
