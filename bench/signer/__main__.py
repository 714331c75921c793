"""python -m bench.signer: the signer's input signatures per second per core, raw and through
sign_request, at growing journal sizes. See bench/README.md and bench/signer/__init__.py."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import coincurve

from bench.signer.requests import SEED_DAYS, SEED_INPUTS, SEED_PAYOUTS, Requests, seed
from signer.bitcoin import MAX_MONEY
from signer.journal import Journal
from signer.signing import sign_request
from tests.signer.withdrawals import config

TARGET_PER_SECOND = 10_000


@dataclass
class Measured:
    journal_size: int
    signatures: int
    wall: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.signatures / self.wall

    @property
    def per_cpu_second(self) -> float:
        return self.signatures / self.cpu


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.signer", description=__doc__)
    parser.add_argument("--inputs", type=int, default=50, help="inputs per request")
    parser.add_argument("--withdrawals", type=int, default=20, help="payouts per request")
    parser.add_argument(
        "--requests",
        type=int,
        default=200,
        help="requests signed per size (enough to include the journal's checkpoints)",
    )
    parser.add_argument("--sizes", default="10000,100000", help="journal sizes after 0")
    parser.add_argument("--raw", type=int, default=20_000, help="raw signatures to time")
    parser.add_argument("--folder", help="where the journal goes (default: a temporary folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    raw = raw_signatures(args.raw)
    print(f"raw coincurve signatures          {raw:>10,.0f} /s (one core)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-signer-", dir=args.folder) as folder:
        rows = measure_sizes(args, Path(folder) / "journal.sqlite")
    print_rows(args, rows, raw)
    print(f"\n(run: {time.perf_counter() - started:.0f} s)")


def raw_signatures(count: int) -> float:
    key = coincurve.PrivateKey(hashlib.sha256(b"bench raw").digest())
    digests = [hashlib.sha256(n.to_bytes(8, "little")).digest() for n in range(count)]
    start = time.perf_counter()
    for digest in digests:
        key.sign(digest, hasher=None)
    return count / (time.perf_counter() - start)


def measure_sizes(args: argparse.Namespace, path: Path) -> list[Measured]:
    sizes = [0, *(int(n) for n in args.sizes.split(",") if n)]
    requests = Requests(args.inputs, args.withdrawals)
    signer = config(0, max_fee=MAX_MONEY, daily_cap=MAX_MONEY)
    rows, seeded = [], 0
    for size in sizes:
        if size > seeded:
            began = time.perf_counter()
            seed(path, seeded, size, datetime.now(UTC))
            os.sync()  # the seeding's writes reach the disk before the clock starts, not during
            print(f"seeded {size - seeded:,} requests in {time.perf_counter() - began:.1f} s")
            seeded = size
        documents = [requests.make() for _ in range(args.requests)]
        rows.append(measure(documents, signer, path, size))
        print(f"journal of {size:>7,}: {rows[-1].per_second:,.0f} input signatures/s", flush=True)
    return rows


def measure(documents: list[dict], signer, path: Path, size: int) -> Measured:
    """sign_request on each document once, in one process, against the journal at `path`."""
    with Journal(path) as journal:
        start, cpu = time.perf_counter(), time.process_time()
        answers = [sign_request(d, signer, journal, datetime.now(UTC)) for d in documents]
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    refused = [answer for answer in answers if "signatures" not in answer]
    if refused:
        sys.exit(f"the signer refused a benchmark request: {refused[0]}")
    signatures = sum(len(answer["signatures"]) for answer in answers)
    return Measured(size, signatures, wall, cpu)


def print_rows(args: argparse.Namespace, rows: list[Measured], raw: float) -> None:
    print(
        f"\nsign_request, requests of {args.inputs} inputs (each its own previous transaction)"
        f" and {args.withdrawals} payouts, {args.requests} requests per size;"
        f"\nseeded requests: {SEED_INPUTS} outpoints and {SEED_PAYOUTS} payouts each,"
        f" spread over {SEED_DAYS} days\n"
    )
    print("journal (signed requests)   input signatures/s   per CPU second   vs raw")
    for row in rows:
        print(
            f"{row.journal_size:>25,}   {row.per_second:>18,.0f}   {row.per_cpu_second:>14,.0f}"
            f"   {row.per_second / raw:>6.2f}x"
        )
    slowest = min(row.per_second for row in rows)
    flat = slowest / max(row.per_second for row in rows)
    verdict = "met" if slowest >= TARGET_PER_SECOND else "NOT met"
    print(
        f"Target >= {TARGET_PER_SECOND:,}/s at every size: slowest {slowest:,.0f}/s, {verdict};"
        f" slowest/fastest {flat:.2f}"
    )


if __name__ == "__main__":
    main()
