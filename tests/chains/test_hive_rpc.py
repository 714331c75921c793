"""The portal's Hive client: what it raises when the node answers an error and when there is
no usable answer at all."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from chains.hive.rpc import HiveRPC, HiveRPCError, HiveRPCUnavailable
from tests.bitcoin_node import free_port


class _BadGateway(BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>502 Bad Gateway</html>")

    def log_message(self, *args):
        pass


@pytest.fixture
def bad_gateway():
    server = HTTPServer(("127.0.0.1", 0), _BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_listener():
    """Accepts connections (the kernel does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_a_node_error_is_a_hive_rpc_error_with_hiveds_message(rpc):
    with pytest.raises(HiveRPCError) as caught:
        rpc.call("account_history_api.get_transaction", {"id": "00" * 20})
    assert caught.value.message == f"Assert Exception:false: Unknown Transaction {'00' * 20}"
    assert caught.value.name == "assert_exception"


def test_a_closed_port_is_unavailable_and_not_a_node_error():
    client = HiveRPC(f"http://127.0.0.1:{free_port()}/", timeout=2)
    with client, pytest.raises(HiveRPCUnavailable, match="no answer") as caught:
        client.get_dynamic_global_properties()
    assert not isinstance(caught.value, HiveRPCError)


def test_a_node_that_never_answers_times_out(silent_listener):
    client = HiveRPC(silent_listener, timeout=0.3)
    with client, pytest.raises(HiveRPCUnavailable, match="timed out"):
        client.get_block(1)


def test_an_answer_without_json_rpc_is_unavailable(bad_gateway):
    client = HiveRPC(bad_gateway, timeout=2)
    with client, pytest.raises(HiveRPCUnavailable, match="HTTP 502 without a JSON-RPC answer"):
        client.broadcast_transaction({})
