import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from coincurve import PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditRecord
from signer.client import heartbeat_message, signed_heartbeat
from sons import services
from sons.models import SON, HeartbeatNonce, hash_token
from tests import fixtures

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
UNIX_T0 = int(T0.timestamp())


def signer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def post_heartbeat(token: str, body: dict):
    return signer_client(token).post(reverse("api-son-heartbeat"), body, format="json")


def test_it_records_a_heartbeat(son_1):
    son, token = son_1
    response = post_heartbeat(token, fixtures.heartbeat_body(son))
    assert response.status_code == 200, response.content
    son.refresh_from_db()
    assert son.last_heartbeat_at is not None
    assert response.json()["son"] == son.pk
    assert response.json()["status"] == "active"


def test_it_records_the_federation_versions_a_signer_accepts(son_1):
    son, token = son_1
    accepted = ["b" * 64, "a" * 64]
    body = fixtures.heartbeat_body(son, federations=accepted)
    assert post_heartbeat(token, body).status_code == 200
    son.refresh_from_db()
    assert son.accepted_federations == sorted(accepted)
    # a heartbeat that does not say (an older signer) leaves them as they were
    assert post_heartbeat(token, fixtures.heartbeat_body(son)).status_code == 200
    son.refresh_from_db()
    assert son.accepted_federations == sorted(accepted)
    for bad in (["A" * 64], ["a" * 63], ["a" * 64] * 17, "a" * 64):
        body = {**fixtures.heartbeat_body(son), "federations": bad}
        assert post_heartbeat(token, body).status_code == 400
    son.refresh_from_db()
    assert son.accepted_federations == sorted(accepted)


def test_it_records_the_hive_versions_a_signer_accepts_apart_from_bitcoins(son_1):
    son, token = son_1
    bitcoin, hive = ["a" * 64], ["c" * 64, "b" * 64]
    body = fixtures.heartbeat_body(son, federations=bitcoin, hive_federations=hive)
    assert post_heartbeat(token, body).status_code == 200
    son.refresh_from_db()
    assert (son.accepted_federations, son.accepted_hive_federations) == (bitcoin, sorted(hive))
    # A signer that reports its Bitcoin versions but no Hive list accepts no Hive version.
    body = fixtures.heartbeat_body(son, federations=bitcoin)
    assert post_heartbeat(token, body).status_code == 200
    son.refresh_from_db()
    assert (son.accepted_federations, son.accepted_hive_federations) == (bitcoin, [])
    body = fixtures.heartbeat_body(son, federations=bitcoin, hive_federations=hive)
    assert post_heartbeat(token, body).status_code == 200
    # One that reports neither (no configuration: it signs nothing) changes nothing.
    assert post_heartbeat(token, fixtures.heartbeat_body(son)).status_code == 200
    son.refresh_from_db()
    assert son.accepted_hive_federations == sorted(hive)


# The reported lists are signed (heartbeat version 2)

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.parametrize(
    "change",
    [
        {"federations": [A, C]},  # a fingerprint swapped
        {"federations": [A, B, C]},  # one added
        {"federations": [A]},  # one removed
        {"federations": [], "hive_federations": [A, B]},  # moved to the other sidechain's list
        {"hive_federations": [C]},  # Hive's list added
        {"version": 1},  # signed as version 2, claimed as 1
    ],
)
def test_it_refuses_a_heartbeat_whose_lists_were_changed_after_signing(son_1, change):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(accepted_federations=[C], accepted_hive_federations=[C])
    body = fixtures.heartbeat_body(son, federations=[A, B])
    response = post_heartbeat(token, {**body, **change})
    assert response.status_code in (400, 401)
    expected = "unsigned_lists" if change.get("version") == 1 else "bad_signature"
    assert response.json()["code"] == expected
    son.refresh_from_db()
    assert (son.accepted_federations, son.accepted_hive_federations) == ([C], [C])
    assert son.last_heartbeat_at is None
    assert not HeartbeatNonce.objects.filter(son=son).exists()


