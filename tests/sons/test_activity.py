"""What each SON did, on its page and on the status grid: uptime over 24 h / 7 d / 30 d from
the status history, heartbeats and their delay, signatures given and refusals with reasons;
the same few queries for any number of SONs."""

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sidechains.models import (
    HiveSignature,
    HiveTransaction,
    SidechainTransaction,
    SignerRefusal,
    TxSignature,
)
from sons.activity import son_activity
from sons.models import SON, SONHeartbeatHour
from tests import fixtures
from tests.sons.test_son_api import post_heartbeat

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def change(son: SON, old: str, new: str, when: datetime) -> None:
    son.status_changes.create(old_status=old, new_status=new, reason="test", created_at=when)


def make_registered_long_ago(name: str) -> SON:
    son, _ = fixtures.make_son(name)
    SON.objects.filter(pk=son.pk).update(created_at=NOW - timedelta(days=40))
    son.refresh_from_db()
    return son


def test_uptime_is_time_up_out_of_time_in_the_federation_per_window():
    son = make_registered_long_ago("son-1")
    # Down for an hour two hours ago, and for a day ten days ago.
    change(son, "active", "in_maintenance", NOW - timedelta(hours=2))
    change(son, "in_maintenance", "active", NOW - timedelta(hours=1))
    change(son, "active", "in_maintenance", NOW - timedelta(days=10))
    change(son, "in_maintenance", "active", NOW - timedelta(days=9))
    uptime = son_activity([son], NOW)[son.pk].uptime
    assert uptime[0] == pytest.approx(23 / 24)
    assert uptime[1] == pytest.approx((7 * 24 - 1) / (7 * 24))
    assert uptime[2] == pytest.approx((30 * 24 - 25) / (30 * 24))


def test_uptime_counts_only_time_in_the_federation_and_since_registration():
    son, _ = fixtures.make_son("son-2", status=SON.Status.INACTIVE)
    SON.objects.filter(pk=son.pk).update(created_at=NOW - timedelta(hours=10))
    son.refresh_from_db()
    assert son_activity([son], NOW)[son.pk].uptime == (None, None, None)
    # Taken into the federation 4 h ago, down for the last hour: 3 of 4 hours up.
    change(son, "inactive", "active", NOW - timedelta(hours=4))
    change(son, "active", "in_maintenance", NOW - timedelta(hours=1))
    SON.objects.filter(pk=son.pk).update(status=SON.Status.IN_MAINTENANCE)
    son.refresh_from_db()
    assert son_activity([son], NOW)[son.pk].uptime == (0.75, 0.75, 0.75)


def test_heartbeats_are_summed_with_their_delay_and_the_longest_silence():
    son, token = fixtures.make_son("son-1")
    for offset, delay in ((0, 1), (180, 3), (600, 2)):  # a silence of 420 s before the last
        arrival = NOW - timedelta(minutes=30) + timedelta(seconds=offset)
        with time_machine.travel(arrival, tick=False):
            body = fixtures.heartbeat_body(son, timestamp=int(arrival.timestamp()) - delay)
            assert post_heartbeat(token, body).status_code == 200
    hour = SONHeartbeatHour.objects.get(son=son)
    assert (hour.heartbeats, hour.delay_ms_total, hour.delay_ms_max) == (3, 6000, 3000)
    assert hour.gap_max_s == 420
    activity = son_activity([son], NOW)[son.pk]
    assert activity.row("heartbeats").values == (3, 3, 3, 3)
    assert activity.row("delay").values[0] == 2.0
    assert activity.row("delay_max").values[0] == 3.0
    assert activity.row("gap").values[0] == 420


def bitcoin_tx(n: int) -> SidechainTransaction:
    return SidechainTransaction.objects.create(
        status=SidechainTransaction.Status.AWAITING_SIGNATURES,
        unsigned_tx=b"\x01" * 100,
        txid=f"{n:064x}",
        fee=1_000,
        vsize=500,
        feerate=2,
    )


def hive_tx(n: int) -> HiveTransaction:
    return HiveTransaction.objects.create(
        trx_id=f"{n:040x}",
        chain_id="00" * 32,
        tx={},
        reference_time=NOW,
        expiration=NOW + timedelta(hours=1),
    )


