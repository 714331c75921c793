"""Errors in the shape hived's JSON-RPC gives them.

hived turns an fc exception into {"code": -32003, "message": ..., "data": {"code", "name",
"message", ...}}. The message starts like hived's: "Assert Exception:<expression>: <text>" for a
failed FC_ASSERT, "<description>: <text>" for a typed exception (for example "missing required
active authority: Missing Active Authority alice"). error.data.name is hived's exception name.
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
ERROR_DURING_CALL = -32003


class HiveError(Exception):
    def __init__(
        self,
        name: str,
        fc_code: int,
        description: str,
        message: str,
        rpc_code: int = ERROR_DURING_CALL,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.fc_code = fc_code
        self.description = description
        self.message = message
        self.rpc_code = rpc_code

    def to_json(self) -> dict[str, Any]:
        data = {"code": self.fc_code, "name": self.name, "message": self.description, "stack": []}
        return {"code": self.rpc_code, "message": self.message, "data": data}


def _typed(name: str, fc_code: int, description: str, text: str) -> HiveError:
    return HiveError(name, fc_code, description, f"{description}: {text}")


def assertion(expression: str, text: str) -> HiveError:
    """A failed FC_ASSERT(expression, text)."""
    return HiveError(
        "assert_exception", 10, "Assert Exception", f"Assert Exception:{expression}: {text}"
    )


def expired(text: str) -> HiveError:
    return _typed(
        "transaction_expiration_exception", 4030100, "transaction expiration exception", text
    )


def tapos(text: str) -> HiveError:
    return _typed("transaction_tapos_exception", 4030200, "transaction tapos exception", text)


def missing_active_authority(account: str) -> HiveError:
    return _typed(
        "tx_missing_active_auth",
        3010000,
        "missing required active authority",
        f"Missing Active Authority {account}",
    )


def missing_owner_authority(account: str) -> HiveError:
    return _typed(
        "tx_missing_owner_auth",
        3020000,
        "missing required owner authority",
        f"Missing Owner Authority {account}",
    )


def irrelevant_signature() -> HiveError:
    return _typed(
        "tx_irrelevant_sig",
        3050000,
        "irrelevant signature included",
        "Unnecessary signature(s) detected",
    )


def duplicate_signature() -> HiveError:
    return _typed(
        "tx_duplicate_sig",
        3060000,
        "duplicate signature included",
        "Duplicate signature detected",
    )


def parse_error(text: str) -> HiveError:
    return HiveError("parse_error_exception", 4, "Parse Error", f"Parse Error:{text}")


def unsupported(text: str) -> HiveError:
    """Something hived does that this dev node does not: said plainly, never ignored."""
    return HiveError("unsupported_by_devnode", 0, "Not supported by the dev node", text)


def method_not_found(method: str) -> HiveError:
    return HiveError(
        "method_not_found",
        0,
        "Method not found",
        f"Could not find method {method}",
        METHOD_NOT_FOUND,
    )


def invalid_params(text: str) -> HiveError:
    return HiveError("invalid_params", 0, "Invalid parameters", text, INVALID_PARAMS)


def invalid_request(text: str) -> HiveError:
    return HiveError("invalid_request", 0, "Invalid request", text, INVALID_REQUEST)


def rpc_parse_error(text: str) -> HiveError:
    return HiveError("parse_error", 0, "Parse error", text, PARSE_ERROR)
