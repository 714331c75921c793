import hashlib
import re
import time
from datetime import datetime

import pytest
from coincurve import PrivateKey, PublicKey

from signer import client as client_module
from signer import request as request_module
from signer.client import (
    PortalClient,
    PortalError,
    PortalUnavailable,
    answer_path,
    heartbeat_message,
    signed_heartbeat,
)
from sons.models import SON
from tests.signer.conftest import last_heartbeat

TOKEN = "tok-3f9a1c7e5b2d4f60a8e1"  # what the client sends to peers that are not the portal
KEY = PrivateKey(bytes.fromhex("11" * 32))


# The signed heartbeat


A, B = "a" * 64, "b" * 64


def test_it_signs_the_documented_message():
    # No lists (a signer without a configuration): the digest is SHA-256 of "-;-".
    assert hashlib.sha256(b"-;-").hexdigest() == (
        "b5dd2631194d15e5ce6c4b708ed5bebbbb50163ef305e1939f47883b9dc29336"
    )
    assert heartbeat_message(7, 1767225600, "ab" * 16) == (
        b"sonportal-heartbeat:v2:7:1767225600:abababababababababababababababab:"
        b"b5dd2631194d15e5ce6c4b708ed5bebbbb50163ef305e1939f47883b9dc29336"
    )
    body = signed_heartbeat(KEY, 7, 1767225600, "ab" * 16)
    assert (body["son"], body["timestamp"], body["nonce"]) == (7, 1767225600, "ab" * 16)
    assert body["version"] == 2
    assert "federations" not in body and "hive_federations" not in body
    digest = hashlib.sha256(heartbeat_message(7, 1767225600, "ab" * 16)).digest()
    signature = bytes.fromhex(body["signature"])
    assert PublicKey(KEY.public_key.format()).verify(signature, digest, hasher=None)


def test_it_signs_the_lists_sorted_and_without_duplicates():
    lists = f"{A},{B};".encode()  # Bitcoin's sorted, Hive's empty
    expected = (
        b"sonportal-heartbeat:v2:7:1767225600:abababababababababababababababab:"
        b"4cd4b37633623ba4c7f596c8c3cba1c8c1291e462ca639cd29a59789dca942cc"
    )
    assert hashlib.sha256(lists).hexdigest().encode() == expected.split(b":")[-1]
    assert heartbeat_message(7, 1767225600, "ab" * 16, [B, A, B], []) == expected
    body = signed_heartbeat(KEY, 7, 1767225600, "ab" * 16, [B, A, B], [])
    assert (body["federations"], body["hive_federations"]) == ([B, A, B], [])
    digest = hashlib.sha256(expected).digest()
    signature = bytes.fromhex(body["signature"])
    assert PublicKey(KEY.public_key.format()).verify(signature, digest, hasher=None)
    # An absent list is not an empty one, and which list holds a fingerprint counts.
    messages = {
        heartbeat_message(7, 1, "0", [A], None),
        heartbeat_message(7, 1, "0", [A], []),
        heartbeat_message(7, 1, "0", None, [A]),
        heartbeat_message(7, 1, "0", [], [A]),
        heartbeat_message(7, 1, "0", [A, B], None),
        heartbeat_message(7, 1, "0", [A], [B]),
    }
    assert len(messages) == 6


def test_it_signs_deterministically_and_with_a_fresh_nonce_each_time():
    assert signed_heartbeat(KEY, 7, 100, "00" * 16) == signed_heartbeat(KEY, 7, 100, "00" * 16)
    first, second = signed_heartbeat(KEY, 7, 100), signed_heartbeat(KEY, 7, 100)
    assert re.fullmatch(r"[0-9a-f]{32}", first["nonce"])
    assert first["nonce"] != second["nonce"]
    assert first["signature"] != second["signature"]


def _heartbeat(portal, **overrides) -> dict:
    body = signed_heartbeat(portal.keys.bitcoin, portal.son.pk, int(time.time()))
    return {**body, **overrides}


