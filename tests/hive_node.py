"""Start and stop fresh Hive dev nodes (python -m devnode.hive) for tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chains.hive.rpc import HiveRPC

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = re.compile(r"hive devnode ready on ([\d.]+):(\d+)")


class HiveDevNodeStartError(RuntimeError):
    pass


@dataclass
class HiveDevNode:
    """A running dev node process. Its output goes to files, so it never blocks on a pipe."""

    url: str
    port: int
    process: subprocess.Popen
    log_dir: Path

    def rpc(self, *, timeout: float = 10.0) -> HiveRPC:
        return HiveRPC(self.url, timeout=timeout)

    def log(self) -> str:
        """What the node wrote to stderr."""
        return _read(self.log_dir / "stderr")

    # debug_node_api: dev node only, as generatetoaddress is regtest only.

    def generate_blocks(self, count: int) -> None:
        with self.rpc() as rpc:
            rpc.call("debug_node_api.debug_generate_blocks", {"count": count})

    def create_account(self, name: str, **spec: Any) -> dict[str, Any]:
        """See devnode/hive/accounts.py for the spec (key, balance, active, ...)."""
        with self.rpc() as rpc:
            return rpc.call("debug_node_api.debug_create_account", {"name": name, **spec})[
                "account"
            ]

    def stop(self) -> int | None:
        """Stop the node (SIGTERM, then SIGKILL after 10 s); its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> HiveDevNode:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_hive_devnode(
    *,
    port: int | None = None,
    block_interval: float = 3,
    irreversible_lag: int = 20,
    accounts: list[dict[str, Any]] | None = None,
    state_file: Path | None = None,
    timeout: float = 10,
) -> HiveDevNode:
    """Start a dev node and wait for its ready line. Without a port the system picks a free
    one (the node binds port 0 and reports the port it got, so there is no race)."""
    log_dir = Path(tempfile.mkdtemp(prefix="hive-devnode-"))
    command = [
        sys.executable,
        "-m",
        "devnode.hive",
        "--port",
        str(port or 0),
        "--block-interval",
        str(block_interval),
        "--irreversible-lag",
        str(irreversible_lag),
    ]
    if accounts is not None:
        (log_dir / "accounts.json").write_text(json.dumps(accounts))
        command += ["--accounts", str(log_dir / "accounts.json")]
    if state_file is not None:
        command += ["--state-file", str(state_file)]
    with open(log_dir / "stdout", "wb") as stdout, open(log_dir / "stderr", "wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    try:
        host, bound_port = _wait_until_ready(process, log_dir, timeout)
    except BaseException:
        process.kill()
        process.wait()
        shutil.rmtree(log_dir, ignore_errors=True)
        raise
    return HiveDevNode(f"http://{host}:{bound_port}/", bound_port, process, log_dir)


def _wait_until_ready(process: subprocess.Popen, log_dir: Path, timeout: float) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = READY_LINE.search(_read(log_dir / "stdout"))
        if match:
            return match.group(1), int(match.group(2))
        if process.poll() is not None:
            raise HiveDevNodeStartError(
                f"the Hive dev node exited with status {process.returncode}:\n"
                + _read(log_dir / "stderr")
            )
        time.sleep(0.02)
    raise HiveDevNodeStartError(
        f"the Hive dev node did not get ready within {timeout} s:\n" + _read(log_dir / "stderr")
    )


def _read(path: Path) -> str:
    return path.read_text(errors="replace")
