"""Hive JSON-RPC client: a Hive API node in production, the Hive dev node in dev and tests.

Plain Python and requests, one Session, one attempt per call with a timeout: it never retries
on its own (beem retries for up to ~100 minutes by default, which is why the portal does not
read through beem). The helpers use the appbase APIs (database_api, block_api,
network_broadcast_api), whose amounts are integers in base units: {"amount": "1000",
"precision": 3, "nai": "@@000000021"} is 1.000 HIVE.
"""

from __future__ import annotations

import itertools
from typing import Any

import requests


class HiveRPCError(Exception):
    """The node answered the call with an error (hived's message is in .message)."""

    def __init__(
        self, method: str, message: str, code: int | None = None, data: Any = None
    ) -> None:
        self.method = method
        self.message = message
        self.code = code
        self.data = data
        super().__init__(f"{method}: {message}")

    @property
    def name(self) -> str | None:
        """hived's exception name, such as "tx_missing_active_auth", when the node gives it."""
        return self.data.get("name") if isinstance(self.data, dict) else None

    @property
    def is_duplicate_transaction(self) -> bool:
        """The node already has this transaction: a re-broadcast, not a failure."""
        return "Duplicate transaction check failed" in self.message


class HiveRPCUnavailable(Exception):
    """No usable answer: connection refused, timeout, or an HTTP answer without JSON-RPC.

    Deliberately not a HiveRPCError: a broadcast that got no answer may still have reached the
    chain, so callers must not treat it as a rejection.
    """

    def __init__(self, method: str, message: str) -> None:
        self.method = method
        self.message = message
        super().__init__(f"{method}: {message}")


class HiveRPC:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"HiveRPC({self.url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HiveRPC:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, method: str, params: list[Any] | dict[str, Any]) -> Any:
        """One JSON-RPC call: positional params (a list) for condenser_api, named params (an
        object) for the appbase APIs."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        body = self._post(method, payload)
        if body.get("error") is not None:
            raise _node_error(method, body["error"])
        return body["result"]

    def _post(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._session.post(self.url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise HiveRPCUnavailable(method, f"no answer from {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not ("result" in body or body.get("error")):
            raise HiveRPCUnavailable(
                method, f"HTTP {response.status_code} without a JSON-RPC answer"
            )
        return body

    # Typed helpers: the calls the portal makes.

    def get_dynamic_global_properties(self) -> dict[str, Any]:
        """head_block_number, head_block_id, time, last_irreversible_block_num, ..."""
        return dict(self.call("database_api.get_dynamic_global_properties", {}))

    def get_config(self) -> dict[str, Any]:
        return dict(self.call("database_api.get_config", {}))

    def get_accounts(self, names: list[str]) -> list[dict[str, Any]]:
        """The accounts that exist among names (unknown names are simply absent)."""
        return list(self.call("database_api.find_accounts", {"accounts": names})["accounts"])

    def account_exists(self, name: str) -> bool:
        return any(account["name"] == name for account in self.get_accounts([name]))

    def get_block(self, num: int) -> dict[str, Any] | None:
        """The block (operations as {"type", "value"}, with "block_id" and "transaction_ids"),
        or None if the chain has no block with that number yet."""
        answer = self.call("block_api.get_block", {"block_num": num})
        block: dict[str, Any] | None = answer.get("block")
        return block

    def get_block_range(self, start: int, count: int) -> list[dict[str, Any]]:
        """Up to count (at most 1000) consecutive blocks from start, in the form of get_block;
        fewer when the chain ends sooner (hived answers only the blocks it has)."""
        answer = self.call(
            "block_api.get_block_range", {"starting_block_num": start, "count": count}
        )
        return list(answer.get("blocks", []))

    def get_transaction(self, trx_id: str) -> dict[str, Any] | None:
        """The transaction with its block_num, from irreversible blocks only; None if unknown."""
        try:
            return dict(
                self.call(
                    "account_history_api.get_transaction",
                    {"id": trx_id, "include_reversible": False},
                )
            )
        except HiveRPCError as e:
            if "Unknown Transaction" in e.message or "unknown" in e.message.lower():
                return None
            raise

    def broadcast_transaction(self, trx: dict[str, Any]) -> None:
        """Hand a signed transaction to the node. A HiveRPCError is a rejection; hived answers
        "Duplicate transaction check failed" for one it already has, which is not a failure."""
        self.call("network_broadcast_api.broadcast_transaction", {"trx": trx})


def _node_error(method: str, error: Any) -> HiveRPCError:
    if not isinstance(error, dict):
        return HiveRPCError(method, str(error))
    code = error.get("code")
    return HiveRPCError(
        method,
        str(error.get("message", "")),
        code if isinstance(code, int) else None,
        error.get("data"),
    )