def test_it_refuses_a_heartbeat_whose_lists_were_dropped_after_signing(son_1):
    son, token = son_1
    body = fixtures.heartbeat_body(son, federations=[A], hive_federations=[B])
    del body["federations"], body["hive_federations"]
    response = post_heartbeat(token, body)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    son.refresh_from_db()
    assert son.last_heartbeat_at is None


def test_it_still_accepts_a_version_1_heartbeat_without_lists(son_1):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(accepted_federations=[A])
    response = post_heartbeat(token, fixtures.heartbeat_body_v1(son))
    assert response.status_code == 200, response.content
    son.refresh_from_db()
    assert son.last_heartbeat_at is not None
    assert son.accepted_federations == [A]  # it reports nothing: what was stored stays


@pytest.mark.parametrize(
    "lists",
    [{"federations": [A]}, {"hive_federations": [A]}, {"federations": [], "hive_federations": []}],
)
def test_it_refuses_a_version_1_heartbeat_with_lists_and_says_to_upgrade(son_1, lists):
    son, token = son_1
    response = post_heartbeat(token, {**fixtures.heartbeat_body_v1(son), **lists})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "This heartbeat reports federation versions without signing them (heartbeat"
        " version 1): upgrade the signer, whose heartbeats sign them (version 2).",
        "code": "unsigned_lists",
    }
    son.refresh_from_db()
    assert (son.accepted_federations, son.accepted_hive_federations) == ([], [])
    assert son.last_heartbeat_at is None


@pytest.mark.parametrize("version", [0, 3, "2.0", None, True])
def test_it_refuses_an_unknown_heartbeat_version(son_1, version):
    son, token = son_1
    response = post_heartbeat(token, {**fixtures.heartbeat_body(son), "version": version})
    assert response.status_code == 400
    assert "version" in response.json()


def test_the_portal_computes_the_message_the_signer_signs():
    lists = {"federations": [B, A, B], "hive_federations": []}
    assert services.heartbeat_message(
        son_id=7, timestamp=1767225600, nonce="ab" * 16, version=2, **lists
    ) == heartbeat_message(7, 1767225600, "ab" * 16, lists["federations"], [])
    assert services.heartbeat_message(
        son_id=7, timestamp=1767225600, nonce="ab" * 16, version=2
    ) == heartbeat_message(7, 1767225600, "ab" * 16)
    assert services.heartbeat_message(son_id=7, timestamp=1767225600, nonce="ab" * 16) == (
        b"sonportal-heartbeat:v1:7:1767225600:abababababababababababababababab"
    )


@pytest.mark.parametrize(
    "bad",
    [
        ["A" * 64],
        ["a" * 63],
        ["a" * 65],
        [64],
        [["a" * 64]],
        ["a" * 64] * 17,
        ["a" * 10_000] * 17,  # too many: refused before any item is read
        "a" * 64,
        {"a": "b"},
    ],
)
def test_it_refuses_a_malformed_hive_list_and_keeps_what_it_had(son_1, bad):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(accepted_hive_federations=["d" * 64])
    body = {**fixtures.heartbeat_body(son), "federations": [], "hive_federations": bad}
    response = post_heartbeat(token, body)
    assert response.status_code == 400
    assert "hive_federations" in response.json()
    son.refresh_from_db()
    assert son.accepted_hive_federations == ["d" * 64]
    assert son.last_heartbeat_at is None


def test_it_tells_a_signer_its_son_and_registered_keys(son_1):
    son, token = son_1
    response = signer_client(token).get(reverse("api-son-me"))
    assert response.status_code == 200
    assert response.json() == {
        "son": son.pk,
        "name": "son-1",
        "status": "active",
        "last_heartbeat_at": None,
        "public_keys": {"bitcoin": son.public_key("bitcoin"), "hive": son.public_key("hive")},
    }


# The signed heartbeat: what a stolen token alone cannot do


@time_machine.travel(T0, tick=False)
def test_it_refuses_a_heartbeat_signed_with_another_key(son_1):
    son, token = son_1
    body = signed_heartbeat(PrivateKey(), son.pk, UNIX_T0)
    response = post_heartbeat(token, body)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid heartbeat signature.", "code": "bad_signature"}
    son.refresh_from_db()
    assert son.last_heartbeat_at is None


