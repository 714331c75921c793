"""One measured step in its own process, so its peak RSS is its own:

    python -m bench.proofs.child tree N     the Merkle sum tree of N synthetic balances, in memory
    python -m bench.proofs.child epoch      epoch_create() on the benchmark's database

Prints one JSON line of figures.
"""

import json
import secrets
import sys
import time

from bench.listener.scanner import peak_rss_kb


def tree_in_memory(n: int) -> dict:
    from solvency import tree
    from solvency.tree import build_leaves, leaf_chunk_tops

    accounts = [(i, f"user:{i}", amounts_of(i)) for i in range(1, n + 1)]
    rss_input = peak_rss_kb()
    started = time.perf_counter()
    leaves = build_leaves(secrets.token_bytes(32), accounts)
    hashed = time.perf_counter()
    tops = leaf_chunk_tops(leaves)
    top = tree.top_of(tops, 3)
    root = tree.root_hash(["pBTC", "pHIVE", "pHBD"], top)
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "salts_commitments_sort_seconds": hashed - started,
        "tree_seconds": done - hashed,
        "peak_rss_mb": peak_rss_kb() / 1024,
        "input_rss_mb": rss_input / 1024,
        "root": root.hex(),
        "totals": list(top.sums),
    }


def epoch() -> dict:
    import django

    django.setup()
    from solvency.epochs import epoch_create

    started = time.perf_counter()
    made = epoch_create()
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_kb() / 1024,
        "number": made.number,
        "leaf_count": made.leaf_count,
        "root": made.root,
        "totals": made.totals,
    }


def amounts_of(i: int) -> tuple[int, int, int]:
    """Deterministic, varied holdings: everyone some pBTC, most some pHIVE, a fifth pHBD."""
    return (
        1 + (i * 7919) % 100_000_000,
        (i * 104_729) % 5_000_000 if i % 7 else 0,
        i % 5 and 0 or 1000 + i,
    )


if __name__ == "__main__":
    figures = tree_in_memory(int(sys.argv[2])) if sys.argv[1] == "tree" else epoch()
    sys.stdout.write(json.dumps(figures) + "\n")