# The real portal


def test_it_learns_its_son_and_registered_keys_from_the_portal(portal, connect):
    me = connect(portal.url, portal.token).me()
    assert me == {
        "son": portal.son.pk,
        "name": "son-1",
        "status": "active",
        "last_heartbeat_at": None,
        "public_keys": portal.keys.public(),
    }


def test_it_sends_a_heartbeat_that_the_portal_records(portal, connect):
    answer = connect(portal.url, portal.token).heartbeat(_heartbeat(portal))
    recorded = last_heartbeat(portal.son)
    assert recorded is not None
    assert answer == {
        "son": portal.son.pk,
        "name": "son-1",
        "status": "active",
        "last_heartbeat_at": answer["last_heartbeat_at"],
    }
    assert datetime.fromisoformat(answer["last_heartbeat_at"]) == recorded


def test_each_heartbeat_advances_the_portals_record(portal, connect):
    client = connect(portal.url, portal.token)
    client.heartbeat(_heartbeat(portal))
    first = last_heartbeat(portal.son)
    client.heartbeat(_heartbeat(portal))
    assert last_heartbeat(portal.son) > first


@pytest.mark.parametrize(
    "tamper, status, message",
    [
        (lambda p, body: {**body, "nonce": "0" * 32}, 401, "Invalid heartbeat signature."),
        (
            lambda p, body: signed_heartbeat(PrivateKey(), p.son.pk, body["timestamp"]),
            401,
            "Invalid heartbeat signature.",
        ),
        (
            lambda p, body: signed_heartbeat(p.keys.bitcoin, p.son.pk, body["timestamp"] - 60),
            400,
            "Stale heartbeat",
        ),
        (lambda p, body: {**body, "son": p.son.pk + 1000}, 403, "another SON"),
    ],
    ids=["tampered", "other-key", "stale", "other-son"],
)
def test_the_portal_refuses_a_heartbeat_it_cannot_trust(portal, connect, tamper, status, message):
    with pytest.raises(PortalError) as caught:
        connect(portal.url, portal.token).heartbeat(tamper(portal, _heartbeat(portal)))
    assert caught.value.status == status
    assert message in str(caught.value)
    assert last_heartbeat(portal.son) is None


def test_the_portal_refuses_a_replayed_heartbeat(portal, connect):
    client = connect(portal.url, portal.token)
    body = _heartbeat(portal)
    client.heartbeat(body)
    first = last_heartbeat(portal.son)
    with pytest.raises(PortalError, match="HTTP 409: Replayed heartbeat") as caught:
        client.heartbeat(body)
    assert caught.value.status == 409
    assert last_heartbeat(portal.son) == first


def test_it_gets_the_signing_requests_from_the_portal(portal, connect):
    assert connect(portal.url + "/", portal.token).signing_requests() == []


def test_it_posts_an_answer_and_the_portal_says_404_for_an_unknown_request(portal, connect):
    client = connect(portal.url, portal.token)
    with pytest.raises(PortalError, match=r"HTTP 404: No sidechain transaction 999999\.") as error:
        client.answer("999999", {"request_id": "999999", "refused": True, "reasons": ["X"]})
    assert error.value.status == 404


def test_it_quotes_a_request_id_into_one_path_segment():
    assert answer_path("412") == "/api/v1/son/signing-requests/412"
    assert answer_path("a/b:c") == "/api/v1/son/signing-requests/a%2Fb%3Ac"


def test_a_wrong_token_is_a_401_portal_error_that_does_not_show_the_token(portal, connect):
    wrong = portal.token[::-1]
    calls = (
        lambda client: client.heartbeat(_heartbeat(portal)),
        PortalClient.me,
        PortalClient.signing_requests,
    )
    for call in calls:
        with pytest.raises(PortalError) as caught:
            call(connect(portal.url, wrong))
        assert caught.value.status == 401
        assert "HTTP 401: Invalid SON token." in str(caught.value)
        assert not isinstance(caught.value, PortalUnavailable)
        assert wrong not in str(caught.value) and portal.token not in str(caught.value)
    assert last_heartbeat(portal.son) is None


