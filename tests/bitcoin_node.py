"""Start and stop fresh bcoin regtest nodes (devnode/bitcoin/regtest.js) for tests."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = REPO_ROOT / "devnode" / "bitcoin"
LAUNCHER = NODE_DIR / "regtest.js"
READY_LINE = "bcoin regtest ready on "
RPC_USER = "sonportal"


class BcoinStartError(RuntimeError):
    pass


@dataclass
class BcoinNode:
    """A running bcoin regtest process. Its output goes to files, so it never blocks on a pipe."""

    url: str
    api_key: str
    port: int
    process: subprocess.Popen
    log_dir: Path

    def rpc(self, *, timeout: float = 10.0) -> BitcoinRPC:
        return BitcoinRPC(self.url, user=RPC_USER, password=self.api_key, timeout=timeout)

    def log(self) -> str:
        """What the node wrote to stderr (warnings and errors)."""
        return _read(self.log_dir / "stderr")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> BcoinNode:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_bcoin(
    *,
    port: int | None = None,
    data_dir: str | None = None,
    api_key: str | None = None,
    timeout: float = 30,
) -> BcoinNode:
    """Start a regtest node (in memory unless data_dir is given) and wait until it answers.
    A node started again on its data_dir, port and api_key is the same node to its clients."""
    node_binary = _check_installed()
    port = port or free_port()
    api_key = api_key or secrets.token_hex(16)
    log_dir = Path(tempfile.mkdtemp(prefix="bcoin-"))
    with open(log_dir / "stdout", "wb") as stdout, open(log_dir / "stderr", "wb") as stderr:
        process = subprocess.Popen(
            [node_binary, str(LAUNCHER)],
            cwd=NODE_DIR,
            env=_node_env(port, api_key, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    node = BcoinNode(f"http://127.0.0.1:{port}/", api_key, port, process, log_dir)
    try:
        _wait_until_ready(node, timeout)
    except BaseException:
        node.stop()
        raise
    return node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_installed() -> str:
    if not (NODE_DIR / "node_modules" / "bcoin").is_dir():
        raise BcoinStartError(
            f"bcoin is not installed in {NODE_DIR}: run "
            "`npm ci --prefix devnode/bitcoin` in the repository root"
        )
    node_binary = shutil.which("node")
    if node_binary is None:
        raise BcoinStartError("`node` (Node.js 20) is not on PATH")
    return node_binary


def _node_env(port: int, api_key: str, data_dir: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCOIN_")}
    env.update(BCOIN_HTTP_PORT=str(port), BCOIN_API_KEY=api_key)
    if data_dir is not None:
        env["BCOIN_DATA_DIR"] = data_dir
    return env


def _wait_until_ready(node: BcoinNode, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    rpc = node.rpc(timeout=1.0)
    try:
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise BcoinStartError(
                    f"bcoin exited with status {node.process.returncode}:\n{node.log()}"
                )
            if READY_LINE in _read(node.log_dir / "stdout") and _answers(rpc):
                return
            time.sleep(0.05)
    finally:
        rpc.close()
    raise BcoinStartError(f"bcoin did not get ready within {timeout} s:\n{node.log()}")


def _answers(rpc: BitcoinRPC) -> bool:
    try:
        rpc.get_block_count()
    except BitcoinRPCError:
        return False
    return True


def _read(path: Path) -> str:
    return path.read_text(errors="replace")
