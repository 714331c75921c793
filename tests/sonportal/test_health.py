"""/healthz and the admin status panel on real components: each one up, then stopped."""

import uuid
from datetime import timedelta

import pytest
from celery import Celery
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from sonportal import health
from tests import fixtures
from tests.bitcoin_node import free_port, start_bcoin

pytestmark = pytest.mark.django_db


def checks_by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


def test_it_reports_the_bitcoin_height_and_then_the_node_going_down(settings):
    with start_bcoin() as node:
        settings.BITCOIN_RPC_URL = node.url
        settings.BITCOIN_RPC_USER = "sonportal"
        settings.BITCOIN_RPC_PASSWORD = node.api_key
        node.rpc().generate_to_address(3, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
        up = health.check_bitcoin()
        assert up.ok, up.error
        assert up.detail == "regtest height 3"
    down = health.check_bitcoin()
    assert not down.ok
    assert "no answer from http://127.0.0.1" in down.error


def test_it_reports_a_wrong_bitcoin_password(bitcoin, settings):
    settings.BITCOIN_RPC_PASSWORD = "not-the-key"
    check = health.check_bitcoin()
    assert not check.ok
    assert "not-the-key" not in check.error


def test_it_reports_a_worker_round_trip(celery_worker):
    check = health.check_broker()
    assert check.ok, check.error
    assert check.detail.startswith("worker round trip")


def test_it_reports_a_broker_without_workers(settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    # A Redis database that no worker consumes from.
    url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/7"
    check = health.check_broker(Celery(broker=url, backend=url, set_as_current=False))
    assert not check.ok
    assert check.error == "no worker answered within 1 s"


def test_it_reports_a_broker_that_is_down(settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = Celery(broker=url, backend=url, set_as_current=False)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    check = health.check_broker(app)
    assert not check.ok
    assert "Connection refused" in check.error or "connecting" in check.error


def test_it_reports_signers_by_last_heartbeat(son_1, client):
    son, token = son_1
    [never] = [c for c in health.check_signers() if c.name == "signer son-1"]
    assert (never.ok, never.error) == (False, "never seen")
    client.post(
        reverse("api-son-heartbeat"),
        fixtures.heartbeat_body(son),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    [seen] = [c for c in health.check_signers() if c.name == "signer son-1"]
    assert seen.ok
    assert seen.detail.startswith("last seen")


def test_it_answers_503_with_the_failing_component(client, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    health.health_record()
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "fail"
    assert checks_by_name(report)["bitcoin"]["ok"] is False
    assert checks_by_name(report)["database"]["ok"] is True


def test_it_shows_the_status_panel_to_administrators_only(client, admin_user, user_carol, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    client.force_login(user_carol)
    assert client.get(reverse("admin-status")).status_code == 302
    client.force_login(admin_user)
    health.health_record()
    page = client.get(reverse("admin-status"))
    assert page.status_code == 200
    assert b"database" in page.content and b"bitcoin" in page.content
    fragment = client.get(reverse("admin-status"), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content
    assert b"status-table" in fragment.content
    index = client.get(reverse("admin:index"))
    assert reverse("admin-status").encode() in index.content


@pytest.fixture
def all_down(db, settings):
    """No worker and no Bitcoin node: the stored report has errors to hide or show."""
    settings.HEALTH_BROKER_TIMEOUT = 1
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    settings.HEALTH_TOKEN = "m" * 40
    health.health_record()


def assert_public(report: dict) -> None:
    assert report["status"] == "fail"
    assert all(set(c) == {"name", "ok"} for c in report["checks"])
    assert {"database", "broker", "bitcoin"} <= set(checks_by_name(report))


def assert_detailed(report: dict) -> None:
    bitcoin = checks_by_name(report)["bitcoin"]
    assert "no answer from http://127.0.0.1" in bitcoin["error"]
    assert checks_by_name(report)["database"]["detail"].startswith("PostgreSQL")


def test_it_tells_anonymous_callers_only_up_or_down(client, all_down):
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert_public(response.json())
    assert b"127.0.0.1" not in response.content and b"PostgreSQL" not in response.content


def test_it_tells_users_without_the_permission_only_up_or_down(client, user_carol, all_down):
    client.force_login(user_carol)
    assert_public(client.get(reverse("healthz")).json())


def test_it_shows_the_details_to_who_may_see_alerts(client, user_carol, all_down):
    user_carol.user_permissions.add(Permission.objects.get(codename="view_alert"))
    client.force_login(user_carol)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert_detailed(response.json())


def test_it_shows_the_details_to_monitoring_with_the_token(client, all_down):
    response = client.get(reverse("healthz"), HTTP_AUTHORIZATION=f"Bearer {'m' * 40}")
    assert response.status_code == 503
    assert_detailed(response.json())
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    "header",
    [f"Bearer {'m' * 39}", f"Bearer {'m' * 41}", f"Token {'m' * 40}", "Bearer", "m" * 40,
     f"Bearer {'m' * 600}"],
)  # fmt: skip
def test_it_refuses_a_wrong_token_loudly(client, all_down, header):
    response = client.get(reverse("healthz"), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "checks" not in response.json()


def test_it_keeps_the_anonymous_answer_for_a_while(client, all_down, settings):
    settings.HEALTH_PUBLIC_CACHE = 10
    settings.CACHES = {
        "default": settings.CACHES["default"] | {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }
    first = client.get(reverse("healthz")).json()
    fixtures.make_son("son-1")  # a new component: the next checks list it
    health.health_record()
    again = client.get(reverse("healthz"))
    assert (again.status_code, again.json()) == (503, first)
    fresh = client.get(reverse("healthz"), HTTP_AUTHORIZATION=f"Bearer {'m' * 40}").json()
    assert "signer son-1" in checks_by_name(fresh)
    assert "signer son-1" not in checks_by_name(first)


def test_it_answers_when_the_cache_is_down(client, all_down, settings):
    settings.HEALTH_PUBLIC_CACHE = 10
    down = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {"default": settings.CACHES["default"] | {"LOCATION": down}}
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert_public(response.json())


def test_it_accepts_no_token_when_none_is_configured(client, all_down, settings):
    settings.HEALTH_TOKEN = ""
    assert client.get(reverse("healthz"), HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get(reverse("healthz")).status_code == 503


def test_it_asks_for_a_replacement_son_when_the_federation_is_below_its_minimum(
    client, admin_user, settings
):
    from proposals.services import proposal_approve, proposal_raise_deregistrations
    from sons.federation import federation_current
    from tests.proposals.helpers import make_down_son, make_witnesses

    settings.HEALTH_BROKER_TIMEOUT = 1
    assert (health.check_federation().ok, health.check_federation().error) == (
        False,
        "no federation: no SON has a Bitcoin key",
    )
    fixtures.make_son("son-1"), fixtures.make_son("son-2")
    make_down_son("son-3", silent_since=timezone.now() - timedelta(hours=13))
    version = federation_current()
    up = health.check_federation()
    assert up.ok
    assert up.detail == f"bitcoin: 2 of 3 ({version.short_fingerprint()})"

    alice, bob = make_witnesses(1, 1)
    [proposal] = proposal_raise_deregistrations()
    proposal_approve(proposal=proposal, witness=alice)
    proposal_approve(proposal=proposal, witness=bob)

    down = health.check_federation()
    assert not down.ok
    assert down.error == (
        f"bitcoin: 2 of 3 ({version.short_fingerprint()}); son-3 left: its key stays until a"
        " rotation; 2 SONs in the federation, minimum 3: a replacement SON is needed"
    )
    client.force_login(admin_user)
    health.health_record()
    page = client.get(reverse("admin-status"), HTTP_HX_REQUEST="true").content.decode()
    assert "a replacement SON is needed" in page
    settings.FEDERATION_MIN_SIZE = 2
    assert health.check_federation().ok  # an operator who accepts two SONs is not nagged
