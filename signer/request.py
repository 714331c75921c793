"""The signing-request format (docs/signing-requests.md): its shape, and the signer's answers.

parse() checks the JSON's shape only, strictly: exactly the documented keys, exact types (a bool
is not a number), bounded sizes (each checked before anything is decoded), lower-case hex. What
the values mean is the policy's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from signer.bitcoin import MAX_MONEY, MAX_SCRIPT_BYTES, MAX_TX_BYTES

VERSION = 2
CHAIN = "bitcoin"
MAX_ITEMS = 5_000  # inputs, previous transactions or withdrawals; more than a transaction holds
MAX_PREV_TX_BYTES = MAX_TX_BYTES  # a standard transaction's limit; the portal spends no other
# The transaction and its previous transactions together, decoded: what a request may make the
# signer hold and hash. The portal keeps its requests below it (sidechains/bitcoin/withdrawals.py).
MAX_REQUEST_BYTES = 5_000_000

MALFORMED = "MALFORMED"
UNKNOWN_VERSION = "UNKNOWN_VERSION"
WRONG_CHAIN = "WRONG_CHAIN"

_KEYS = {
    "id",
    "version",
    "chain",
    "network",
    "tx",
    "inputs",
    "prev_txs",
    "withdrawals",
    "fee_bump_of",
}
# Optional: the federation version (its keys and threshold) whose wallet the request pays,
# named when the portal moves coins to a new version; signers sign only for one they accept.
_OPTIONAL_KEYS = {"federation"}
_FEDERATION_KEYS = {"keys", "threshold"}
_INPUT_KEYS = {"txid", "vout", "witness_script"}
_WITHDRAWAL_KEYS = {"id", "address", "amount"}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TXID = re.compile(r"[0-9a-f]{64}")


class RequestError(ValueError):
    """The request cannot be read; `reason` is its code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class InputClaim:
    """An input as the request names it: no amount, which comes from its previous transaction."""

    txid: str
    vout: int
    witness_script: bytes


@dataclass(frozen=True)
class Withdrawal:
    id: str
    address: str
    amount: int


@dataclass(frozen=True)
class SigningRequest:
    id: str
    network: str
    tx: bytes
    inputs: tuple[InputClaim, ...]
    prev_txs: Mapping[str, bytes]  # txid -> the transaction serialized without witnesses
    withdrawals: tuple[Withdrawal, ...]
    fee_bump_of: str | None
    federation: tuple[tuple[bytes, ...], int] | None = None  # (keys, threshold) if named


def parse(document: object) -> SigningRequest:
    """The request in `document` (decoded JSON); RequestError(MALFORMED, UNKNOWN_VERSION or
    WRONG_CHAIN) otherwise. The version is read first: another version may have other keys."""
    if not isinstance(document, dict):
        raise RequestError(MALFORMED, "the request is not a JSON object")
    version = document.get("version")
    if not _is_int(version):
        raise RequestError(MALFORMED, "version is not an integer")
    if version != VERSION:
        raise RequestError(UNKNOWN_VERSION, f"this signer reads version {VERSION} only")
    if not _KEYS <= set(document) <= _KEYS | _OPTIONAL_KEYS:
        raise RequestError(MALFORMED, f"the request must have exactly the keys {sorted(_KEYS)}")
    if document["chain"] != CHAIN:
        reason = WRONG_CHAIN if isinstance(document["chain"], str) else MALFORMED
        raise RequestError(reason, "this signer signs Bitcoin transactions only")
    request_id = _identifier(document["id"], "id")
    fee_bump_of = document["fee_bump_of"]
    if fee_bump_of is not None and _identifier(fee_bump_of, "fee_bump_of") == request_id:
        raise RequestError(MALFORMED, "a request cannot be a fee bump of itself")
    _check_size(document["tx"], document["prev_txs"])
    return SigningRequest(
        id=request_id,
        network=_text(document["network"], "network", 16),
        tx=_hex(document["tx"], "tx", 2 * MAX_TX_BYTES),
        inputs=tuple(_input(item) for item in _list(document["inputs"], "inputs", minimum=1)),
        prev_txs=_prev_txs(document["prev_txs"]),
        withdrawals=tuple(_withdrawal(w) for w in _list(document["withdrawals"], "withdrawals")),
        fee_bump_of=fee_bump_of,
        federation=_federation(document["federation"]) if "federation" in document else None,
    )


