"""Fixtures for the signer's tests.

The signer talks to the real portal: pytest-django's live server, on the real PostgreSQL, with a
real SON, its real API token, and the public keys of the signer's own key pair (`keys`).
Transport failures that the portal cannot produce on demand come from a closed port (connection
refused) or from `misbehaving_peer`, a raw TCP listener that is not the portal and only answers
with fixed bytes, or never.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.core.signals import request_started

from signer.client import PortalClient
from signer.keystore import Keys, generate
from sons.models import SON, SONPublicKey
from tests import fixtures


@dataclass(frozen=True)
class Portal:
    url: str
    son: SON
    token: str
    keys: Keys


@pytest.fixture
def keys() -> Keys:
    """The signer's key pair (fresh for each test)."""
    return generate()


@pytest.fixture
def portal(live_server, transactional_db, keys):
    """The live portal and SON "son-1", which has a real API token and `keys`' public keys
    (nothing sent yet)."""
    son, token = fixtures.make_son("son-1")
    register_keys(son, keys)
    return Portal(live_server.url, son, token, keys)


def register_keys(son: SON, keys: Keys) -> None:
    """Give the SON these public keys, as an administrator does when onboarding it."""
    for sidechain, public_key in keys.public().items():
        SONPublicKey.objects.filter(son=son, sidechain=sidechain).update(public_key=public_key)


@pytest.fixture
def connect():
    """PortalClient(url, token, ...), closed after the test.

    The live server keeps each HTTP connection in its own thread, with its own database
    session, until the client hangs up; an unclosed client would keep that session open (and
    stall the drop of the test database).
    """
    clients = []

    def connect(url: str, token: str, **kwargs) -> PortalClient:
        clients.append(client := PortalClient(url, token, **kwargs))
        return client

    yield connect
    for client in clients:
        client.close()


def last_heartbeat(son: SON):
    """The portal's record of the SON's last heartbeat, read from the database."""
    son.refresh_from_db(fields=["last_heartbeat_at"])
    return son.last_heartbeat_at


@pytest.fixture
def portal_hits():
    """Counts of (method, path) of the requests the live portal began to handle.

    Read from Django's own request_started signal (the live server runs in this process); for
    what leaves no trace in the portal's state: polls, and refused heartbeats.
    """
    hits: Counter[tuple[str, str]] = Counter()

    def record(sender, environ, **kwargs):
        hits[environ["REQUEST_METHOD"], environ["PATH_INFO"]] += 1

    request_started.connect(record, dispatch_uid="signer-tests-portal-hits")
    yield hits
    request_started.disconnect(dispatch_uid="signer-tests-portal-hits")


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class MisbehavingPeer:
    """Not the portal: reads each HTTP request, then sends `answer` verbatim and closes, or,
    while `answer` is None, holds the connection open and never answers."""

    answer: bytes | None = None
    _listener: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    _held: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def answers(self, status: str, body: bytes, content_type: str = "application/json") -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.answer = head.encode() + body

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.answer is None:
                self._held.append(conn)  # the client's request stays unread and unanswered
                continue
            with conn, contextlib.suppress(OSError):
                _read_request(conn)
                conn.sendall(self.answer)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self._listener.close()
        for conn in self._held:
            conn.close()


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length[1]):
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


@pytest.fixture
def misbehaving_peer():
    peer = MisbehavingPeer()
    threading.Thread(target=peer.serve, daemon=True).start()
    yield peer
    peer.close()