def sign_and_refuse(son: SON, start: int, now: datetime = NOW) -> None:
    """Two Bitcoin transactions signed (one of them on two inputs), one Hive transaction, two
    refusals in the last 30 days and one older."""
    first, second = bitcoin_tx(start), bitcoin_tx(start + 1)
    for tx, index in ((first, 0), (first, 1), (second, 0)):
        TxSignature.objects.create(
            sidechain_tx=tx, son=son, input_index=index, public_key="02", signature=b"s"
        )
    HiveSignature.objects.create(hive_tx=hive_tx(start), son=son, public_key="STM", signature="s")
    fee = SignerRefusal.objects.create(
        sidechain_tx=bitcoin_tx(start + 2), son=son, reasons=["FEE_TOO_HIGH", "FEERATE_TOO_HIGH"]
    )
    cap = SignerRefusal.objects.create(
        sidechain_tx=bitcoin_tx(start + 3), son=son, reasons=["OVER_DAILY_CAP"]
    )
    old = SignerRefusal.objects.create(
        sidechain_tx=bitcoin_tx(start + 4), son=son, reasons=["OVER_DAILY_CAP"]
    )
    SignerRefusal.objects.filter(pk=fee.pk).update(created_at=now - timedelta(days=3))
    SignerRefusal.objects.filter(pk=cap.pk).update(created_at=now - timedelta(hours=2))
    SignerRefusal.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=45))
    TxSignature.objects.filter(son=son).update(created_at=now - timedelta(hours=1))
    HiveSignature.objects.filter(son=son).update(created_at=now - timedelta(days=8))


def test_signatures_and_refusals_are_counted_with_reasons_in_words():
    son = make_registered_long_ago("son-1")
    sign_and_refuse(son, 0)
    activity = son_activity([son], NOW)[son.pk]
    assert activity.row("bitcoin_signed").values == (2, 2, 2, 2)  # transactions, not inputs
    assert activity.row("hive_signed").values == (0, 0, 1, 1)
    assert activity.row("refused").values == (1, 2, 2, 3)
    assert activity.reasons == [("fee above their limit", 1), ("their daily limit reached", 1)]


def test_the_son_page_shows_what_it_did(client):
    son = make_registered_long_ago("son-1")
    sign_and_refuse(son, 0)
    change(son, "active", "in_maintenance", NOW - timedelta(hours=6))
    change(son, "in_maintenance", "active", NOW - timedelta(hours=3))
    client.force_login(son.owner)
    with time_machine.travel(NOW, tick=False):
        content = client.get(son.get_absolute_url()).content.decode()
    assert '<td data-label="24 h">87.5 %</td>' in content
    assert "Fee above their limit: 1" in content
    assert "Deposits reported" not in content  # a column nothing ever filled
    with time_machine.travel(NOW, tick=False):
        grid = client.get(reverse("sons-status")).content.decode()
    assert 'data-testid="uptime-son-1-1">87.5 %</td>' in grid
    assert 'data-testid="signed-son-1">3</td>' in grid


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries, time_machine.travel(NOW, tick=False):
        assert client.get(url).status_code == 200
    if os.environ.get("SHOW_QUERIES"):
        print(url, *[q["sql"][:150] for q in queries], sep="\n")
    return len(queries)


def test_the_grid_and_a_son_page_cost_the_same_queries_for_few_or_many(client):
    sons = [make_registered_long_ago(f"son-{i}") for i in range(2)]
    for i, son in enumerate(sons):
        sign_and_refuse(son, 10 * i)
        change(son, "active", "in_maintenance", NOW - timedelta(hours=2))
    client.force_login(fixtures.make_administrator())
    client.get(reverse("sons-status"))  # the session's one-time queries
    client.get(sons[0].get_absolute_url())  # and the federation version recorded on first use
    few = (
        count_queries(client, reverse("sons-status")),
        count_queries(client, sons[0].get_absolute_url()),
    )
    for i in range(2, 8):
        son = make_registered_long_ago(f"son-{i}")
        sign_and_refuse(son, 10 * i)
        change(son, "active", "in_maintenance", NOW - timedelta(hours=2))
    many = (
        count_queries(client, reverse("sons-status")),
        count_queries(client, sons[0].get_absolute_url()),
    )
    assert few == many
    assert few[0] <= 21, few  # 6 of them for the activity of every SON
