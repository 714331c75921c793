"""python -m bench.proofs: a liabilities epoch of --balances accounts (default 1,000,000).

1. The Merkle sum tree in memory (salts, commitments, sort, leaves, nodes, root), alone in a
   child process: time and peak RSS.
2. The whole epoch on PostgreSQL (its own database): the balances loaded by COPY, then
   epoch_create() in a child process (the snapshot query, the tree, the leaves written by COPY):
   time and peak RSS.
3. Proofs: --samples random accounts' proofs from the database (proof_for): time per proof,
   size of its JSON, and the stand-alone verifier's time per proof.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

from bench.listener import database
from bench.proofs.child import amounts_of

ASSETS = ("pBTC", "pHIVE", "pHBD")


def run_child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.proofs.child", *args],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_balances(n: int) -> float:
    """Replace every user and balance with n users holding amounts_of(i); returns seconds."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as c:
        c.execute("TRUNCATE auth_user, solvency_epoch RESTART IDENTITY CASCADE")
        c.execute("TRUNCATE ledger_ledgeraccount RESTART IDENTITY CASCADE")
        raw = c.connection.cursor()
        with raw.copy(
            "COPY auth_user (id, password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                copy.write_row(
                    (i, "!", False, f"holder_{i}", "", "", "", False, True, "2026-01-01")
                )
        with raw.copy("COPY ledger_ledgeraccount (id, user_id, system) FROM STDIN") as copy:
            for i in range(1, n + 1):
                copy.write_row((i, i, ""))
            copy.write_row((n + 1, None, "issuance"))
        supply = [0, 0, 0]
        with raw.copy(
            "COPY ledger_balance (account_id, asset, amount, may_go_negative) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                for k, amount in enumerate(amounts_of(i)):
                    if amount:
                        copy.write_row((i, ASSETS[k], amount, False))
                        supply[k] += amount
            for k, total in enumerate(supply):
                copy.write_row((n + 1, ASSETS[k], -total, True))
        for table in ("auth_user", "ledger_ledgeraccount"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [n + 1])
    with connection.cursor() as c:
        c.execute("ANALYZE ledger_balance")
    return time.perf_counter() - started


def loaded(n: int) -> bool:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM ledger_ledgeraccount WHERE system = ''")
        return c.fetchone()[0] == n


def sample_proofs(samples: int, n: int) -> dict:
    from ledger.models import LedgerAccount
    from proofs.verify import verify
    from solvency.epochs import proof_for
    from solvency.models import Epoch

    epoch = Epoch.objects.order_by("-number").first()
    ids = random.Random(1).sample(range(1, n + 1), samples)
    accounts = list(LedgerAccount.objects.filter(pk__in=ids))
    build, check, sizes, steps = [], [], [], []
    for account in accounts:
        started = time.perf_counter()
        proof = proof_for(epoch=epoch, account=account)
        build.append(time.perf_counter() - started)
        encoded = json.dumps(proof)
        sizes.append(len(encoded))
        steps.append(len(proof["path"]))
        started = time.perf_counter()
        verify(json.loads(encoded), epoch.root)
        check.append(time.perf_counter() - started)
    return {"build": build, "verify": check, "sizes": sizes, "steps": steps}


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"mean {statistics.mean(values) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def print_proofs(samples: int, proofs: dict) -> None:
    print(f"\n3. proofs ({samples} random users):")
    print(f"   building one (proof_for, database):  {_ms(proofs['build'])}")
    print(
        f"   size: {statistics.mean(proofs['sizes']):.0f} bytes of JSON on average "
        f"({min(proofs['steps'])}-{max(proofs['steps'])} path steps)"
    )
    print(f"   verifying one (proofs.verify):       {_ms(proofs['verify'])}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proofs", description=__doc__)
    parser.add_argument("--balances", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--database", default="sonportal_bench_proofs")
    parser.add_argument("--fresh", action="store_true", help="reload the balances")
    args = parser.parse_args(argv)
    n = args.balances

    print(f"Liabilities epoch of {n:,} balances", flush=True)
    memory = run_child("tree", str(n))
    print(
        f"\n1. tree in memory: {memory['seconds']:.1f} s "
        f"(salts, commitments, sort {memory['salts_commitments_sort_seconds']:.1f} s; "
        f"leaves and nodes {memory['tree_seconds']:.1f} s), peak RSS "
        f"{memory['peak_rss_mb']:.0f} MB ({memory['input_rss_mb']:.0f} MB of it the input)",
        flush=True,
    )

    os.environ["DATABASE_NAME"] = args.database
    database.ensure_database(args.database)
    import django

    django.setup()
    database.migrate()
    if args.fresh or not loaded(n):
        print(f"   loading {n:,} users and balances by COPY: {load_balances(n):.1f} s", flush=True)
    epoch = run_child("epoch")
    print(
        f"\n2. epoch_create() on PostgreSQL: {epoch['seconds']:.1f} s, peak RSS "
        f"{epoch['peak_rss_mb']:.0f} MB; epoch {epoch['number']}, {epoch['leaf_count']:,} "
        f"leaves, totals {epoch['totals']}",
        flush=True,
    )
    assert epoch["totals"] == memory["totals"], "the database's tree and the memory's disagree"

    print_proofs(args.samples, sample_proofs(args.samples, n))


if __name__ == "__main__":
    main()
