"""GET /api/v1/withdrawals a page at a time: newest first by cursor, every withdrawal once, a
bounded page size, bad cursors refused as input, and the same queries for every page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.api_pages import MAX_PAGE_SIZE, PAGE_SIZE
from sidechains.models import Withdrawal
from tests import fixtures

pytestmark = pytest.mark.django_db

WITHDRAWALS = reverse("api-withdrawals")


def add_withdrawals(user, n: int, *, start: int = 0) -> None:
    now = timezone.now()
    rows = Withdrawal.objects.bulk_create(
        Withdrawal(
            user=user,
            amount_pegged=10_000,
            rate=Decimal(1),
            amount=10_000,
            address="bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            request_id=f"r-{start + i}",
        )
        for i in range(n)
    )
    # Two by two at the same instant: the cursor must not lose or repeat ties.
    for i, row in enumerate(rows):
        created = now - timedelta(seconds=(start + i) // 2)
        Withdrawal.objects.filter(pk=row.pk).update(created_at=created)


@pytest.fixture
def api(user_carol):
    client = APIClient()
    client.force_authenticate(user_carol)
    return client


def walk(api, url: str) -> list[list[int]]:
    pages = []
    while url:
        body = api.get(url).json()
        pages.append([w["id"] for w in body["results"]])
        url = body["next"]
    return pages


def test_it_pages_every_withdrawal_once_newest_first(api, user_carol):
    add_withdrawals(user_carol, 2 * PAGE_SIZE + 21)
    add_withdrawals(fixtures.make_user("user_dave"), 5, start=1000)

    pages = walk(api, WITHDRAWALS)

    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 21]
    ids = [i for page in pages for i in page]
    newest_first = Withdrawal.objects.filter(user=user_carol).order_by("-created_at", "-id")
    assert ids == list(newest_first.values_list("id", flat=True))


def test_it_keeps_its_place_when_withdrawals_arrive_between_pages(api, user_carol):
    add_withdrawals(user_carol, 60)
    first = api.get(WITHDRAWALS, {"page_size": 20}).json()
    add_withdrawals(user_carol, 3, start=500)  # newer than every row listed so far
    new = ["r-500", "r-501", "r-502"]
    Withdrawal.objects.filter(request_id__in=new).update(created_at=timezone.now())

    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()

    assert [w["id"] for w in back["results"]] == [w["id"] for w in first["results"]]
    assert not {w["id"] for w in second["results"]} & {w["id"] for w in first["results"]}
    assert len(second["results"]) == 20


def test_it_bounds_the_page_size_and_refuses_bad_cursors(api, user_carol):
    add_withdrawals(user_carol, MAX_PAGE_SIZE + 5)

    big = api.get(WITHDRAWALS, {"page_size": 10_000}).json()
    bad = api.get(WITHDRAWALS, {"cursor": "not-a-cursor"})
    huge = api.get(WITHDRAWALS, {"cursor": "x" * 5_000})

    assert len(big["results"]) == MAX_PAGE_SIZE
    assert (bad.status_code, bad.json()) == (400, {"cursor": ["Invalid cursor."]})
    assert (huge.status_code, huge.json()) == (400, {"cursor": ["Invalid cursor."]})


def test_it_reads_every_page_in_the_same_queries_without_transaction_bytes(api, user_carol):
    add_withdrawals(user_carol, 3 * PAGE_SIZE)
    counts, url = [], WITHDRAWALS
    while url:
        with CaptureQueriesContext(connection) as captured:
            url = api.get(url).json()["next"]
        sql = [q["sql"] for q in captured.captured_queries]
        assert not [q for q in sql if '"unsigned_tx"' in q or '"signed_tx"' in q]
        counts.append(len(sql))
    assert len(set(counts)) == 1 and len(counts) == 3
