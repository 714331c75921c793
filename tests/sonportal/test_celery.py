"""Beat, broker, worker and database together: the schedule runs for real."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from sonportal import health
from sonportal.models import HealthReport
from sons.models import SON
from sons.tasks import son_liveness
from tests import fixtures

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_for(predicate, timeout: float = 30, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def test_it_runs_a_task_on_a_real_worker(celery_worker):
    son, _ = fixtures.make_son("son-1")
    SON.objects.filter(pk=son.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))
    assert son_liveness.delay().get(timeout=20) == 1
    son.refresh_from_db()
    assert son.status == SON.Status.IN_MAINTENANCE


@pytest.fixture
def beat(celery_worker):
    env = {
        **os.environ,
        "DATABASE_NAME": settings.DATABASES["default"]["NAME"],
        "SON_LIVENESS_CHECK_EVERY": "1",
        "HEALTH_CHECK_EVERY": "1",
    }
    argv = [sys.executable, "-m", "celery", "-A", "sonportal", "beat", "-l", "warning"]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    yield process
    process.terminate()
    process.wait(timeout=20)


def test_it_runs_the_beat_schedule_through_the_worker(
    beat, celery_worker, bitcoin, client, settings
):
    settings.FEDERATION_MIN_SIZE = 1  # one SON left at the end: the federation check passes
    son, token = fixtures.make_son("son-1")
    son_2, _ = fixtures.make_son("son-2")
    SON.objects.filter(pk=son_2.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))

    # Beat installs the schedule in the database and sends the liveness task every second ...
    wait_for(lambda: PeriodicTask.objects.filter(name="son-liveness", last_run_at__isnull=False))
    # ... which the worker runs against the database: the silent SON goes down.
    wait_for(lambda: SON.objects.get(pk=son_2.pk).status == SON.Status.IN_MAINTENANCE)

    client.post(
        reverse("api-son-heartbeat"),
        fixtures.heartbeat_body(son),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    SON.objects.filter(pk=son_2.pk).update(status=SON.Status.DEREGISTERED)
    # /healthz reads the checks beat's health task stored: wait for a run after the changes.
    changed = timezone.now()
    wait_for(lambda: HealthReport.objects.filter(checked_at__gt=changed).exists())
    response = client.get(reverse("healthz"))
    report = response.json()
    assert response.status_code == 200, report
    names = {c["name"] for c in report["checks"] if c["ok"]}
    assert names == {
        "database",
        "broker",
        "bitcoin",
        "beat",
        "ledger",
        "reserves",
        "federation",
        "signer son-1",
    }
    stored = HealthReport.objects.get()
    [broker] = [c for c in stored.checks if c["name"] == "broker"]
    ran_on = broker["detail"].removeprefix("beat's check ran on ")
    assert ran_on and ran_on in celery_worker.hostname  # the worker's node or host name
    assert beat.poll() is None


def test_it_reports_beat_down_when_it_has_sent_nothing():
    check = health.check_beat()
    assert not check.ok
    assert check.error == "beat has not sent any task yet"
