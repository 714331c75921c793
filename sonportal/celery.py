"""The Celery app and the one place where the beat schedule is written.

django-celery-beat's DatabaseScheduler copies this schedule into its tables when beat starts;
administrators can pause an entry in the admin. Each entry expires at ~1.5x its interval so a
backlog after downtime does not pile up.
"""

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sonportal.settings")

app = Celery("sonportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _every(seconds: float, task: str) -> dict[str, Any]:
    return {"task": task, "schedule": seconds, "options": {"expires": seconds * 1.5}}


@app.on_after_configure.connect  # type: ignore[untyped-decorator]  # Celery has no type hints
def install_schedule(sender: Celery, **kwargs: Any) -> None:
    from django.conf import settings

    listener = settings.BITCOIN_LISTENER_INTERVAL
    sender.conf.beat_schedule = {
        # The checks /healthz and the admin status panel read (sonportal.health.report).
        "health-check": _every(settings.HEALTH_CHECK_EVERY, "sonportal.tasks.health_check"),
        "son-liveness": _every(settings.SON_LIVENESS_CHECK_EVERY, "sons.tasks.son_liveness"),
        # Expiry, deregistration and refund proposals, execution retries.
        "proposals-tick": _every(settings.PROPOSALS_TICK_EVERY, "proposals.tasks.proposals_tick"),
        "bitcoin-listen": _every(listener, "sidechains.tasks.bitcoin_listen"),
        "bitcoin-mempool": _every(listener, "sidechains.tasks.bitcoin_mempool"),
        "bitcoin-deposits": _every(listener, "sidechains.tasks.bitcoin_process_deposits"),
        "bitcoin-withdrawals": _every(listener, "sidechains.tasks.bitcoin_withdrawals"),
        "bitcoin-sweeps": _every(listener, "sidechains.tasks.bitcoin_sweeps"),
        "bitcoin-reserves": _every(60, "sidechains.tasks.bitcoin_reserves"),
        "hive-reserves": _every(60, "sidechains.tasks.hive_reserves"),
        # A new liabilities epoch when the last one is SOLVENCY_EPOCH_INTERVAL old.
        "solvency-epoch": _every(300, "solvency.tasks.solvency_epoch"),
        "hive-listen": _every(settings.HIVE_LISTENER_INTERVAL, "sidechains.tasks.hive_listen"),
        "hive-withdrawals": _every(
            settings.HIVE_LISTENER_INTERVAL, "sidechains.tasks.hive_withdrawals"
        ),
        # Deposits seen (their events are bulk-created) and proposals about to expire.
        "notifications-sweep": _every(60, "notifications.tasks.notifications_sweep"),
    }
