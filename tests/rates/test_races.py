"""Two requests with one request id at once: the second waits for the first and replays it."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from rates.assets import Pair
from rates.models import ExchangeRate
from rates.services import rate_set


@pytest.mark.django_db(transaction=True)
def test_it_replays_a_concurrent_request_with_the_same_id(seeded, admin_user):
    args = {"pair": Pair.BTC_PBTC, "rate": Decimal("0.995"), "set_by": admin_user}
    first_written, release = threading.Event(), threading.Event()
    results = {}

    def first():
        try:
            with transaction.atomic():
                results["first"] = rate_set(**args, request_id="race-1")
                first_written.set()
                release.wait(10)  # hold the transaction open: the row is not visible yet
        finally:
            connection.close()

    def second():
        try:
            first_written.wait(10)
            # Its lookup finds nothing committed; its insert waits on the unique index.
            results["second"] = rate_set(**args, request_id="race-1")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_written.wait(10)
    time.sleep(0.5)  # let the second request block on the first one's row
    assert "second" not in results
    release.set()
    for t in threads:
        t.join(10)
    assert results["second"].pk == results["first"].pk
    assert results["second"].replayed
    assert ExchangeRate.objects.filter(request_id="race-1").count() == 1
