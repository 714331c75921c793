"""The admin status panel and /healthz read the checks beat stored: no live check per poll, the
checked-at time shown, stale results said to be stale, and the on-call figures (#14) each with
the admin list that shows it."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sidechains.models import Alert
from sonportal import health
from sonportal.models import HealthReport
from tests import fixtures
from tests.bitcoin_node import free_port
from tests.sonportal.status_helpers import add_batched_withdrawals, oncall_world

pytestmark = pytest.mark.django_db

STATUS = reverse("admin-status")
HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN = {"HTTP_AUTHORIZATION": f"Bearer {'m' * 40}"}


@pytest.fixture
def monitored(settings):
    settings.HEALTH_TOKEN = "m" * 40
    settings.HEALTH_BROKER_TIMEOUT = 1


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


def test_it_serves_the_stored_checks_without_running_them(client, monitored, settings):
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    stored = health.health_record()
    fixtures.make_son("son-1")  # a component the stored checks do not know yet

    report = client.get(reverse("healthz"), **TOKEN).json()

    assert report["checked_at"] == stored.checked_at.isoformat()
    assert report["stale"] is False and 0 <= report["age_seconds"] <= 5
    assert "signer son-1" not in by_name(report)  # read, not run again
    assert by_name(report)["bitcoin"]["ok"] is False
    assert by_name(report)["database"]["ok"] is True  # the one live check
    health.health_record()
    again = client.get(reverse("healthz"), **TOKEN).json()
    assert by_name(again)["signer son-1"]["error"] == "never seen"


def test_it_says_the_checks_are_stale_when_beat_stopped_running_them(
    client, monitored, admin_user, settings, bitcoin
):
    settings.FEDERATION_MIN_SIZE = 0
    health.health_record()
    old = timezone.now() - timedelta(seconds=settings.HEALTH_STALE_AFTER + 30)
    HealthReport.objects.update(checked_at=old)

    response = client.get(reverse("healthz"), **TOKEN)
    client.force_login(admin_user)
    panel = client.get(STATUS, **HTMX).content.decode()

    assert response.status_code == 503
    report = response.json()
    assert report["stale"] is True
    assert by_name(report)["checks"]["error"] == (
        f"last run {settings.HEALTH_STALE_AFTER + 30} s ago, at {old:%H:%M:%S} UTC: stale"
    )
    assert "<strong>stale</strong>, the checks have not run since" in panel
    assert f"{old:%Y-%m-%d %H:%M:%S}</time> UTC" in panel
    assert client.get(reverse("healthz")).json()["status"] == "fail"  # anonymous: down too


def test_it_says_the_checks_have_not_run_yet(client, monitored, admin_user):
    response = client.get(reverse("healthz"), **TOKEN)
    client.force_login(admin_user)
    panel = client.get(STATUS, **HTMX).content.decode()

    assert response.status_code == 503
    assert by_name(response.json())["checks"]["error"] == (
        "the stored checks not run yet (beat runs them)"
    )
    assert "Not checked yet" in panel


def panel_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(STATUS, **HTMX).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_it_polls_the_panel_in_constant_queries_on_no_big_table(client, monitored, admin_user):
    health.health_record()
    client.force_login(admin_user)
    client.get(reverse("admin:index"))
    few = panel_queries(client)
    carol = fixtures.make_user("user_carol")
    add_batched_withdrawals(carol, 40, waiting=timedelta(minutes=5))
    for i in range(10):
        Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message=f"reorg {i}")
    health.health_record()

    sql = panel_queries(client)

    assert len(sql) == len(few)
    assert len([q for q in sql if '"sonportal_healthreport"' in q]) == 1
    big = ("sidechains_deposit", "sidechains_withdrawal", "ledger_entry", "proposals_proposal")
    assert not [q for q in sql if any(f'"{table}"' in q for table in big)]
    assert "40, 0.04000000 BTC" in client.get(STATUS, **HTMX).content.decode()


def test_it_shows_the_on_call_figures_each_with_its_admin_list(
    client, monitored, admin_user, bitcoin, settings
):
    world = oncall_world(bitcoin)
    health.health_record()
    client.force_login(admin_user)

    panel = client.get(STATUS, **HTMX).content.decode()
    figures = {f["key"]: f for f in health.report()["oncall"]}

    assert figures["alerts"]["value"] == "1"
    assert re.fullmatch(
        r"3, 0\.00300000 BTC, oldest waiting since \S+ \S+ UTC \((29|30) min\)",
        figures["withdrawals"]["value"],
    ), figures["withdrawals"]
    assert figures["refunds"]["value"] == "2, 0.00020001 BTC"
    assert figures["proposals"]["value"].startswith("4, the first expires ")
    tip = world["tip"]
    assert figures["listener"]["value"] == f"3 block(s) (listener at {tip - 3}, node at {tip})"
    assert figures["block"]["value"].endswith(f"(block {tip})")
    assert figures["reserves"]["value"].startswith(
        f"0.0100{settings.BITCOIN_RESERVES_TOLERANCE:04d} BTC (margin 0.01000000 BTC, checked at "
    )
    attention = {k for k, f in figures.items() if f["attention"]}
    assert attention == {"alerts", "withdrawals", "refunds", "proposals", "listener"}
    links = re.findall(r'<td><a href="([^"]+)">', panel)
    assert len(links) == 7
    for url in links:
        response = client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200, url  # a lookup the list refuses redirects (?e=1)
    withdrawals = client.get(links[1].replace("&amp;", "&")).content.decode()
    assert withdrawals.count('<td class="field-status">batched') == 3


def test_it_tells_on_call_when_the_node_does_not_answer(client, monitored, settings):
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    health.health_record()
    figures = {f["key"]: f for f in health.report()["oncall"]}
    assert figures["listener"]["value"].startswith("the node did not answer: ")
    assert figures["listener"]["attention"] and figures["block"]["attention"]
    assert figures["alerts"] == {
        "key": "alerts", "label": "Open alerts", "value": "0", "attention": False
    }  # fmt: skip
