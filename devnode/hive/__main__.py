"""Run the Hive dev node.

    python -m devnode.hive --port P [--host 127.0.0.1] [--state-file F]
        [--block-interval 3] [--irreversible-lag 20] [--accounts accounts.json]

Prints "hive devnode ready on <host>:<port>" on stdout once it answers (with --port 0 the port
is the one the system chose); logs go to stderr; SIGTERM or SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devnode.hive.chain import Chain
from devnode.hive.errors import HiveError
from devnode.hive.persistence import Journal, load_chain
from devnode.hive.server import RPCServer

log = logging.getLogger("devnode.hive")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    chain = _load(args.state_file, args.irreversible_lag)
    journal = Journal(args.state_file, chain) if args.state_file else None
    try:
        if args.accounts:
            _create_accounts(chain, _read_accounts(args.accounts))
        return _serve(chain, args)
    finally:
        if journal is not None:
            journal.close()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devnode.hive", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="0 lets the system choose")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-file", type=Path, help="keep the chain in this file")
    parser.add_argument(
        "--block-interval", type=float, default=3, help="seconds; 0 makes blocks only on demand"
    )
    parser.add_argument("--irreversible-lag", type=int, default=20, help="blocks")
    parser.add_argument("--accounts", type=Path, help="JSON array of account specs")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.block_interval < 0 or args.irreversible_lag < 0:
        parser.error("--block-interval and --irreversible-lag cannot be negative")
    return args


def _load(state_file: Path | None, irreversible_lag: int) -> Chain:
    if state_file is None:
        return Chain(irreversible_lag=irreversible_lag)
    return load_chain(state_file, irreversible_lag=irreversible_lag, clock=time.time)


def _read_accounts(path: Path) -> list[Any]:
    specs = json.loads(path.read_text())
    if not isinstance(specs, list):
        raise SystemExit(f"{path}: expected a JSON array of account specs")
    return specs


def _create_accounts(chain: Chain, specs: list[Any]) -> None:
    """Create the accounts that do not exist yet (a restart with a state file keeps its own)."""
    for spec in specs:
        if isinstance(spec, dict) and spec.get("name") in chain.state:
            continue
        try:
            chain.create_account(spec)
        except HiveError as exc:
            raise SystemExit(f"account spec {spec!r}: {exc.message}") from exc


def _serve(chain: Chain, args: argparse.Namespace) -> int:
    server = RPCServer((args.host, args.port), chain)
    producer = BlockProducer(chain, args.block_interval)
    _stop_on_signals(server)
    print(f"hive devnode ready on {args.host}:{server.server_port}", flush=True)
    log.info("chain id %s, head block %d", chain.chain_id, chain.head_block_num)
    producer.start()
    try:
        server.serve_forever()
    finally:
        producer.stop()
        server.server_close()
    log.info("stopped at head block %d", chain.head_block_num)
    return 0


class BlockProducer(threading.Thread):
    """Produces a block every interval seconds (none if the interval is 0)."""

    def __init__(self, chain: Chain, interval: float) -> None:
        super().__init__(name="block-producer", daemon=True)
        self.chain = chain
        self.interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while self.interval and not self._stopping.wait(self.interval):
            self.chain.produce_block()

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join()


def _stop_on_signals(server: RPCServer) -> None:
    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this (main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


if __name__ == "__main__":
    sys.exit(main())