def _federation(item: object) -> tuple[tuple[bytes, ...], int]:
    item = _check_keys(item, _FEDERATION_KEYS, "the federation")
    keys = _list(item["keys"], "the federation's keys", minimum=1)
    if len(keys) > 20:
        raise RequestError(MALFORMED, "the federation has more than 20 keys")
    threshold = item["threshold"]
    if not _is_int(threshold) or not 1 <= threshold <= len(keys):
        raise RequestError(MALFORMED, "the federation's threshold is out of range")
    return tuple(_hex(key, "a federation key", 66) for key in keys), threshold


def request_id_of(document: object) -> str | None:
    """The id to answer with, if the document has a readable one."""
    request_id = document.get("id") if isinstance(document, dict) else None
    return request_id if isinstance(request_id, str) and _ID.fullmatch(request_id) else None


def signed(request_id: str, signatures: list[dict[str, Any]]) -> dict[str, Any]:
    return {"request_id": request_id, "signatures": signatures}


def refused(request_id: str | None, reasons: tuple[str, ...]) -> dict[str, Any]:
    return {"request_id": request_id, "refused": True, "reasons": list(reasons)}


def _input(item: object) -> InputClaim:
    item = _check_keys(item, _INPUT_KEYS, "an input")
    txid = _txid(item["txid"], "an input's txid")
    vout = item["vout"]
    if not _is_int(vout) or not 0 <= vout <= 0xFFFFFFFF:
        raise RequestError(MALFORMED, "an input's vout is not a 32-bit number")
    script = _hex(item["witness_script"], "witness_script", 2 * MAX_SCRIPT_BYTES)
    return InputClaim(txid, vout, script)


def _check_size(tx: object, prev_txs: object) -> None:
    """The transaction and its previous transactions fit in MAX_REQUEST_BYTES, counted on the
    hex strings before any is decoded (their types are checked when they are read)."""
    texts = [tx, *(prev_txs.values() if isinstance(prev_txs, dict) else ())]
    if sum(len(text) for text in texts if isinstance(text, str)) > 2 * MAX_REQUEST_BYTES:
        raise RequestError(MALFORMED, f"the transactions exceed {MAX_REQUEST_BYTES} bytes")


def _prev_txs(value: object) -> dict[str, bytes]:
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_ITEMS:
        raise RequestError(MALFORMED, f"prev_txs is not an object of 1 to {MAX_ITEMS} entries")
    return {
        _txid(txid, "a prev_txs key"): _hex(raw, "a previous transaction", 2 * MAX_PREV_TX_BYTES)
        for txid, raw in value.items()
    }


def _txid(value: object, what: str) -> str:
    if not isinstance(value, str) or not _TXID.fullmatch(value):
        raise RequestError(MALFORMED, f"{what} is not 64 lower-case hex digits")
    return value


def _withdrawal(item: object) -> Withdrawal:
    item = _check_keys(item, _WITHDRAWAL_KEYS, "a withdrawal")
    return Withdrawal(
        id=_identifier(item["id"], "a withdrawal's id"),
        address=_text(item["address"], "a withdrawal's address", 100),
        amount=_amount(item["amount"]),
    )


def _check_keys(document: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(document, dict) or set(document) != keys:
        raise RequestError(MALFORMED, f"{what} must have exactly the keys {sorted(keys)}")
    return document


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _amount(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_MONEY:
        raise RequestError(MALFORMED, "an amount is not a whole number of satoshi in range")
    return value


def _identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RequestError(MALFORMED, f"{what} is not an identifier of up to 128 characters")
    return value


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise RequestError(MALFORMED, f"{what} is not a string of 1 to {limit} characters")
    return value


def _hex(value: object, what: str, limit: int) -> bytes:
    """Lower-case hex, nothing else: decoded, it must encode back to the same text (which
    refuses upper case and the spaces bytes.fromhex would skip)."""
    if isinstance(value, str) and len(value) <= limit:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
        if raw is not None and raw.hex() == value:
            return raw
    raise RequestError(MALFORMED, f"{what} is not lower-case hex of at most {limit} digits")


def _list(value: object, what: str, *, minimum: int = 0) -> list[Any]:
    if not isinstance(value, list) or not minimum <= len(value) <= MAX_ITEMS:
        raise RequestError(MALFORMED, f"{what} is not a list of {minimum} to {MAX_ITEMS} items")
    return value
