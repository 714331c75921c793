from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse

from sons import services
from sons.models import SON, SONStatusChange
from tests import fixtures

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def statuses(son: SON) -> list[tuple[str, str]]:
    changes = son.status_changes.order_by("created_at", "id")
    return list(changes.values_list("old_status", "new_status"))


def test_it_marks_a_silent_son_down_after_son_down_time(son_1, settings):
    settings.SON_DOWN_TIME = 360
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    assert services.son_liveness_check(now=at(360)) == []
    marked = services.son_liveness_check(now=at(361))
    assert [s.pk for s in marked] == [son.pk]
    son.refresh_from_db()
    assert son.status == SON.Status.IN_MAINTENANCE
    assert son.last_down_at == at(361)
    change = SONStatusChange.objects.get(son=son)
    assert (change.old_status, change.new_status) == ("active", "in_maintenance")
    assert change.reason == "no heartbeat for more than 360 s"


def test_it_marks_down_once_when_run_again(son_1):
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    services.son_liveness_check(now=at(3600))
    assert services.son_liveness_check(now=at(3900)) == []
    assert SONStatusChange.objects.filter(son=son).count() == 1


def test_it_counts_a_son_that_never_beat_as_silent(son_1):
    son, _ = son_1
    with time_machine.travel(son.created_at + timedelta(hours=1)):
        assert [s.pk for s in services.son_liveness_check()] == [son.pk]


def test_it_keeps_up_a_son_whose_heartbeat_lands_while_the_check_runs(son_1, monkeypatch):
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    original = services._transition

    def heartbeat_first(**kwargs):
        # The heartbeat commits between the check's SELECT and its UPDATE.
        services.son_heartbeat(son=SON.objects.get(pk=son.pk), now=at(399))
        return original(**kwargs)

    monkeypatch.setattr(services, "_transition", heartbeat_first)
    assert services.son_mark_down_if_silent(now=at(400)) == []
    son.refresh_from_db()
    assert son.status == SON.Status.ACTIVE


def test_it_brings_a_son_back_and_accounts_the_downtime(son_1):
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    services.son_liveness_check(now=at(400))
    son.refresh_from_db()
    assert son.current_downtime(at(700)) == 300
    assert son.downtime(at(700)) == 300
    son = services.son_heartbeat(son=son, now=at(1000))
    assert son.status == SON.Status.ACTIVE
    assert son.total_downtime == 600
    assert son.current_downtime(at(1000)) == 0
    assert son.last_down_at == at(400)
    assert statuses(son) == [("active", "in_maintenance"), ("in_maintenance", "active")]
    # A second interval adds to the first.
    services.son_liveness_check(now=at(1500))
    son = services.son_heartbeat(son=son, now=at(1600))
    assert son.total_downtime == 700


def test_it_leaves_inactive_and_deregistered_sons_alone(son_1):
    son, _ = son_1
    inactive, _ = fixtures.make_son("son-2", status=SON.Status.INACTIVE)
    SON.objects.filter(pk=son.pk).update(status=SON.Status.DEREGISTERED)
    assert services.son_liveness_check(now=at(30 * 86400)) == []


def test_a_heartbeat_leaves_an_inactive_son_inactive(son_1):
    son, _ = fixtures.make_son("son-2", status=SON.Status.INACTIVE)
    son = services.son_heartbeat(son=son, now=T0)
    assert son.status == SON.Status.INACTIVE
    assert son.last_heartbeat_at == T0
    assert statuses(son) == []


# Maintenance requested by the operator


def test_maintenance_requested_starts_at_the_next_liveness_check(son_1):
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    son = services.son_request_maintenance(son=son, by=son.owner, now=at(10))
    assert son.status == SON.Status.REQUEST_MAINTENANCE
    assert son.status in SON.FEDERATION_STATUSES  # still signs until maintenance starts
    started = services.son_liveness_check(now=at(30))
    assert [s.pk for s in started] == [son.pk]
    son.refresh_from_db()
    assert (son.status, son.last_down_at) == (SON.Status.IN_MAINTENANCE, at(30))
    son = services.son_heartbeat(son=son, now=at(630))
    assert son.status == SON.Status.ACTIVE
    assert son.total_downtime == 600
    assert statuses(son) == [
        ("active", "request_maintenance"),
        ("request_maintenance", "in_maintenance"),
        ("in_maintenance", "active"),
    ]
    reasons = list(son.status_changes.order_by("created_at").values_list("reason", flat=True))
    assert reasons[:2] == [
        "maintenance requested by operator_son_1",
        "maintenance requested by the operator",
    ]


def test_an_operator_can_cancel_a_maintenance_request_before_it_starts(son_1):
    son, _ = son_1
    services.son_request_maintenance(son=son, by=son.owner, now=at(10))
    son = services.son_cancel_maintenance(son=son, by=son.owner, now=at(20))
    assert son.status == SON.Status.ACTIVE
    assert services.son_liveness_check(now=at(30)) == []
    with pytest.raises(services.SONError, match="no pending maintenance request"):
        services.son_cancel_maintenance(son=son, by=son.owner, now=at(40))


@pytest.mark.parametrize(
    "status", [SON.Status.INACTIVE, SON.Status.IN_MAINTENANCE, SON.Status.REQUEST_MAINTENANCE]
)
def test_only_an_active_son_can_request_maintenance(son_1, status):
    son, _ = son_1
    SON.objects.filter(pk=son.pk).update(status=status)
    with pytest.raises(services.SONError, match="only for an active SON"):
        services.son_request_maintenance(son=son, by=son.owner)
    son.refresh_from_db()
    assert son.status == status


