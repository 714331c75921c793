"""The benchmark's steps (python -m bench.hive)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from bench.listener.scanner import peak_rss_kb
from tests.devnode import helpers
from tests.hive_node import HiveDevNode

FEDERATION = "son-federation"
SENDER_KEY = "bench-sender"
LAG = 20


class Benchmark:
    def __init__(self, args: argparse.Namespace, node: HiveDevNode) -> None:
        self.args, self.node = args, node
        self.rpc = node.rpc(timeout=120)
        self.chain_id = self.rpc.get_config()["HIVE_CHAIN_ID"]
        self.rows: list[tuple[str, str]] = []

    def figure(self, label: str, value: str) -> None:
        self.rows.append((label, value))
        print(f"  {label}: {value}", file=sys.stderr, flush=True)

    def run(self) -> None:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.load_accounts()
        senders = self.make_senders()
        self.make_blocks(senders)
        self.scan()
        self.latency(senders)
        a = self.args
        print(
            f"\nHive listener benchmark: {a.blocks:,} irreversible blocks, {a.transfers:,} "
            f"transfers to the federation, {a.accounts:,} mapped accounts"
        )
        for label, value in self.rows:
            print(f"  {label:<58} {value}")

    def load_accounts(self) -> None:
        """Users, their verified Hive mappings and account claims, by COPY."""
        from django.db import connection, transaction

        started = time.perf_counter()
        now = datetime.now(UTC)
        with transaction.atomic(), connection.cursor() as c:
            c.execute("TRUNCATE auth_user RESTART IDENTITY CASCADE")
            c.execute("TRUNCATE sidechains_chaincursor, sidechains_hivedeposit CASCADE")
            raw = c.connection.cursor()
            cols = "id, password, is_superuser, username, first_name, last_name, email, "
            cols += "is_staff, is_active, date_joined"
            with raw.copy(f"COPY auth_user ({cols}) FROM STDIN") as copy:
                for n in range(1, self.args.accounts + 1):
                    copy.write_row((n, "!", False, f"bench_{n}", "", "", "", False, True, now))
            with raw.copy(
                "COPY mappings_sidechainaddress (user_id, sidechain, deposit_public_key, "
                "withdraw_address, deposit_address, hive_account, valid_from, request_id) "
                "FROM STDIN"
            ) as copy:
                for n in range(1, self.args.accounts + 1):
                    copy.write_row((n, "hive", "", "", "", f"bh-{n}", now, ""))
            with raw.copy(
                "COPY mappings_addressclaim (kind, value, user_id, created_at) FROM STDIN"
            ) as copy:
                for n in range(1, self.args.accounts + 1):
                    copy.write_row(("hive_account", f"bh-{n}", n, now))
            c.execute("SELECT setval('auth_user_id_seq', %s)", [self.args.accounts])
        seconds = time.perf_counter() - started
        self.figure("setup: mapped Hive accounts", f"{self.args.accounts:,} in {seconds:.1f} s")
        rates()

    def make_senders(self) -> list[str]:
        count = min(self.args.transfers, self.args.accounts, 1000)
        names = [f"bh-{n}" for n in range(1, count + 1)]
        key = helpers.public_key(SENDER_KEY)
        for name in names:
            self.node.create_account(name, key=key, balance="1000.000 HIVE")
        return names

    def transfer(self, sender: str, amount: int) -> None:
        from devnode.hive.protocol import Asset, Transfer

        op = Transfer(sender, FEDERATION, Asset(amount, "HIVE"), "")
        tx = helpers.signed(helpers.unsigned(self.rpc, op), self.chain_id, SENDER_KEY)
        helpers.broadcast(self.rpc, tx)

    def make_blocks(self, senders: list[str]) -> None:
        """One transfer every blocks/transfers blocks, then LAG more: all irreversible."""
        from sidechains.hive import listener

        listener.listener_scan(rpc=self.rpc, max_blocks=1)  # the cursor starts here
        a, started = self.args, time.perf_counter()
        every = max(1, a.blocks // a.transfers)
        made = 0
        for i in range(a.transfers):
            self.transfer(senders[i % len(senders)], 1000 + i)
            self.node.generate_blocks(every)
            made += every
        if made < a.blocks:
            self.node.generate_blocks(a.blocks - made)
        self.node.generate_blocks(LAG)
        seconds = time.perf_counter() - started
        self.figure("setup: dev node blocks made", f"{max(made, a.blocks):,} in {seconds:.1f} s")

    def scan(self) -> None:
        from sidechains.hive import deposits, listener
        from sidechains.models import HiveDeposit

        rss_before = peak_rss_kb()
        started = time.perf_counter()
        blocks = listener.listener_scan(rpc=self.rpc, max_blocks=10**9)
        scanned = time.perf_counter() - started
        found = HiveDeposit.objects.count()
        started = time.perf_counter()
        credited = deposits.hive_deposits_process()
        credit_seconds = time.perf_counter() - started
        self.figure("blocks read", f"{blocks:,} in {scanned:.2f} s ({blocks / scanned:,.0f}/s)")
        self.figure(
            "deposits detected per second (over the blocks' read)",
            f"{found / scanned:,.0f}/s ({found:,} found)",
        )
        self.figure(
            "deposits credited per second",
            f"{credited / credit_seconds:,.0f}/s ({credited:,} credited)",
        )
        self.figure("peak RSS of the listener's process", f"{peak_rss_kb() / 1024:,.0f} MB")
        self.figure("  (before scanning)", f"{rss_before / 1024:,.0f} MB")
        assert found == self.args.transfers, f"expected {self.args.transfers}, found {found}"

    def latency(self, senders: list[str]) -> None:
        """A worker running the listener task in a loop (as beat does, without its interval):
        from the moment the block is irreversible to the deposit's credit."""
        from sidechains.hive import deposits, listener
        from sidechains.models import HiveDeposit

        samples = []
        for i in range(self.args.latency_samples):
            self.transfer(senders[i % len(senders)], 7_000 + i)
            self.node.generate_blocks(1 + LAG)
            irreversible_at = time.perf_counter()
            target = HiveDeposit.objects.count() + 1
            while True:
                listener.listener_scan(rpc=self.rpc)
                deposits.hive_deposits_process()
                if HiveDeposit.objects.filter(status="credited").count() >= target:
                    break
            samples.append(time.perf_counter() - irreversible_at)
        self.figure(
            "latency irreversible -> credited (listener loop, no beat wait)",
            f"median {statistics.median(samples) * 1000:.0f} ms, "
            f"max {max(samples) * 1000:.0f} ms over {len(samples)}",
        )
        self.figure(
            "  with beat",
            "add up to HIVE_LISTENER_INTERVAL (3 s by default) for the next run",
        )


def rates() -> None:
    from decimal import Decimal

    from rates.assets import Pair
    from rates.services import rate_set
    from sons.models import SON
    from tests import fixtures

    admin = fixtures.make_user("bench_rates_admin", staff=True)
    rate_set(pair=Pair.HIVE_PHIVE, rate=Decimal("1"), set_by=admin)
    for i in (1, 2, 3):
        fixtures.make_son(f"bench-son-{i}", status=SON.Status.ACTIVE)
