"""python -m bench.listener: the deposit listener's speed, memory and latency; bcoin's wallet
doing the same detection. See bench/README.md and bench/listener/__init__.py."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from bench.listener import database
from bench.listener.bcoin import ROOT, BenchNode, BenchNodeError
from bench.listener.chain import Chain, Timings

TARGET_OUTPUTS_PER_SECOND = 20_000
TARGET_PEAK_RSS_MB = 300


@dataclass
class Figures:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, section: str, label: str, value: str) -> None:
        self.rows.append((section, label, value))
        print(f"  [{section}] {label}: {value}", file=sys.stderr, flush=True)

    def print(self, title: str) -> None:
        print(f"\n{title}")
        section = None
        for row_section, label, value in self.rows:
            if row_section != section:
                section = row_section
                print(f"\n{section}")
            print(f"  {label:<52} {value}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.listener", description=__doc__)
    parser.add_argument("--scripts", type=int, default=1_000_000, help="registered scripts")
    parser.add_argument("--blocks", type=int, default=200, help="blocks to scan")
    parser.add_argument("--txs", type=int, default=500, help="transactions per block")
    parser.add_argument(
        "--watch", type=int, default=10_000, help="addresses bcoin's wallet watches"
    )
    parser.add_argument("--share", type=float, default=0.1, help="payments that are deposits")
    parser.add_argument("--latency-blocks", type=int, default=20, help="blocks mined live")
    parser.add_argument("--database", default="sonportal_bench", help="the benchmark's database")
    parser.add_argument("--fresh", action="store_true", help="reload the scripts even if present")
    args = parser.parse_args(argv)
    if not 0 < args.watch <= args.scripts:
        parser.error("--watch must be between 1 and --scripts")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if "SECRET_KEY" not in os.environ and "SECRET_KEY_FILE" not in os.environ:
        sys.exit("Load the test stack's settings first: set -a; . .stack/test/env; set +a")
    os.environ["DATABASE_NAME"] = args.database
    database.ensure_database(args.database)
    node = BenchNode()
    try:
        _configure_django(node)
        Benchmark(args, node).run()
    finally:
        node.stop()


def _configure_django(node: BenchNode) -> None:
    os.environ.update(
        BITCOIN_RPC_URL=node.url,
        BITCOIN_RPC_USER="bench",
        BITCOIN_RPC_PASSWORD=node.api_key,
        BITCOIN_RPC_TIMEOUT="60",
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("BITCOIN_RPC_PASSWORD_FILE", None)
    import django

    django.setup()


class Benchmark:
    def __init__(self, args: argparse.Namespace, node: BenchNode) -> None:
        self.args, self.node = args, node
        self.chain = Chain(node)
        self.figures = Figures()
        self.deposits: list[tuple[str, bytes]] = []
        self.watched = [database.script_of(i) for i in range(args.watch)]

    def run(self) -> None:
        self.load_scripts()
        first, last = self.make_blocks()
        outputs = self.parse_figures(first, last)
        scan = self.portal_scan(first, last, outputs)
        self.bcoin_wallet(first, last, outputs, scan)
        self.latency(last)
        self.figures.print(self.title())

    def title(self) -> str:
        a = self.args
        return (
            f"Listener benchmark: {a.blocks} blocks x {a.txs} transactions, {a.scripts:,} "
            f"registered deposit scripts, bcoin wallet watching {a.watch:,} "
            f"(python {sys.version.split()[0]}, {os.cpu_count()} cores)"
        )

    # Setup

    def load_scripts(self) -> None:
        database.migrate()
        count = self.args.scripts
        if not self.args.fresh and database.scripts_present(count):
            self.figures.add("setup", "registered deposit scripts", f"{count:,} (reused)")
            return
        seconds = database.load_scripts(count, self.args.watch)
        users = -(-count // database.MAPPINGS_PER_USER)
        text = (
            f"{count:,} in {seconds:.1f} s by COPY ({users:,} users, 1 current + 99 expired each)"
        )
        self.figures.add("setup", "registered deposit scripts", text)

    def make_blocks(self) -> tuple[int, int]:
        a, started = self.args, time.perf_counter()
        self.chain.mature()
        self.chain.fan_out((a.blocks + a.latency_blocks) * a.txs)
        self.chain.timings = Timings()
        first = self.node.call("getblockcount") + 1
        for _ in range(a.blocks):
            raws, deposits = self.chain.payments(a.txs, self.watched, a.share)
            self.deposits += deposits
            self.chain.broadcast(raws)
            self.chain.mine_all()
        self._chain_figures(time.perf_counter() - started)
        return first, first + a.blocks - 1

    def _chain_figures(self, seconds: float) -> None:
        t = self.chain.timings
        rate = t.broadcast_count / t.broadcast_seconds
        self.figures.add("setup", "chain built (node, fan-out, blocks)", f"{seconds:.1f} s")
        text = f"{t.broadcast_count:,} txs in {t.broadcast_seconds:.1f} s ({rate:,.0f} tx/s)"
        self.figures.add("setup", "bcoin mempool acceptance (sendrawtransaction)", text)
        per_block = t.mine_seconds / t.mined_blocks
        text = f"{t.mined_blocks} blocks in {t.mine_seconds:.1f} s ({per_block:.2f} s/block)"
        self.figures.add("setup", "bcoin mining (generatetoaddress)", text)

    def parse_figures(self, first: int, last: int) -> int:
        from bitcoin.core import CBlock

        from chains.bitcoin.blocks import parse_block

        raws = [self._raw_block(h) for h in range(first, last + 1)]
        started = time.perf_counter()
        outputs = sum(len(parse_block(raw).outputs) for raw in raws)
        lean = outputs / (time.perf_counter() - started)
        sample = raws[:10]
        started = time.perf_counter()
        sample_outputs = sum(len(tx.vout) for raw in sample for tx in CBlock.deserialize(raw).vtx)
        reference = sample_outputs / (time.perf_counter() - started)
        text = f"{outputs:,} outputs, {len(self.deposits):,} of them deposits"
        self.figures.add("setup", "blocks to scan", f"{first}..{last}: {text}")
        self.figures.add("parsing only", "lean parser (blocks.py)", f"{lean:,.0f} outputs/s")
        text = f"{reference:,.0f} outputs/s (10 blocks)"
        self.figures.add("parsing only", "python-bitcoinlib CBlock.deserialize", text)
        return outputs

    def _raw_block(self, height: int) -> bytes:
        return bytes.fromhex(
            self.node.call("getblock", self.node.call("getblockhash", height), False)
        )

    # The portal's listener

    def portal_scan(self, first: int, last: int, outputs: int) -> dict:
        self._reset_listener(first - 1)
        with Scanner("bulk", last) as scanner:
            ready = scanner.read("ready")
            result = scanner.read("scanned")
        result["read_seconds"] = self._check_recorded(first, last)
        self._scan_figures(result, ready, outputs)
        text = f"{result['read_seconds']:.2f} s"
        self.figures.add("portal listener", "reading the deposits out (one query)", text)
        return result

    def _reset_listener(self, height: int) -> None:
        from django.conf import settings

        from sidechains.models import ChainCursor

        database.reset_listener_tables()
        first = max(0, height - settings.BITCOIN_REORG_DEPTH + 1)
        recent = [[h, self.node.call("getblockhash", h)] for h in range(first, height + 1)]
        ChainCursor.objects.create(chain="bitcoin", height=height, recent=recent)

    def _check_recorded(self, first: int, last: int) -> float:
        """Read the recorded deposits out (as an application would) and check them; seconds."""
        from sidechains.models import Deposit

        started = time.perf_counter()
        rows = Deposit.objects.filter(block_height__range=(first, last)).values_list(
            "txid", "vout", "amount", "user_id", "mapping_id", "block_hash"
        )
        recorded = {(txid, vout) for txid, vout, *_ in rows}
        seconds = time.perf_counter() - started
        expected = {(txid, 0) for txid, _ in self.deposits}
        if recorded != expected or Deposit.objects.count() != len(expected):
            raise BenchNodeError(f"recorded {len(recorded)} deposits, expected {len(expected)}")
        return seconds

    def _scan_figures(self, result: dict, ready: dict, outputs: int) -> None:
        f, seconds = self.figures, result["seconds"]
        rate = outputs / seconds
        verdict = "ok" if rate >= TARGET_OUTPUTS_PER_SECOND else "MISSED"
        f.add("portal listener", "blocks scanned", f"{result['blocks']}")
        f.add(
            "portal listener",
            "wall time",
            f"{seconds:.2f} s (scanner CPU {result['cpu_seconds']:.2f} s)",
        )
        f.add(
            "portal listener",
            "outputs matched per second",
            f"{rate:,.0f} (target >= 20,000: {verdict})",
        )
        per_cpu = outputs / result["cpu_seconds"]
        f.add("portal listener", "outputs per second of scanner CPU", f"{per_cpu:,.0f}")
        f.add(
            "portal listener",
            "deposits recorded",
            f"{len(self.deposits):,} (all expected, none else)",
        )
        peak = result["peak_rss_kb"] / 1024
        verdict = "ok" if peak <= TARGET_PEAK_RSS_MB else "MISSED"
        setup = ready["peak_rss_kb"] / 1024
        text = f"{peak:.0f} MB (after Django setup {setup:.0f} MB; target <= 300 MB: {verdict})"
        f.add("portal listener", "peak RSS, scanner process", text)
        pg = result.get("postgres") or {}
        if pg:
            hwm, private = pg["VmHWM"] / 1024, pg["RssAnon"] / 1024
            text = f"{hwm:.0f} MB peak incl. shared buffers it touched, {private:.0f} MB private"
            f.add("portal listener", "PostgreSQL backend it used", text)

    # bcoin's wallet

    def bcoin_wallet(self, first: int, last: int, outputs: int, portal: dict) -> None:
        self._bcoin_import()
        started = time.perf_counter()
        self.node.wallet_call("benchrescan", first)
        rescan = time.perf_counter() - started
        started = time.perf_counter()
        since = self.node.call("getblockhash", first - 1)
        listed = self.node.wallet_call("listsinceblock", since, 0, True)["transactions"]
        found = {(tx["txid"], tx["vout"]) for tx in listed if tx["category"] == "receive"}
        listing = time.perf_counter() - started
        self._bcoin_figures(rescan, listing, outputs, found)
        self._comparison(rescan, listing, portal)

    def _bcoin_import(self) -> None:
        self.node.wallet_put("wallet/bench", {"watchOnly": True})
        self.node.wallet_call("selectwallet", "bench")
        started = time.perf_counter()
        for i in range(0, self.args.watch, 1000):
            numbers = range(i, min(i + 1000, self.args.watch))
            addresses = [[database.address_of(n), "", False] for n in numbers]
            self.node.batch("importaddress", addresses, wallet=True)
        seconds = time.perf_counter() - started
        label = f"importaddress x {self.args.watch:,} (watch-only)"
        self.figures.add("bcoin wallet", label, f"{seconds:.1f} s (setup, not compared)")

    def _bcoin_figures(self, rescan: float, listing: float, outputs: int, found: set) -> None:
        f = self.figures
        text = f"{rescan:.2f} s ({outputs / rescan:,.0f} outputs/s)"
        f.add("bcoin wallet", "rescan of the same blocks (WalletDB.rescan)", text)
        f.add("bcoin wallet", "listsinceblock (reading the deposits out)", f"{listing:.2f} s")
        expected = {(txid, 0) for txid, _ in self.deposits}
        same = "the same as the portal's" if found == expected else "DIFFERENT"
        f.add("bcoin wallet", "deposits found", f"{len(found):,}, {same}")

    def _comparison(self, rescan: float, listing: float, portal: dict) -> None:
        scan, read = portal["seconds"], portal["read_seconds"]
        for label, theirs, ours in [
            ("detection: rescan + listsinceblock vs scan + read", rescan + listing, scan + read),
            ("bare: rescan vs scan (bcoin reads its own store)", rescan, scan),
        ]:
            ratio = theirs / ours
            verdict = "portal faster" if ratio > 1 else "bcoin faster"
            text = f"{theirs:.2f} s / {ours:.2f} s = {ratio:.2f} ({verdict})"
            self.figures.add("comparison (bcoin time / portal time)", label, text)

    # Latency

    def latency(self, last: int) -> None:
        end = last + self.args.latency_blocks
        delays = []
        with Scanner("live", end) as scanner:
            scanner.read("ready")
            for _ in range(self.args.latency_blocks):
                raws, _ = self.chain.payments(self.args.txs, self.watched, self.args.share)
                self.chain.broadcast(raws)
                self.chain.mine_all()
                mined = time.time()
                delays.append(scanner.read("recorded")["at"] - mined)
            done = scanner.read("done")
        self._latency_figures(delays, done)

    def _latency_figures(self, delays: list[float], done: dict) -> None:
        ms = sorted(1000 * d for d in delays)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        p50 = statistics.median(ms)
        text = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms ({len(ms)} blocks)"
        self.figures.add("latency", "block mined -> its deposits committed", text)
        self.figures.add(
            "latency",
            "(listener polling continuously; beat adds)",
            "up to BITCOIN_LISTENER_INTERVAL, 10 s",
        )
        self.figures.add(
            "latency", "peak RSS, live scanner", f"{done['peak_rss_kb'] / 1024:.0f} MB"
        )


class Scanner:
    """bench.listener.scanner in a child process, read line by line."""

    def __init__(self, mode: str, end: int) -> None:
        argv = [sys.executable, "-m", "bench.listener.scanner", mode, "--end", str(end)]
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)

    def read(self, event: str) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise BenchNodeError(f"the scanner exited with {self.process.wait()} before {event!r}")
        message = json.loads(line)
        if message["event"] != event:
            raise BenchNodeError(f"expected {event!r} from the scanner, got {message}")
        return message

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    main()