# The operator's page


def test_the_operator_requests_and_cancels_maintenance_from_the_son_page(son_1, client):
    son, _ = son_1
    client.force_login(son.owner)
    page = client.get(son.get_absolute_url())
    assert b'data-testid="request-maintenance"' in page.content
    url = reverse("sons-maintenance", args=[son.name])
    response = client.post(url, {"action": "request"})
    assert response.status_code == 302 and response["Location"] == son.get_absolute_url()
    son.refresh_from_db()
    assert son.status == SON.Status.REQUEST_MAINTENANCE
    page = client.get(son.get_absolute_url())
    assert b"is now requested maintenance" in page.content
    assert b'data-testid="cancel-maintenance"' in page.content
    # htmx: the status card comes back as a fragment.
    fragment = client.post(url, {"action": "cancel"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert b'id="son-status"' in fragment.content and b"<html" not in fragment.content
    son.refresh_from_db()
    assert son.status == SON.Status.ACTIVE


def test_the_son_page_explains_a_refused_maintenance_action(son_1, client):
    son, _ = son_1
    client.force_login(son.owner)
    url = reverse("sons-maintenance", args=[son.name])
    fragment = client.post(url, {"action": "cancel"}, HTTP_HX_REQUEST="true")
    assert b"has no pending maintenance request" in fragment.content
    assert client.post(url, {"action": "explode"}).status_code == 400
    assert client.get(url).status_code == 405


def test_only_the_operator_can_request_maintenance(son_1, client, admin_user, user_carol):
    son, _ = son_1
    url = reverse("sons-maintenance", args=[son.name])
    client.force_login(admin_user)  # sees the page, changes statuses in the admin instead
    assert b"request-maintenance" not in client.get(son.get_absolute_url()).content
    assert client.post(url, {"action": "request"}).status_code == 403
    client.force_login(user_carol)
    assert client.post(url, {"action": "request"}).status_code == 404
    other, _ = fixtures.make_son("son-2")
    client.force_login(other.owner)
    assert client.post(url, {"action": "request"}).status_code == 404
    client.logout()
    assert client.post(url, {"action": "request"}).status_code == 302  # to the login page
    son.refresh_from_db()
    assert son.status == SON.Status.ACTIVE


def test_the_son_page_shows_downtime_and_statistics(son_1, client):
    son, _ = son_1
    SON.objects.filter(pk=son.pk).update(total_downtime=7500)
    son.statistics.filter(sidechain="bitcoin").update(txs_signed=12, deposits_reported=3)
    client.force_login(son.owner)
    content = client.get(son.get_absolute_url()).content.decode()
    assert "2 h 5 min" in content
    assert '<span data-testid="son-settled-signed">12</span>' in content
    assert "Deposits reported" not in content  # nothing fills it: not shown


# The public status grid


def test_the_status_grid_is_public_and_shows_every_son(client, son_1):
    son, _ = son_1
    gone, _ = fixtures.make_son("son-2", status=SON.Status.DEREGISTERED)
    down, _ = fixtures.make_son("son-3", status=SON.Status.IN_MAINTENANCE)
    SON.objects.filter(pk=down.pk).update(
        last_down_at=T0, last_heartbeat_at=T0 - timedelta(minutes=7), total_downtime=60
    )
    son.statistics.filter(sidechain="hive").update(withdrawals_reported=4)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        response = client.get(reverse("sons-status"))
    assert response.status_code == 200
    content = response.content.decode()
    expected = [("son-1", "Active"), ("son-2", "Deregistered"), ("son-3", "In maintenance")]
    for name, label in expected:
        assert f'data-testid="son-status-{name}">{label}</span>' in content
    assert "30 min / 31 min" in content  # son-3: current and total downtime
    assert content.index("son-3") < content.index("son-2")  # deregistered ones last
    assert son.get_absolute_url() not in content  # SON pages are for operators


def test_the_status_grid_refreshes_as_a_fragment(client, son_1):
    response = client.get(reverse("sons-status"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="son-grid"' in response.content and b"<html" not in response.content


def test_deregistration_keeps_the_sons_history(son_1):
    son, _ = son_1
    SON.objects.filter(pk=son.pk).update(total_downtime=100)
    son.statistics.filter(sidechain="bitcoin").update(txs_signed=12, deposits_reported=3)
    services.son_heartbeat(son=son, now=T0)
    services.son_liveness_check(now=at(400))
    with transaction.atomic():
        assert services.son_deregister(son=son, reason="test", now=at(13 * 3600))
    son.refresh_from_db()
    assert son.status == SON.Status.DEREGISTERED
    # the interval in progress (400 s to 13 h) is kept, not dropped with the status
    assert son.total_downtime == 100 + 13 * 3600 - 400
    assert son.downtime(at(20 * 3600)) == son.total_downtime
    assert son.last_down_at == at(400)
    stats = son.statistics.get(sidechain="bitcoin")
    assert (stats.txs_signed, stats.deposits_reported) == (12, 3)
    with transaction.atomic():  # a second deregistration changes nothing
        assert not services.son_deregister(son=son, reason="again", now=at(14 * 3600))
    son.refresh_from_db()
    assert son.total_downtime == 100 + 13 * 3600 - 400
