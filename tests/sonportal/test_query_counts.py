"""Query counts per page: each page's number of queries is the same with a few rows as with
many (no N+1), its lists are one page long, and the big admin changelists neither COUNT(*)
their whole table nor draw a date hierarchy. Load figures are in bench/web.py; these tests
keep the fixes from coming undone."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.pagination import EstimatedCountPaginator
from ledger.models import Entry
from proposals.models import Approval, Proposal
from sidechains.models import Deposit, DepositEvent, SidechainTransaction, Withdrawal
from sidechains.views import PER_PAGE
from sonportal import health
from sons.models import Sidechain
from tests import fixtures
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation

pytestmark = pytest.mark.django_db

DEPOSITS = reverse("sidechains-deposits")
WITHDRAWALS = reverse("sidechains-withdrawals")
PROPOSALS = reverse("proposals-home")
HTMX = {"HTTP_HX_REQUEST": "true"}


def sign_in(client, user) -> None:
    """Log in and make one request, so the session's one-time queries (allauth's user-session
    row) fall outside what the tests count."""
    client.force_login(user)
    client.get(reverse("home"))


def queries_of(client, url: str, **headers) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.content[:500]
    return [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def carol(user_carol):
    make_federation(3)
    return user_carol, make_bitcoin_mapping(user_carol)


def add_deposits(user, mapping, n: int, *, start: int = 0) -> None:
    now = timezone.now()
    Deposit.objects.bulk_create(
        Deposit(
            chain=Sidechain.BITCOIN,
            txid=f"{user.pk:08x}{start + i:056x}",
            vout=0,
            amount=10_000 + i,
            mapping=mapping,
            user=user,
            block_hash="00" * 32,
            block_height=600 + i,
            raw_tx=b"\x00" * 200,
            confirmations_required=3,
            detected_at=now - timedelta(seconds=start + i),
        )
        for i in range(n)
    )


def add_withdrawals(user, n: int, *, start: int = 0) -> None:
    tx = SidechainTransaction.objects.create(
        status=SidechainTransaction.Status.BROADCAST,
        unsigned_tx=b"\x01" * 5_000,
        signed_tx=b"\x02" * 9_000,
        txid=f"{start:064x}",
        fee=1_000,
        vsize=500,
        feerate=2,
        mined_height=601,
    )
    Withdrawal.objects.bulk_create(
        Withdrawal(
            user=user,
            amount_pegged=100_000,
            rate=Decimal(1),
            amount=100_000,
            address="bcrt1qexample",
            request_id=f"r-{start + i}",
            # Half in a sent transaction, half still requested.
            status=Withdrawal.Status.BROADCAST if i % 2 else Withdrawal.Status.REQUESTED,
            sidechain_tx=tx if i % 2 else None,
        )
        for i in range(n)
    )


def test_it_keeps_the_deposits_page_and_its_poll_constant_and_one_page_long(client, carol):
    user, mapping = carol
    sign_in(client, user)
    add_deposits(user, mapping, 3)
    few = len(queries_of(client, DEPOSITS)), len(queries_of(client, DEPOSITS, **HTMX))
    add_deposits(user, mapping, PER_PAGE + 20, start=3)

    many = len(queries_of(client, DEPOSITS)), len(queries_of(client, DEPOSITS, **HTMX))
    poll = client.get(DEPOSITS + "?page=2", **HTMX).content.decode()

    assert many == few
    assert poll.count('data-testid="deposit-') == 23  # the rest after one page of 50
    assert f'hx-get="{DEPOSITS}?page=2"' in poll  # the poll re-renders the page shown
    assert "Page 2 of 2 (73 in all)" in poll


def test_it_reads_no_deposit_bytes_for_the_deposits_page(client, carol):
    user, mapping = carol
    add_deposits(user, mapping, 2)
    sign_in(client, user)

    sql = [q for q in queries_of(client, DEPOSITS) if 'FROM "sidechains_deposit"' in q]

    assert sql and not any('"raw_tx"' in q for q in sql)


def test_it_keeps_the_withdrawals_page_and_its_poll_constant_without_transaction_bytes(
    client, carol
):
    user, _ = carol
    sign_in(client, user)
    add_withdrawals(user, 4)
    few = len(queries_of(client, WITHDRAWALS)), len(queries_of(client, WITHDRAWALS, **HTMX))
    add_withdrawals(user, PER_PAGE + 10, start=4)

    queries = queries_of(client, WITHDRAWALS, **HTMX)
    many = len(queries_of(client, WITHDRAWALS)), len(queries)
    poll = client.get(WITHDRAWALS, **HTMX).content.decode()

    assert many == few
    assert poll.count('data-testid="withdrawal-') == PER_PAGE
    listing = [q for q in queries if 'FROM "sidechains_withdrawal"' in q and "LIMIT" in q]
    assert listing and not any(
        f'"{column}"' in q
        for q in listing
        for column in ("unsigned_tx", "signed_tx", "change_witness_script")
    )


def test_it_keeps_the_account_page_constant(client, carol):
    user, mapping = carol
    sign_in(client, user)
    few = len(queries_of(client, reverse("account-home")))
    add_deposits(user, mapping, 30)
    add_withdrawals(user, 30)

    assert len(queries_of(client, reverse("account-home"))) == few


def raise_proposals(n: int, *, start: int, witnesses) -> None:
    """n deregistration and n refund proposals, each approved by every witness."""
    now = timezone.now()
    user = fixtures.make_user(f"refunded_{start}")
    mapping = make_bitcoin_mapping(user)
    add_deposits(user, mapping, n, start=start)
    for i, deposit in enumerate(Deposit.objects.filter(user=user)):
        Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.REFUND_PENDING)
        DepositEvent.objects.create(
            deposit=deposit, new_status=Deposit.Status.REFUND_PENDING, note="1 of 3 active"
        )
        son, _ = fixtures.make_son(f"gone-{start + i}")
        for kind, fields in (
            (Proposal.Kind.REFUND_DEPOSIT, {"deposit": deposit}),
            (Proposal.Kind.DEREGISTER_SON, {"son": son}),
        ):
            proposal = Proposal.objects.create(
                kind=kind, created_at=now, expires_at=now + timedelta(hours=1), **fields
            )
            Approval.objects.bulk_create(
                Approval(proposal=proposal, witness=w, created_at=now) for w in witnesses
            )


def test_it_keeps_the_witness_inbox_constant_in_the_number_of_proposals(client, carol):
    witnesses = make_witnesses(1, 1, 1)
    sign_in(client, witnesses[0].user)
    raise_proposals(1, start=0, witnesses=witnesses)
    few = len(queries_of(client, PROPOSALS)), len(queries_of(client, PROPOSALS, **HTMX))
    raise_proposals(8, start=100, witnesses=witnesses)

    many = len(queries_of(client, PROPOSALS)), len(queries_of(client, PROPOSALS, **HTMX))
    detail = reverse("proposals-detail", args=[Proposal.objects.first().pk])

    assert many == few
    assert Proposal.objects.pending().count() == 18
    assert len(queries_of(client, detail)) <= few[0]


@pytest.mark.parametrize("model", ["deposit", "withdrawal"])
def test_it_keeps_the_admin_changelists_constant(client, carol, admin_user, model):
    user, mapping = carol
    url = reverse(f"admin:sidechains_{model}_changelist")
    sign_in(client, admin_user)
    add_deposits(user, mapping, 2)
    add_withdrawals(user, 2)
    few = len(queries_of(client, url)), len(queries_of(client, url + "?q=user_carol"))
    add_deposits(user, mapping, 40, start=2)
    add_withdrawals(user, 40, start=2)

    many = len(queries_of(client, url)), len(queries_of(client, url + "?q=user_carol"))

    assert many == few


def test_it_counts_a_large_unfiltered_changelist_by_estimate_and_draws_no_date_hierarchy(
    client, carol, admin_user, monkeypatch
):
    user, mapping = carol
    add_deposits(user, mapping, 30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sidechains_deposit")
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 10)
    sign_in(client, admin_user)
    url = reverse("admin:sidechains_deposit_changelist")

    unfiltered = queries_of(client, url)
    filtered = queries_of(client, url + "?status__exact=detected")

    on_deposits = [q for q in unfiltered if '"sidechains_deposit"' in q]
    assert not [q for q in on_deposits if "COUNT(" in q]
    assert any("reltuples" in q for q in unfiltered)
    assert not [q for q in on_deposits if "DATE_TRUNC" in q.upper() or "EXTRACT(" in q.upper()]
    # A filtered list counts exactly, once (no second COUNT(*) of the whole table).
    assert len([q for q in filtered if "COUNT(" in q and '"sidechains_deposit"' in q]) == 1


def test_it_searches_the_deposit_changelist_by_exact_txid_or_username(client, carol, admin_user):
    user, mapping = carol
    add_deposits(user, mapping, 3)
    txid = Deposit.objects.order_by("id").first().txid
    sign_in(client, admin_user)
    url = reverse("admin:sidechains_deposit_changelist")

    by_txid = client.get(url, {"q": txid}).content.decode()
    by_name = client.get(url, {"q": "user_carol"}).content.decode()
    partial = client.get(url, {"q": "user_car"}).content.decode()
    queries = queries_of(client, url + f"?q={txid}")

    assert "1 result" in by_txid and txid in by_txid
    assert "3 results" in by_name
    assert "0 results" in partial
    assert not [q for q in queries if "UPPER(" in q or "LIKE" in q]


def test_it_checks_the_ledger_once_per_cache_period_for_health(settings):
    settings.HEALTH_LEDGER_CACHE = 60
    cache.delete(health.LEDGER_CHECK_KEY)
    table = Entry._meta.db_table

    with CaptureQueriesContext(connection) as first:
        assert health.check_ledger().ok
    with CaptureQueriesContext(connection) as second:
        again = health.check_ledger()

    assert any(table in q["sql"] for q in first.captured_queries)
    assert again.ok and again.detail.startswith("balanced")
    assert not second.captured_queries
    cache.delete(health.LEDGER_CHECK_KEY)
