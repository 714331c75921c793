"""The signer's HTTP client for the portal's signer-facing API (token authentication)."""

from __future__ import annotations

import requests

USER_AGENT = "son-signer/0.1"
HEARTBEAT_PATH = "/api/v1/son/heartbeat"
SIGNING_REQUESTS_PATH = "/api/v1/son/signing-requests"
_MAX_MESSAGE = 300


class PortalError(Exception):
    """The portal answered with an error (status set) or with something unusable."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class PortalUnavailable(PortalError):
    """The portal could not be reached: connection failure or timeout."""


class PortalClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
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

    def heartbeat(self) -> dict:
        """Tell the portal this SON is alive; the answer has at least "son" and "status"."""
        return self._request("POST", HEARTBEAT_PATH, json={})

    def signing_requests(self) -> list[dict]:
        body = self._request("GET", SIGNING_REQUESTS_PATH)
        results = body.get("results")
        if not isinstance(results, list):
            raise PortalError(f"GET {SIGNING_REQUESTS_PATH}: the answer has no 'results' list")
        return results

    def _request(self, method: str, path: str, **kwargs) -> dict:
        what = f"{method} {self.base_url}{path}"
        try:
            response = self._session.request(
                method, self.base_url + path, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.Timeout:
            raise PortalUnavailable(f"{what}: timed out after {self.timeout} s") from None
        except requests.ConnectionError:
            raise PortalUnavailable(f"{what}: cannot connect to the portal") from None
        except requests.RequestException as exc:
            raise PortalError(f"{what}: {type(exc).__name__}") from None
        return self._json(what, response)

    def _json(self, what: str, response: requests.Response) -> dict:
        if not 200 <= response.status_code < 300:
            message = self._redact(error_message(response))
            raise PortalError(
                f"{what}: HTTP {response.status_code}: {message}", response.status_code
            )
        try:
            body = response.json()
        except ValueError:
            raise PortalError(
                f"{what}: the portal did not answer JSON", response.status_code
            ) from None
        if not isinstance(body, dict):
            raise PortalError(f"{what}: expected a JSON object", response.status_code)
        return body

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


def error_message(response: requests.Response) -> str:
    """The portal's own explanation: DRF's "detail", else "error", else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("detail", "error"):
            if isinstance(body.get(field), str):
                return body[field][:_MAX_MESSAGE]
    text = response.text.strip()
    return text[:_MAX_MESSAGE] if text else response.reason or "no message"
