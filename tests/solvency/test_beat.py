"""The beat's epochs run on a real worker; two epochs made at once are numbered one after the
other."""

import threading

import pytest
from django.db import connection

from rates.assets import Asset
from solvency.epochs import epoch_create
from solvency.models import Epoch
from solvency.tasks import solvency_epoch
from tests import fixtures
from tests.solvency.helpers import credit

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_beat_task_publishes_an_epoch_on_a_real_worker(celery_worker, settings):
    settings.SOLVENCY_EPOCH_INTERVAL = 3600
    credit(fixtures.make_user("user_carol"), Asset.PBTC, 1_000)
    assert solvency_epoch.delay().get(timeout=30) == 1
    assert solvency_epoch.delay().get(timeout=30) is None  # not due again for an hour
    assert Epoch.objects.get().totals == [1_000, 0, 0]


def test_concurrent_epochs_are_numbered_one_after_the_other():
    credit(fixtures.make_user("user_carol"), Asset.PBTC, 1_000)
    barrier, made, errors = threading.Barrier(3), [], []

    def make():
        try:
            barrier.wait(10)
            made.append(epoch_create().number)
        except Exception as e:  # the test reports any, rather than a hung thread
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=make) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(made) == [1, 2, 3]
    epochs = list(Epoch.objects.order_by("number"))
    assert [e.prev_root for e in epochs[1:]] == [e.root for e in epochs[:-1]]