@pytest.mark.parametrize(
    "field, value",
    [("son", None), ("timestamp", UNIX_T0 + 1), ("nonce", "f" * 32), ("signature", None)],
)
@time_machine.travel(T0, tick=False)
def test_it_refuses_a_heartbeat_whose_signed_fields_were_changed(son_1, field, value):
    son, token = son_1
    body = fixtures.heartbeat_body(son)
    if field == "son":  # another SON's id, signed by this SON's key: still not this SON's
        other, _ = fixtures.make_son("son-2")
        value = other.pk
    if field == "signature":  # the same signature with a flipped bit in s
        raw = bytearray.fromhex(body["signature"])
        raw[-1] ^= 1
        value = raw.hex()
    response = post_heartbeat(token, {**body, field: value})
    assert response.status_code in (401, 403)
    son.refresh_from_db()
    assert son.last_heartbeat_at is None


def test_it_refuses_a_token_of_one_son_with_a_heartbeat_of_another(son_1):
    son, token = son_1
    other, _ = fixtures.make_son("son-2")
    # Even correctly signed by son-2's own key: the token says son-1.
    response = post_heartbeat(token, fixtures.heartbeat_body(other))
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_son"
    other.refresh_from_db()
    son.refresh_from_db()
    assert other.last_heartbeat_at is None and son.last_heartbeat_at is None


@pytest.mark.parametrize("offset, accepted", [(-16, False), (-15, True), (15, True), (16, False)])
def test_it_refuses_a_heartbeat_more_than_15_s_off_the_portals_clock(son_1, offset, accepted):
    son, token = son_1
    body = fixtures.heartbeat_body(son, timestamp=UNIX_T0 + offset)
    with time_machine.travel(T0, tick=False):
        response = post_heartbeat(token, body)
    if accepted:
        assert response.status_code == 200, response.content
        return
    assert response.status_code == 400
    assert response.json()["code"] == "stale"
    side = "behind" if offset < 0 else "ahead of"
    assert response.json()["detail"] == (
        f"Stale heartbeat: its timestamp is 16 s {side} the portal's clock (at most 15 s)."
    )


def test_it_refuses_a_replayed_heartbeat(son_1):
    son, token = son_1
    body = fixtures.heartbeat_body(son, timestamp=UNIX_T0)
    with time_machine.travel(T0, tick=False):
        assert post_heartbeat(token, body).status_code == 200
    with time_machine.travel(T0 + timedelta(seconds=10), tick=False):
        replay = post_heartbeat(token, body)
        fresh = post_heartbeat(token, fixtures.heartbeat_body(son))
    assert replay.status_code == 409
    assert replay.json() == {
        "detail": "Replayed heartbeat: this nonce was already used.",
        "code": "replayed",
    }
    assert fresh.status_code == 200
    assert HeartbeatNonce.objects.filter(son=son).count() == 2


def test_it_refuses_a_replay_as_stale_once_its_nonce_is_pruned(son_1):
    son, token = son_1
    body = fixtures.heartbeat_body(son, timestamp=UNIX_T0)
    with time_machine.travel(T0, tick=False):
        assert post_heartbeat(token, body).status_code == 200
    later = T0 + timedelta(seconds=services.HEARTBEAT_NONCE_KEEP + 1)
    services.son_liveness_check(now=later)
    assert not HeartbeatNonce.objects.exists()
    with time_machine.travel(later, tick=False):
        response = post_heartbeat(token, body)
    assert response.status_code == 400
    assert response.json()["code"] == "stale"


