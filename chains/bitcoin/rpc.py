"""Bitcoin JSON-RPC client: Bitcoin Core in production, bcoin on regtest in dev and tests.

Plain Python and requests; imports nothing from Django, so the portal's adapters, management
commands and test helpers share it. Numbers in answers are parsed as Decimal, never float.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

SATOSHI_PER_BTC = 100_000_000
HEIGHT_OUT_OF_RANGE = -8  # getblockhash above the tip, in Bitcoin Core and bcoin alike


class BitcoinRPCError(Exception):
    """The node answered the call with an error."""

    def __init__(self, method: str, message: str, code: int | None = None) -> None:
        self.method = method
        self.message = message
        self.code = code
        suffix = "" if code is None else f" (code {code})"
        super().__init__(f"{method}: {message}{suffix}")


class BitcoinRPCUnavailable(BitcoinRPCError):
    """No usable answer: connection refused, timeout, HTTP error without JSON, bad auth."""


class BitcoinRPCAuthError(BitcoinRPCUnavailable):
    """The node refused the credentials (HTTP 401/403): a configuration error, not transient."""


class BitcoinRPC:
    def __init__(
        self, url: str, *, user: str = "", password: str = "", timeout: float = 10.0
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._session = requests.Session()
        if user or password:
            self._session.auth = (user, password)

    def __repr__(self) -> str:
        return f"BitcoinRPC({_without_credentials(self.url)!r})"

    def close(self) -> None:
        self._session.close()

    def call(self, method: str, *params: Any) -> Any:
        payload = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": params}
        response = self._post(method, payload)
        body = _json_body(method, response)
        if body.get("error"):
            raise _node_error(method, body["error"])
        return body["result"]

    def _post(self, method: str, payload: dict[str, Any]) -> requests.Response:
        try:
            return self._session.post(self.url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            where = _without_credentials(self.url)
            raise BitcoinRPCUnavailable(method, f"no answer from {where}: {exc}") from exc

    # Typed helpers: the calls the portal makes, all spoken by Bitcoin Core and bcoin.

    def get_block_count(self) -> int:
        return int(self.call("getblockcount"))

    def get_block_hash(self, height: int) -> str:
        return str(self.call("getblockhash", height))

    def best_block_hash(self, height: int) -> str | None:
        """The best chain's block at height; None below 0 or above the tip (e.g. after a reorg
        to a shorter chain). Transport failures still raise."""
        if height < 0:
            return None
        try:
            return self.get_block_hash(height)
        except BitcoinRPCUnavailable:
            raise
        except BitcoinRPCError as e:
            if e.code == HEIGHT_OUT_OF_RANGE:
                return None
            raise

    def get_block_raw(self, block_hash: str) -> bytes:
        return bytes.fromhex(self.call("getblock", block_hash, False))

    def get_blockchain_info(self) -> dict[str, Any]:
        return dict(self.call("getblockchaininfo"))

    def get_raw_transaction(self, txid: str) -> bytes:
        return bytes.fromhex(self.call("getrawtransaction", txid))

    def send_raw_transaction(self, tx: bytes) -> str:
        return str(self.call("sendrawtransaction", tx.hex()))

    def get_tx_out(
        self, txid: str, vout: int, *, include_mempool: bool = True
    ) -> dict[str, Any] | None:
        """The output if it is unspent (with include_mempool, not spent by a mempool
        transaction either); None if it is spent or the node does not know it."""
        answer = self.call("gettxout", txid, vout, include_mempool)
        return dict(answer) if answer else None

    def estimate_smart_fee(self, conf_target: int) -> int | None:
        """Fee rate in sat/kvB for confirmation within conf_target blocks; None if unknown."""
        return fee_rate_from_estimate(self.call("estimatesmartfee", conf_target))

    def generate_to_address(self, n: int, address: str) -> list[str]:
        return [str(block_hash) for block_hash in self.call("generatetoaddress", n, address)]


def fee_rate_from_estimate(answer: dict[str, Any]) -> int | None:
    """sat/kvB from an estimatesmartfee answer, rounded up so that a fee never undershoots.

    Bitcoin Core answers {"feerate": BTC/kvB, "blocks": n}, without "feerate" (and with
    "errors") when it has no estimate; bcoin 1.0.2 answers {"fee": BTC/kvB or -1, "blocks": n}.
    """
    rate = answer.get("feerate", answer.get("fee"))
    if rate is None:
        return None
    sat_per_kvb = Decimal(str(rate)) * SATOSHI_PER_BTC
    if sat_per_kvb <= 0:
        return None
    return int(sat_per_kvb.to_integral_value(rounding=ROUND_CEILING))


def _json_body(method: str, response: requests.Response) -> dict[str, Any]:
    if response.status_code in (401, 403):
        raise BitcoinRPCAuthError(
            method, f"HTTP {response.status_code}: the node refused the RPC user or password"
        )
    try:
        body = response.json(parse_float=Decimal)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not ("result" in body or body.get("error")):
        raise BitcoinRPCUnavailable(
            method, f"HTTP {response.status_code} without a JSON-RPC answer"
        )
    return body


def _node_error(method: str, error: Any) -> BitcoinRPCError:
    if not isinstance(error, dict):
        return BitcoinRPCError(method, str(error))
    code = error.get("code")
    return BitcoinRPCError(
        method, str(error.get("message", "")), code if isinstance(code, int) else None
    )


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
