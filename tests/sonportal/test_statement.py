"""The statement (running balance, filters, CSV) and the account page's money summary."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from ledger.statements import statement_latest, statement_of
from rates.assets import Asset
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.models import Deposit
from tests import fixtures
from tests.sidechains.deposit_helpers import (
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    set_btc_rate,
)
from tests.sidechains.withdrawal_helpers import credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(bitcoin, user_carol):
    make_federation(3)
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    credit(user_carol, 100_000, label="a")
    credit(user_carol, 50_000, label="b")
    withdrawal_request(user=user_carol, amount_pegged=30_000, request_id="w-1")
    make_deposit(mapping, bitcoin, amount=250_000, status=Deposit.Status.DETECTED)
    return user_carol


def test_the_statement_runs_the_balance_newest_first(client, carol):
    client.force_login(carol)
    page = client.get(reverse("account-statement"))
    rows = page.context["rows"]
    assert [(r["change"], r["balance"]) for r in rows] == [
        ("-0.00030000 pBTC", "0.00120000 pBTC"),
        ("0.00050000 pBTC", "0.00150000 pBTC"),
        ("0.00100000 pBTC", "0.00100000 pBTC"),
    ]


def test_the_statement_filters_by_token_and_day_and_refuses_a_bad_range(client, carol):
    client.force_login(carol)
    assert client.get(reverse("account-statement"), {"asset": "pHIVE"}).context["rows"] == []
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert client.get(reverse("account-statement"), {"since": tomorrow}).context["rows"] == []
    today = timezone.localdate().isoformat()
    assert len(client.get(reverse("account-statement"), {"until": today}).context["rows"]) == 3
    bad = client.get(reverse("account-statement"), {"since": tomorrow, "until": today})
    assert bad.status_code == 400
    assert "after the last" in bad.content.decode()
    assert client.get(reverse("account-statement"), {"asset": "DOGE"}).status_code == 400


def test_the_statement_downloads_as_csv(client, carol):
    client.force_login(carol)
    response = client.get(reverse("account-statement"), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["time (UTC)", "asset", "what", "reference", "change", "balance"]
    assert [r[4:] for r in rows[1:]] == [
        ["0.00100000", "0.00100000"],
        ["0.00050000", "0.00150000"],
        ["-0.00030000", "0.00120000"],
    ]


def test_the_account_page_shows_available_in_flight_and_coming_in(client, carol):
    client.force_login(carol)
    page = client.get(reverse("account-home")).content.decode()
    assert "0.00120000 pBTC" in page
    assert 'data-testid="in-flight">0.00030000 pBTC' in page
    assert 'data-testid="pending">0.00250000 BTC' in page
    fragment = client.get(reverse("account-home"), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="summary"')
    assert "withdrawal requested (escrow)" in fragment


def test_nobody_sees_another_persons_statement(client, carol):
    client.force_login(fixtures.make_user("user_erin"))
    assert client.get(reverse("account-statement")).context["rows"] == []


def test_the_latest_lines_are_the_statements_last_ones_with_the_same_balances(carol, admin_user):
    """statement_latest reads only the newest entries, yet every line and balance is the full
    statement's: across two assets, with movements in and out, older lines than it returns."""
    for i in range(4):
        credit(carol, 1_000 * (i + 1), label=f"more-{i}")
        ledger_transfer(
            source=system_account(LedgerAccount.System.ISSUANCE),
            destination=ledger_account_for(carol),
            asset=Asset.PHIVE,
            amount=100 * (i + 1),
            reason=Entry.Reason.DEPOSIT,
            reference=f"hive:{i}",
        )
    credit(admin_user, 7_000, label="other")  # another account's entries interleave
    full = statement_of(carol)
    for count in (1, 5, len(full), len(full) + 3):
        assert statement_latest(carol, count) == list(reversed(full))[:count]
    assert statement_latest(admin_user, 5)[0].balance == 7_000


def test_the_account_page_lists_the_five_latest_movements(client, carol):
    for i in range(6):
        credit(carol, 10 + i, label=f"small-{i}")
    client.force_login(carol)
    movements = client.get(reverse("account-home")).context["movements"]
    assert [m["change"] for m in movements] == [f"0.000000{10 + i} pBTC" for i in range(5, 0, -1)]
    assert movements[0]["balance"] == "0.00120075 pBTC"
