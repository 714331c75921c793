"""The benchmark's own PostgreSQL database: created, migrated, filled with deposit scripts by COPY.

The scripts are deterministic (script i is P2WSH of sha256("bench-script-i")), so a database
that already holds the same count is reused unless --fresh is given.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import psycopg

from chains.bitcoin.addresses import segwit_address

MAPPINGS_PER_USER = 100  # each user: 99 expired mappings and one current
SPK_INDEX = "mappings_address_deposit_spk"


def script_hash(i: int) -> bytes:
    return hashlib.sha256(b"bench-script-%d" % i).digest()


def script_of(i: int) -> bytes:
    return b"\x00\x20" + script_hash(i)


def address_of(i: int) -> str:
    return segwit_address(0, script_hash(i), "regtest")


def ensure_database(name: str) -> None:
    """Create the database if missing (connecting to the maintenance database `postgres`)."""
    params = {
        "host": os.environ.get("DATABASE_HOST", "127.0.0.1"),
        "port": os.environ.get("DATABASE_PORT", "5432"),
        "user": os.environ.get("DATABASE_USER", "sonportal"),
        "password": os.environ.get("DATABASE_PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def scripts_present(count: int) -> bool:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM mappings_sidechainaddress")
        if c.fetchone()[0] != count:
            return False
        c.execute(
            "SELECT count(*) FROM mappings_sidechainaddress"
            " WHERE deposit_script_pubkey IN (%s, %s)",
            [script_of(0), script_of(count - 1)],
        )
        return c.fetchone()[0] == 2


def load_scripts(count: int, watched: int) -> float:
    """Replace every user and mapping with `count` registered scripts; returns the seconds."""
    from django.db import connection, transaction

    started = time.perf_counter()
    users = -(-count // MAPPINGS_PER_USER)
    with transaction.atomic(), connection.cursor() as c:
        c.execute("TRUNCATE auth_user RESTART IDENTITY CASCADE")
        c.execute(f"DROP INDEX IF EXISTS {SPK_INDEX}")
        raw = c.connection.cursor()
        _copy_users(raw, users)
        _copy_mappings(raw, count, watched)
        c.execute("SELECT setval('auth_user_id_seq', %s)", [users])
    # After the commit: the deferred foreign-key checks must have run before an index is built.
    with connection.cursor() as c:
        c.execute(f"CREATE INDEX {SPK_INDEX} ON mappings_sidechainaddress (deposit_script_pubkey)")
        c.execute("ANALYZE mappings_sidechainaddress")
    return time.perf_counter() - started


def _copy_users(cursor, users: int) -> None:
    now = datetime.now(UTC)
    columns = "id, password, is_superuser, username, first_name, last_name, email, is_staff, "
    columns += "is_active, date_joined"
    with cursor.copy(f"COPY auth_user ({columns}) FROM STDIN") as copy:
        for n in range(1, users + 1):
            copy.write_row((n, "!", False, f"bench_{n}", "", "", "", False, True, now))


def _copy_mappings(cursor, count: int, watched: int) -> None:
    columns = (
        "user_id, sidechain, deposit_public_key, withdraw_address, deposit_address, "
        "deposit_script_pubkey, hive_account, valid_from, expires, request_id"
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with cursor.copy(f"COPY mappings_sidechainaddress ({columns}) FROM STDIN") as copy:
        for i in range(count):
            user, k = divmod(i, MAPPINGS_PER_USER)
            valid_from = start + timedelta(minutes=k)
            current = k == MAPPINGS_PER_USER - 1 or i == count - 1
            expires = None if current else valid_from + timedelta(seconds=30)
            address = address_of(i) if i < watched else ""
            key = "02" + script_hash(i).hex()  # a placeholder: nobody spends these deposits
            row = (user + 1, "bitcoin", key, "bcrt1qbench", address, script_of(i), "")
            copy.write_row((*row, valid_from, expires, ""))


def reset_listener_tables() -> None:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "TRUNCATE sidechains_depositevent, sidechains_alert, sidechains_deposit, "
            "sidechains_chaincursor, sidechains_rescanjob CASCADE"
        )
