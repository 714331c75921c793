"""JSON-RPC 2.0 over HTTP POST, as hived serves it: single and batch requests, errors with
HTTP 200, and the old {"method": "call", "params": [api, method, args]} form."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devnode.hive import api, errors
from devnode.hive.chain import Chain

log = logging.getLogger(__name__)
MAX_BODY = 4 * 1024 * 1024


class RPCServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], chain: Chain) -> None:
        super().__init__(address, RPCHandler)
        self.chain = chain


class RPCHandler(BaseHTTPRequestHandler):
    server: RPCServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"request too large")
            return
        answer = handle_body(self.server.chain, self.rfile.read(length))
        self._send(200, json.dumps(answer).encode(), "application/json")

    def do_GET(self) -> None:
        self._send(405, b"hived's JSON-RPC takes POST requests")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug(format, *args)


def handle_body(chain: Chain, body: bytes) -> Any:
    try:
        payload = json.loads(body)
    except ValueError:
        return _error(None, errors.rpc_parse_error("Parse error: the body is not JSON"))
    if isinstance(payload, list):
        if not payload:
            return _error(None, errors.invalid_request("empty batch"))
        return [handle_request(chain, request) for request in payload]
    return handle_request(chain, payload)


def handle_request(chain: Chain, request: Any) -> dict[str, Any]:
    request_id = request.get("id") if isinstance(request, dict) else None
    try:
        method, params = _method_and_params(request)
        result = api.call(chain, method, params)
    except errors.HiveError as exc:
        return _error(request_id, exc)
    except Exception:
        log.exception("internal error answering %r", request)
        internal = errors.HiveError("internal_error", 0, "Internal error", "internal error")
        return _error(request_id, internal)
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def _method_and_params(request: Any) -> tuple[str, Any]:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        raise errors.invalid_request('a request is an object with "jsonrpc": "2.0"')
    method, params = request.get("method"), request.get("params")
    if not isinstance(method, str):
        raise errors.invalid_request("method must be a string")
    if method != "call":
        return method, params
    if not (isinstance(params, list) and len(params) in (2, 3)):
        raise errors.invalid_params('"call" takes [api, method, args]')
    return f"{params[0]}.{params[1]}", params[2] if len(params) == 3 else None


def _error(request_id: Any, error: errors.HiveError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
