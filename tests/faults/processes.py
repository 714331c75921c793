"""The processes of a fault run, each started as production starts it, killed with SIGKILL and
restarted: two gunicorn web processes, two Celery workers with different hostnames, beat, three
signers, the bcoin node (with a data folder, so it survives its kills); and restarts of the
test stack's own PostgreSQL and Redis (bin/stack.py)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from signer.keystore import Keys, save
from tests import fixtures
from tests.bitcoin_node import BcoinNode, free_port, start_bcoin

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"


@dataclass
class Process:
    """One supervised process: started in its own session so that a kill takes its children
    (gunicorn's and Celery's worker processes) with it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, to the whole process group: no cleanup, as a power cut."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if not self.running():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Node:
    """The bcoin node, with its chain in a folder: killed and started again on the same port
    and key, it comes back with its blocks (not its mempool, as a real node without
    persistence)."""

    folder: Path
    port: int = field(default_factory=free_port)
    api_key: str = "fault-run-bcoin-key"
    node: BcoinNode | None = None
    starts: int = 0

    def start(self) -> None:
        self.node = start_bcoin(
            port=self.port, data_dir=str(self.folder), api_key=self.api_key, timeout=60
        )
        self.starts += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def running(self) -> bool:
        return self.node is not None and self.node.process.poll() is None

    def kill(self) -> None:
        if self.node is not None:
            self.node.process.kill()
            self.node.process.wait()

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()


def stack():
    """bin/stack.py's Stack for the test profile (the same ports as this run's services)."""
    spec = importlib.util.spec_from_file_location("sonportal_stack", ROOT / "bin" / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Stack("test")


def restart_postgres() -> float:
    """A fast shutdown and a start: every open connection breaks. Returns the seconds down."""
    started = time.monotonic()
    services = stack()
    services.stop_postgres()
    services.start_postgres()
    return time.monotonic() - started


def restart_redis() -> float:
    """Redis keeps nothing on disk here: queued tasks and results are lost, as in a crash."""
    started = time.monotonic()
    services = stack()
    services.stop("redis")
    services.start_redis()
    return time.monotonic() - started


# Blocks after a deposit's block by which the run's portal sweeps it (half way it starts).
SWEEP_DEADLINE = 12
# Seconds without a heartbeat before the liveness check marks a SON down. Killed signers are
# back within ~2 s, so single kills rarely take a SON down; the outages' stopped signers do.
SON_DOWN_TIME = 5


def portal_env(node: Node, database: str, start_height: int) -> dict[str, str]:
    """The web, worker and beat processes' environment: the test stack's settings, this run's
    database and node, and short intervals so that the pipelines turn many times."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITCOIN_RPC_PASSWORD")}
    return env | {
        "DATABASE_NAME": database,
        "BITCOIN_RPC_URL": node.url,
        "BITCOIN_RPC_USER": "sonportal",
        "BITCOIN_RPC_PASSWORD": node.api_key,
        "BITCOIN_RPC_TIMEOUT": "5",
        "BITCOIN_START_HEIGHT": str(start_height),
        "BITCOIN_CONFIRMATIONS": "*:1",
        "BITCOIN_WITHDRAWAL_CONFIRMATIONS": "1",
        "BITCOIN_LISTENER_INTERVAL": "1",
        "BITCOIN_WITHDRAWAL_REBROADCAST_AFTER": "5",
        "BITCOIN_DEPOSIT_TIMELOCK": str(settings.BITCOIN_DEPOSIT_TIMELOCK),
        # Deposits are swept a few blocks after their block, so sweeps run under the kills too.
        "BITCOIN_SWEEP_DEADLINE": str(SWEEP_DEADLINE),
        # A deadline of weeks squeezed into 12 blocks puts nearly every sweep delayed by a kill
        # past half way, where its rate climbs to the cap: with the production cap (50 sat/vB)
        # the sweeps would cost many times the 2 sat/vB the deposits' sweep fees were priced
        # at. A cap of 3 keeps the climb to what a real deadline's rarely delayed sweep sees,
        # and the run checks the fee pool stays above zero (docs/decisions.md).
        "BITCOIN_WITHDRAWAL_FEERATE_CAP": "3",
        # Signers heartbeat every second: a SON silent for SON_DOWN_TIME goes down, as the
        # outages of tests/faults/refunds.py need (two SONs down, deposits refund_pending).
        "SON_DOWN_TIME": str(SON_DOWN_TIME),
        "SON_LIVENESS_CHECK_EVERY": "1",
        # The tick raises the refund proposals (proposals/tasks.py): not a minute's wait.
        "PROPOSALS_TICK_EVERY": "2",
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def portal_processes(env: dict[str, str], folder: Path) -> tuple[dict[str, Process], list[str]]:
    """Two web processes (their URLs returned), two workers, beat."""
    python = sys.executable
    webs = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = {}
    for name, bind in zip(("web-a", "web-b"), webs, strict=True):
        argv = [python, "-m", "gunicorn", "sonportal.wsgi", "--bind", bind, "--workers", "1"]
        processes[name] = Process(name, [*argv, "--timeout", "30"], env, folder / f"{name}.log")
    celery = [python, "-m", "celery", "-A", "sonportal"]
    for name in ("worker-1", "worker-2"):
        argv = [*celery, "worker", "-l", "warning", "-n", f"{name}@faults", "--concurrency", "1"]
        # As in production (README): with Redis, gossip, mingle and heartbeat keep a worker from
        # consuming again after the broker restarts (celery/celery#8030, #8091).
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        processes[name] = Process(name, argv, env, folder / f"{name}.log")
    beat = [*celery, "beat", "-l", "warning", "--pidfile="]
    processes["beat"] = Process("beat", beat, env, folder / "beat.log")
    return processes, [f"http://{bind}" for bind in webs]


def signer_processes(
    federation: dict[str, str], webs: list[str], folder: Path, timelock: int
) -> dict[str, Process]:
    """The SONs' signers (name -> token given), each with its own key file, configuration and
    journal, spread over the two web processes; none of the portal's settings in their env."""
    keys = [fixtures.son_key(name).public_key.format().hex() for name in federation]
    env = {"PATH": os.environ.get("PATH", os.defpath), "SIGNER_PASSPHRASE": PASSPHRASE}
    processes = {}
    for i, (name, token) in enumerate(federation.items()):
        home = folder / name
        home.mkdir()
        save(home / "son.key", Keys(fixtures.son_key(name), fixtures.son_key(name, "hive")),
             PASSPHRASE, n=2**10)  # fmt: skip
        (home / "token").write_text(token + "\n")
        config = {
            "network": settings.BITCOIN_NETWORK,
            "federation_keys": keys,
            "deposit_timelock": timelock,
            "max_feerate": 50,
            "max_fee": 10_000_000,
            "daily_cap": 1_000 * 100_000_000,
            "journal": "journal.sqlite",
        }
        (home / "signer.json").write_text(json.dumps(config))
        argv = [sys.executable, "-m", "signer", "serve", "--key", str(home / "son.key")]
        argv += ["--config", str(home / "signer.json"), "--token-file", str(home / "token")]
        argv += ["--portal-url", webs[i % len(webs)]]
        argv += ["--heartbeat-every", "1", "--poll-every", "0.5"]
        processes[f"signer-{i + 1}"] = Process(f"signer-{i + 1}", argv, env, home / "signer.log")
    return processes
