"""The signer's HTTP client for the portal's signer-facing API (token authentication), and
the signed heartbeat it sends."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any
from urllib.parse import quote

import requests
from coincurve import PrivateKey

USER_AGENT = "son-signer/0.1"
ME_PATH = "/api/v1/son/me"
HEARTBEAT_PATH = "/api/v1/son/heartbeat"
SIGNING_REQUESTS_PATH = "/api/v1/son/signing-requests"
HEARTBEAT_DOMAIN = b"sonportal-heartbeat:v2:"
HEARTBEAT_VERSION = 2
_MAX_MESSAGE = 300
# An answer is read up to this size before it is decoded: room for several signing requests at
# their largest (signer.request.MAX_REQUEST_BYTES, twice that in hex), never an unbounded body.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


def heartbeat_message(
    son: int,
    timestamp: int,
    nonce: str,
    federations: list[str] | None = None,
    hive_federations: list[str] | None = None,
) -> bytes:
    """The bytes a heartbeat (version 2) signs:
    b"sonportal-heartbeat:v2:<son>:<timestamp>:<nonce>:" + heartbeat_lists_digest(...)."""
    digest = heartbeat_lists_digest(federations, hive_federations)
    return HEARTBEAT_DOMAIN + f"{son}:{timestamp}:{nonce}:{digest}".encode()


def heartbeat_lists_digest(
    federations: list[str] | None, hive_federations: list[str] | None
) -> str:
    """SHA-256 (hex) of "<bitcoin>;<hive>": each list's fingerprints sorted, without duplicates,
    joined by commas ("" when empty), or "-" for a list the heartbeat does not carry. The
    portal computes the same (sons/services.py); docs/signer.md."""

    def encoded(fingerprints: list[str] | None) -> str:
        return "-" if fingerprints is None else ",".join(sorted(set(fingerprints)))

    return hashlib.sha256(
        f"{encoded(federations)};{encoded(hive_federations)}".encode()
    ).hexdigest()


def signed_heartbeat(
    key: PrivateKey,
    son: int,
    timestamp: int,
    nonce: str | None = None,
    federations: list[str] | None = None,
    hive_federations: list[str] | None = None,
) -> dict[str, Any]:
    """A heartbeat body (version 2) signed with the SON's Bitcoin key: ECDSA secp256k1 over the
    message's SHA-256, RFC 6979 (deterministic), low-S, DER, hex. A fresh random nonce unless
    given. The lists (the federation versions the signer accepts) are signed and sent when
    given; None leaves a list out (a signer without a configuration reports neither)."""
    nonce = secrets.token_hex(16) if nonce is None else nonce
    message = heartbeat_message(son, timestamp, nonce, federations, hive_federations)
    signature = key.sign(message)  # hashes with SHA-256
    body: dict[str, Any] = {
        "son": son,
        "timestamp": timestamp,
        "nonce": nonce,
        "version": HEARTBEAT_VERSION,
    }
    if federations is not None:
        body["federations"] = list(federations)
    if hive_federations is not None:
        body["hive_federations"] = list(hive_federations)
    body["signature"] = signature.hex()
    return body


def answer_path(request_id: str) -> str:
    """Where the answer to `request_id` goes; the id is quoted, never a path of its own."""
    return f"{SIGNING_REQUESTS_PATH}/{quote(request_id, safe='')}"


class PortalError(Exception):
    """The portal answered with an error (status set) or with something unusable."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code  # the portal's "code" for the error (e.g. "son_deregistered"), if any


class PortalUnavailable(PortalError):
    """The portal could not be reached: connection failure or timeout."""


class PortalClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 10,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self._token = token
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Token {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )

    def __repr__(self) -> str:
        return f"PortalClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def me(self) -> dict[str, Any]:
        """The SON this token belongs to: "son" (its id), "name", "status", "public_keys"."""
        return self._request("GET", ME_PATH)

    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post a signed heartbeat (see signed_heartbeat); the answer has "son" and "status"."""
        return self._request("POST", HEARTBEAT_PATH, json=body)

    def signing_requests(self) -> list[dict[str, Any]]:
        body = self._request("GET", SIGNING_REQUESTS_PATH)
        results = body.get("results")
        if not isinstance(results, list):
            raise PortalError(f"GET {SIGNING_REQUESTS_PATH}: the answer has no 'results' list")
        return results

    def answer(self, request_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Post the answer to a signing request (signatures or a refusal); the portal answers
        {"accepted": n, "complete": bool}, 400 if it rejects the answer, 404 for no request."""
        return self._request("POST", answer_path(request_id), json=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        what = f"{method} {self.base_url}{path}"
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,  # read by _read_bounded, which stops at max_answer_bytes
                **kwargs,
            )
            with response:
                content = _read_bounded(what, response, self.max_answer_bytes)
        except requests.Timeout:
            raise PortalUnavailable(f"{what}: timed out after {self.timeout} s") from None
        except requests.ConnectionError:
            raise PortalUnavailable(f"{what}: cannot connect to the portal") from None
        except requests.RequestException as exc:
            raise PortalError(f"{what}: {type(exc).__name__}") from None
        return self._json(what, response, content)

    def _json(self, what: str, response: requests.Response, content: bytes) -> dict[str, Any]:
        status = response.status_code
        if not 200 <= status < 300:
            message = self._redact(error_message(content, response.reason))
            raise PortalError(f"{what}: HTTP {status}: {message}", status, error_code(content))
        try:
            body = json.loads(content)
        except ValueError:
            raise PortalError(f"{what}: the portal did not answer JSON", status) from None
        if not isinstance(body, dict):
            raise PortalError(f"{what}: expected a JSON object", status)
        return body

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


def _read_bounded(what: str, response: requests.Response, limit: int) -> bytes:
    """The body, refused once it grows past `limit` bytes, before anything decodes it."""
    chunks, size = [], 0
    for chunk in response.iter_content(1 << 16):
        size += len(chunk)
        if size > limit:
            raise PortalError(f"{what}: the answer exceeds {limit} bytes", response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def error_message(content: bytes, reason: str | None) -> str:
    """The portal's own explanation: DRF's "detail", else "error", else the start of the body."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("detail", "error"):
            message = body.get(field)
            if isinstance(message, str):
                return message[:_MAX_MESSAGE]
    text = content.decode("utf-8", "replace").strip()
    return text[:_MAX_MESSAGE] if text else reason or "no message"


def error_code(content: bytes) -> str | None:
    """The portal's machine-readable "code" of an error answer, when it gives a short one."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str) and 0 < len(code) <= 64:
        return code
    return None