def test_it_keeps_nonces_that_could_still_be_replayed(son_1):
    son, _ = son_1
    services.son_heartbeat_accept(
        son=son, now=T0, **_claim(fixtures.heartbeat_body(son, timestamp=UNIX_T0))
    )
    services.son_liveness_check(now=T0 + timedelta(seconds=services.HEARTBEAT_MAX_SKEW + 1))
    assert HeartbeatNonce.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_accepts_a_heartbeat_once_when_two_copies_arrive_together():
    son, _ = fixtures.make_son("son-1")
    claim = _claim(fixtures.heartbeat_body(son))
    barrier = threading.Barrier(2)
    outcomes = []

    def deliver():
        try:
            barrier.wait()
            services.son_heartbeat_accept(son=SON.objects.get(pk=son.pk), **claim)
            outcomes.append("accepted")
        except services.HeartbeatRejected as e:
            outcomes.append(e.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted", "replayed"]


def _claim(body: dict) -> dict:
    return {
        "son_id": body["son"],
        "timestamp": body["timestamp"],
        "nonce": body["nonce"],
        "signature": body["signature"],
        "version": body["version"],
    }


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": "ABCDEF" + "0" * 26},  # upper case
        {"nonce": "0" * 31},
        {"signature": "zz"},
        {"timestamp": "soon"},
        {"son": None},
    ],
)
def test_it_refuses_a_malformed_heartbeat(son_1, change):
    son, token = son_1
    response = post_heartbeat(token, {**fixtures.heartbeat_body(son), **change})
    assert response.status_code == 400
    assert set(response.json()) <= {"son", "timestamp", "nonce", "signature"}


def test_it_refuses_a_heartbeat_without_a_registered_bitcoin_key(son_1):
    son, token = son_1
    son.public_keys.filter(sidechain="bitcoin").delete()
    response = post_heartbeat(token, fixtures.heartbeat_body(son))
    assert response.status_code == 403
    assert response.json()["code"] == "no_key"


# Tokens


def test_it_stores_only_the_hash_of_a_token(son_1):
    son, token = son_1
    son.refresh_from_db()
    assert token not in son.token_hash
    assert SON.objects.filter(token_hash=token).count() == 0
    assert len(token) >= 40


@pytest.mark.parametrize("header", ["Token nope", "Token", "Token a b", "Bearer x"])
def test_it_rejects_bad_tokens(son_1, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(
        reverse("api-son-heartbeat"), fixtures.heartbeat_body(son_1[0]), format="json"
    )
    assert response.status_code in (401, 403)
    son_1[0].refresh_from_db()
    assert son_1[0].last_heartbeat_at is None


def test_it_retires_the_old_token_when_issuing_a_new_one(son_1):
    son, old = son_1
    new = issue(son)
    assert post_heartbeat(old, fixtures.heartbeat_body(son)).status_code == 401
    assert post_heartbeat(new, fixtures.heartbeat_body(son)).status_code == 200


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (SON.Status.DEREGISTERED, "son_deregistered"),
        (SON.Status.INACTIVE, "son_not_in_federation"),
    ],
)
def test_it_refuses_a_son_outside_the_federation_on_every_endpoint(son_1, status, code):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(status=status)

    for response in every_endpoint(son, token):
        assert response.status_code == 401
        assert response.json()["code"] == code
        assert response["WWW-Authenticate"] == "Token"
    son.refresh_from_db()
    assert son.last_heartbeat_at is None


@pytest.mark.parametrize("status", SON.FEDERATION_STATUSES)
def test_it_serves_every_son_in_the_federation(son_1, status):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(status=status)
    assert signer_client(token).get(reverse("api-son-me")).status_code == 200


def test_it_refuses_the_son_of_a_disabled_operator(son_1):
    son, token = son_1
    son.owner.is_active = False
    son.owner.save()

    for response in every_endpoint(son, token):
        assert response.status_code == 401
        assert response.json() == {
            "detail": "This SON's operator account is disabled.",
            "code": "owner_disabled",
        }


def test_a_token_expires_after_its_lifetime(son_1, settings):
    son, _ = son_1
    settings.SON_TOKEN_LIFETIME = 3600
    with time_machine.travel(T0, tick=False):
        token = issue(son)
    assert son.token_expires_at() == T0 + timedelta(seconds=3600)

    with time_machine.travel(T0 + timedelta(seconds=3599), tick=False):
        assert signer_client(token).get(reverse("api-son-me")).status_code == 200
    with time_machine.travel(T0 + timedelta(seconds=3600), tick=False):
        responses = list(every_endpoint(son, token))
    for response in responses:
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired"
        assert "issues a new one on the SON's page" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Token nope", "invalid_token"),
        ("Token a b", "malformed_token"),
        ("Token " + "x" * 129, "malformed_token"),
    ],
)
def test_it_says_why_a_token_header_is_refused(son_1, header, code):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(reverse("api-son-me"))
    assert response.status_code == 401
    assert response.json()["code"] == code


