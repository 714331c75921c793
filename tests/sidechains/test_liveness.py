from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from sidechains import services
from sidechains.models import SON, SONStatusChange

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_it_marks_a_silent_son_down_after_son_down_time(son_1, settings):
    settings.SON_DOWN_TIME = 360
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    assert services.son_mark_down_if_silent(now=T0 + timedelta(seconds=360)) == []
    marked = services.son_mark_down_if_silent(now=T0 + timedelta(seconds=361))
    assert [s.pk for s in marked] == [son.pk]
    son.refresh_from_db()
    assert son.status == SON.Status.IN_MAINTENANCE
    assert son.last_down_at == T0 + timedelta(seconds=361)
    change = SONStatusChange.objects.get(son=son)
    assert (change.old_status, change.new_status) == ("active", "in_maintenance")


def test_it_marks_down_once_when_run_again(son_1):
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    later = T0 + timedelta(hours=1)
    services.son_mark_down_if_silent(now=later)
    assert services.son_mark_down_if_silent(now=later + timedelta(minutes=5)) == []
    assert SONStatusChange.objects.filter(son=son).count() == 1


def test_it_counts_a_son_that_never_beat_as_silent(son_1):
    son, _ = son_1
    with time_machine.travel(son.created_at + timedelta(hours=1)):
        assert [s.pk for s in services.son_mark_down_if_silent()] == [son.pk]


def test_it_brings_a_son_back_and_accounts_the_downtime(son_1):
    son, _ = son_1
    services.son_heartbeat(son=son, now=T0)
    services.son_mark_down_if_silent(now=T0 + timedelta(seconds=400))
    son = services.son_heartbeat(son=son, now=T0 + timedelta(seconds=1000))
    assert son.status == SON.Status.ACTIVE
    assert son.total_downtime == 600
    assert son.current_downtime(T0 + timedelta(seconds=1000)) == 0
    assert list(son.status_changes.values_list("new_status", flat=True)) == [
        "active",
        "in_maintenance",
    ]


def test_it_leaves_inactive_and_deregistered_sons_alone(son_1):
    son, _ = son_1
    SON.objects.filter(pk=son.pk).update(status=SON.Status.DEREGISTERED)
    assert services.son_mark_down_if_silent(now=T0 + timedelta(days=30)) == []