def test_a_deregistered_son_is_refused_with_a_401(portal, connect):
    SON.objects.filter(pk=portal.son.pk).update(status=SON.Status.DEREGISTERED)
    with pytest.raises(PortalError) as caught:
        connect(portal.url, portal.token).heartbeat(_heartbeat(portal))
    assert caught.value.status == 401
    assert "deregistered" in str(caught.value)
    assert portal.token not in str(caught.value)
    assert last_heartbeat(portal.son) is None


def test_it_keeps_the_token_out_of_its_repr(portal, connect):
    assert portal.token not in repr(connect(portal.url, portal.token))


# Transport failures the portal cannot produce on demand


def test_it_raises_portal_unavailable_when_the_connection_is_refused(closed_port_url, connect):
    with pytest.raises(PortalUnavailable) as caught:
        connect(closed_port_url, TOKEN).heartbeat({})
    assert caught.value.status is None
    assert "cannot connect" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_it_raises_portal_unavailable_when_the_peer_never_answers(misbehaving_peer, connect):
    with pytest.raises(PortalUnavailable, match="timed out") as caught:
        connect(misbehaving_peer.url, TOKEN, timeout=0.2).signing_requests()
    assert TOKEN not in str(caught.value)


def test_it_redacts_the_token_if_the_peer_echoes_it(misbehaving_peer, connect):
    misbehaving_peer.answers("403 Forbidden", b'{"detail": "token %s is revoked"}' % TOKEN.encode())
    with pytest.raises(PortalError) as caught:
        connect(misbehaving_peer.url, TOKEN).heartbeat({})
    assert TOKEN not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_it_raises_portal_error_on_a_server_error(misbehaving_peer, connect):
    misbehaving_peer.answers("500 Internal Server Error", b'{"error": "boom"}')
    with pytest.raises(PortalError, match="HTTP 500: boom") as caught:
        connect(misbehaving_peer.url, TOKEN).signing_requests()
    assert caught.value.status == 500


def test_it_treats_a_redirect_as_an_error(misbehaving_peer, connect):
    misbehaving_peer.answers("302 Found", b"{}")
    with pytest.raises(PortalError) as caught:
        connect(misbehaving_peer.url, TOKEN).heartbeat({})
    assert caught.value.status == 302


def test_it_rejects_an_answer_that_is_not_json(misbehaving_peer, connect):
    misbehaving_peer.answers("200 OK", b"<html>hello</html>", content_type="text/html")
    with pytest.raises(PortalError, match="did not answer JSON") as caught:
        connect(misbehaving_peer.url, TOKEN).me()
    assert caught.value.status == 200


def test_it_rejects_an_answer_without_results(misbehaving_peer, connect):
    misbehaving_peer.answers("200 OK", b'[{"id": 1}]')
    with pytest.raises(PortalError, match="JSON object"):
        connect(misbehaving_peer.url, TOKEN).signing_requests()
    misbehaving_peer.answers("200 OK", b'{"items": []}')
    with pytest.raises(PortalError, match="results"):
        connect(misbehaving_peer.url, TOKEN).signing_requests()


def test_it_refuses_an_answer_larger_than_its_bound_before_decoding_it(misbehaving_peer, connect):
    body = b'{"results": [' + b'"' + b"a" * 5_000 + b'"]}'
    misbehaving_peer.answers("200 OK", body)
    with pytest.raises(PortalError, match="exceeds 4096 bytes") as caught:
        connect(misbehaving_peer.url, TOKEN, max_answer_bytes=4_096).signing_requests()
    assert caught.value.status == 200
    # the same answer within the bound is read
    assert connect(misbehaving_peer.url, TOKEN, max_answer_bytes=len(body)).signing_requests()
    assert client_module.MAX_ANSWER_BYTES >= 10 * request_module.MAX_REQUEST_BYTES