def every_endpoint(son: SON, token: str):
    """One request of each kind the signer makes, with this token."""
    client = signer_client(token)
    yield client.get(reverse("api-son-me"))
    yield client.post(reverse("api-son-heartbeat"), fixtures.heartbeat_body(son), format="json")
    yield client.get(reverse("api-son-signing-requests"))
    refusal = {"refused": True, "reasons": ["FEE_TOO_HIGH"]}
    yield client.post(reverse("api-son-signing-answer", args=[1]), refusal, format="json")


def issue(son: SON) -> str:
    return services.son_issue_token(
        son=son, by=None, reason="test", via=services.TokenIssuer.COMMAND
    )


def test_it_refuses_a_signed_in_person_without_a_son_token(son_1):
    son, _ = son_1
    client = APIClient()
    client.force_login(son.owner)
    # The signer API authenticates SON tokens only: a browser session is not a SON.
    url = reverse("api-son-heartbeat")
    assert client.post(url, fixtures.heartbeat_body(son), format="json").status_code == 401
    assert client.get(reverse("api-son-signing-requests")).status_code == 401
    assert client.get(reverse("api-son-me")).status_code == 401
    son.refresh_from_db()
    assert son.last_heartbeat_at is None


def test_it_lists_signing_requests_for_a_son(son_1):
    _, token = son_1
    response = signer_client(token).get(reverse("api-son-signing-requests"))
    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_it_issues_a_token_from_the_command_line_with_a_reason(son_1, capsys):
    son, old = son_1
    with pytest.raises(CommandError, match="--reason"):
        call_command("son_token", son.name)

    call_command("son_token", son.name, "--reason", "new signer machine")

    new = capsys.readouterr().out.strip()
    assert new and new != old
    assert post_heartbeat(new, fixtures.heartbeat_body(son)).status_code == 200
    record = AuditRecord.objects.for_target(f"son:{son.pk}").first()
    assert (record.actor, record.action, record.reason) == (
        None,
        "son.token_issued",
        "new signer machine",
    )
    assert record.details["via"] == "command" and "os_user" in record.details
    assert new not in str(record.details) and hash_token(new) not in str(record.details)


def test_the_command_issues_no_token_for_a_deregistered_son(son_1):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(status=SON.Status.DEREGISTERED)
    with pytest.raises(CommandError, match="No registered SON"):
        call_command("son_token", son.name, "--reason", "r")
    with pytest.raises(services.SONError, match="deregistered"):
        issue(son)
    son.refresh_from_db()
    assert son.token_hash == hash_token(token)


def test_it_shows_a_new_token_once_from_the_admin(son_1, admin_user, client):
    son, old = son_1
    client.force_login(admin_user)
    url = reverse("admin:sons_son_changelist")
    asked = client.post(url, {"action": "issue_token", "_selected_action": [son.pk]})
    assert "reason-form" in asked.content.decode()

    response = client.post(
        url,
        {
            "action": "issue_token",
            "_selected_action": [son.pk],
            "confirm_with_reason": "yes",
            "reason": "the operator lost the token file",
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = response.context["tokens"][0][1]
    assert new.encode() in response.content
    assert post_heartbeat(old, fixtures.heartbeat_body(son)).status_code == 401
    assert post_heartbeat(new, fixtures.heartbeat_body(son)).status_code == 200
    record = AuditRecord.objects.for_target(f"son:{son.pk}").first()
    assert (record.actor, record.reason) == (admin_user, "the operator lost the token file")
    assert record.details["via"] == "admin"


def test_it_keeps_public_keys_unique_per_chain(son_1):
    from django.db import IntegrityError

    son, _ = son_1
    other, _ = fixtures.make_son("son-2")
    key = son.public_keys.get(sidechain="bitcoin")
    with pytest.raises(IntegrityError):
        other.public_keys.filter(sidechain="bitcoin").update(public_key=key.public_key)
