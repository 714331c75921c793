"""python -m bench.hive: Hive deposits detected per second over irreversible blocks, peak RSS,
and the latency from a transfer's block becoming irreversible to its credit.

Runs on the test stack's PostgreSQL (its own database) and a fresh Hive dev node. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.listener.database import ensure_database

FEDERATION = "son-federation"
LAG = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hive", description=__doc__)
    parser.add_argument("--blocks", type=int, default=10_000, help="irreversible blocks to read")
    parser.add_argument("--transfers", type=int, default=1_000, help="deposits among them")
    parser.add_argument("--accounts", type=int, default=100_000, help="mapped Hive accounts")
    parser.add_argument("--latency-samples", type=int, default=10)
    parser.add_argument("--database", default="sonportal_bench_hive")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if "SECRET_KEY" not in os.environ and "SECRET_KEY_FILE" not in os.environ:
        sys.exit("Load the test stack's settings first: set -a; . .stack/test/env; set +a")
    os.environ["DATABASE_NAME"] = args.database
    os.environ["LOG_LEVEL"] = "WARNING"
    ensure_database(args.database)
    from tests.devnode import helpers
    from tests.hive_node import start_hive_devnode

    accounts = [{"name": FEDERATION, "balance": "1.000 HIVE", "key": helpers.public_key("f")}]
    node = start_hive_devnode(block_interval=0, irreversible_lag=LAG, accounts=accounts)
    try:
        os.environ.update(HIVE_NODE_URL=node.url, HIVE_FEDERATION_ACCOUNT=FEDERATION)
        import django

        django.setup()
        from bench.hive.run import Benchmark

        Benchmark(args, node).run()
    finally:
        node.stop()


if __name__ == "__main__":
    main()
