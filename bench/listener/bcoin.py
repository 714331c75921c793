"""A fresh in-memory bcoin node with its wallet plugin (node.js here), and batched JSON-RPC."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from chains.bitcoin.rpc import BitcoinRPC

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("node.js")
BCOIN = ROOT / "sidechains" / "bitcoin" / "node" / "node_modules" / "bcoin"
READY = "bcoin bench node ready"


class BenchNodeError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BenchNode:
    def __init__(self) -> None:
        if not BCOIN.is_dir():
            raise BenchNodeError(
                f"bcoin is not installed: run `npm ci --prefix {BCOIN.parents[1]}`"
            )
        self.port, self.wallet_port = _free_port(), _free_port()
        self.api_key = secrets.token_hex(16)
        self.log_dir = Path(tempfile.mkdtemp(prefix="bench-bcoin-"))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.wallet_url = f"http://127.0.0.1:{self.wallet_port}/"
        self.session = requests.Session()
        self.session.auth = ("bench", self.api_key)
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "BCOIN_MODULE": str(BCOIN),
            "BCOIN_HTTP_PORT": str(self.port),
            "BCOIN_WALLET_PORT": str(self.wallet_port),
            "BCOIN_API_KEY": self.api_key,
        }
        stdout = open(self.log_dir / "stdout", "wb")  # noqa: SIM115 - the child keeps it
        stderr = open(self.log_dir / "stderr", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            ["node", str(LAUNCHER)], env=env, stdout=stdout, stderr=stderr, cwd=ROOT
        )
        deadline = time.monotonic() + 30
        while READY not in (self.log_dir / "stdout").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise BenchNodeError((self.log_dir / "stderr").read_text()[-2000:])
            time.sleep(0.05)
        return process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def rpc(self, timeout: float = 60.0) -> BitcoinRPC:
        return BitcoinRPC(self.url, user="bench", password=self.api_key, timeout=timeout)

    def call(self, method: str, *params: Any) -> Any:
        return self._call(self.url, method, params)

    def wallet_call(self, method: str, *params: Any) -> Any:
        return self._call(self.wallet_url, method, params)

    def batch(self, method: str, params: list[list[Any]], *, wallet: bool = False) -> list[Any]:
        """One HTTP request with many calls of `method`; raises on the first error."""
        payload = [{"method": method, "params": p, "id": n} for n, p in enumerate(params)]
        url = self.wallet_url if wallet else self.url
        answers = self.session.post(url, json=payload, timeout=600).json()
        for answer in answers:
            if answer.get("error"):
                raise BenchNodeError(f"{method}: {answer['error']}")
        return [answer["result"] for answer in sorted(answers, key=lambda a: a["id"])]

    def wallet_put(self, path: str, body: dict) -> dict:
        response = self.session.put(self.wallet_url + path, json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def wallet_get(self, path: str) -> Any:
        response = self.session.get(self.wallet_url + path, timeout=600)
        response.raise_for_status()
        return response.json()

    def _call(self, url: str, method: str, params: tuple) -> Any:
        payload = {"method": method, "params": list(params), "id": 1}
        answer = self.session.post(url, json=payload, timeout=600).json()
        if answer.get("error"):
            raise BenchNodeError(f"{method}: {answer['error']}")
        return answer["result"]
