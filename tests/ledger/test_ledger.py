"""The double-entry ledger: transfers, refusals, retries, races, and its invariant check."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.urls import reverse

from ledger.models import Balance, Entry, LedgerAccount
from ledger.services import (
    EntryConflict,
    InsufficientFunds,
    LedgerError,
    balances_of,
    ledger_account_for,
    ledger_check,
    ledger_liabilities,
    ledger_receivables,
    ledger_supply,
    ledger_transfer,
    system_account,
)
from sonportal import health
from tests import fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

ISSUANCE = LedgerAccount.System.ISSUANCE
SON_ACCOUNT = LedgerAccount.System.SON_ACCOUNT


def issue(user, amount: int, reference: str, asset: str = "pBTC") -> Entry:
    return ledger_transfer(
        source=system_account(ISSUANCE),
        destination=ledger_account_for(user),
        asset=asset,
        amount=amount,
        reason=Entry.Reason.DEPOSIT,
        reference=reference,
    )


def escrow(user, amount: int, reference: str) -> Entry:
    return ledger_transfer(
        source=ledger_account_for(user),
        destination=system_account(SON_ACCOUNT),
        asset="pBTC",
        amount=amount,
        reason=Entry.Reason.WITHDRAWAL_ESCROW,
        reference=reference,
    )


def in_threads(n: int, work) -> list:
    """Run work(i) for i in range(n) at once, each in its own thread and connection; returns
    each call's result or the exception it raised."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            return work(i)
        except Exception as e:
            return e
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_it_moves_tokens_and_records_the_entry(user_carol):
    entry = issue(user_carol, 150_000, "deposit:1")

    assert (entry.source.system, entry.destination.user) == (ISSUANCE, user_carol)
    assert (entry.asset, entry.amount, entry.reference) == ("pBTC", 150_000, "deposit:1")
    assert balances_of(user_carol) == {"pBTC": 150_000, "pHIVE": 0, "pHBD": 0}
    assert ledger_supply() == {"pBTC": 150_000, "pHIVE": 0, "pHBD": 0}
    escrow(user_carol, 50_000, "withdrawal:1")
    assert balances_of(user_carol)["pBTC"] == 100_000
    son_account = Balance.objects.get(account__system=SON_ACCOUNT, asset="pBTC")
    assert son_account.amount == 50_000


def test_it_shows_zero_balances_to_a_user_without_an_account(user_carol):
    assert balances_of(user_carol) == {"pBTC": 0, "pHIVE": 0, "pHBD": 0}
    assert not LedgerAccount.objects.filter(user=user_carol).exists()


def test_it_refuses_to_overdraw_a_user_and_changes_nothing(user_carol):
    issue(user_carol, 1_000, "deposit:1")

    with pytest.raises(InsufficientFunds, match="0.00001000 pBTC, not 0.00001001 pBTC"):
        escrow(user_carol, 1_001, "withdrawal:1")

    assert balances_of(user_carol)["pBTC"] == 1_000
    assert Entry.objects.count() == 1


def test_it_lets_only_issuance_go_negative(user_carol):
    issue(user_carol, 5, "deposit:1")
    issuance = Balance.objects.get(account__system=ISSUANCE, asset="pBTC")
    assert (issuance.amount, issuance.may_go_negative) == (-5, True)
    with pytest.raises(InsufficientFunds):
        ledger_transfer(
            source=system_account(SON_ACCOUNT),
            destination=system_account(ISSUANCE),
            asset="pBTC",
            amount=1,
            reason=Entry.Reason.WITHDRAWAL_BURN,
            reference="withdrawal:1",
        )


def test_it_returns_the_first_entry_when_a_transfer_is_retried(user_carol):
    first = issue(user_carol, 700, "deposit:1")

    again = issue(user_carol, 700, "deposit:1")

    assert again.pk == first.pk
    assert balances_of(user_carol)["pBTC"] == 700
    assert Entry.objects.count() == 1


def test_it_returns_the_first_entry_even_when_the_balance_no_longer_covers_it(user_carol):
    issue(user_carol, 700, "deposit:1")
    first = escrow(user_carol, 700, "withdrawal:1")
    assert escrow(user_carol, 700, "withdrawal:1").pk == first.pk
    assert balances_of(user_carol)["pBTC"] == 0


def test_it_refuses_a_different_movement_under_a_recorded_key(user_carol):
    issue(user_carol, 700, "deposit:1")
    with pytest.raises(EntryConflict):
        issue(user_carol, 701, "deposit:1")
    with pytest.raises(EntryConflict):
        issue(fixtures.make_user("user_dave"), 700, "deposit:1")
    assert balances_of(user_carol)["pBTC"] == 700
    # The key includes the asset: the same reference in another asset is another movement.
    issue(user_carol, 700, "deposit:1", asset="pHIVE")
    assert balances_of(user_carol) == {"pBTC": 700, "pHIVE": 700, "pHBD": 0}


@pytest.mark.parametrize(
    ("asset", "amount", "message"),
    [
        ("BTC", 1, "not 'BTC'"),
        ("pBTC", 0, "positive int"),
        ("pBTC", -5, "positive int"),
        ("pBTC", True, "positive int"),
        ("pBTC", 1.0, "positive int"),
    ],
)
def test_it_refuses_malformed_transfers(user_carol, asset, amount, message):
    with pytest.raises(LedgerError, match=message):
        issue(user_carol, amount, "deposit:1", asset=asset)
    assert not Entry.objects.exists()


def test_it_refuses_a_transfer_to_the_same_account_or_for_an_unknown_reason(user_carol):
    account = ledger_account_for(user_carol)
    common = {"asset": "pBTC", "amount": 1, "reference": "x"}
    with pytest.raises(LedgerError, match="two different accounts"):
        ledger_transfer(source=account, destination=account, reason="deposit", **common)
    with pytest.raises(LedgerError, match="Unknown reason"):
        ledger_transfer(
            source=system_account(ISSUANCE), destination=account, reason="gift", **common
        )
    with pytest.raises(LedgerError, match="Unknown system account"):
        system_account("treasury")


def test_it_keeps_one_account_per_user_and_per_system_name(user_carol):
    assert ledger_account_for(user_carol).pk == ledger_account_for(user_carol).pk
    assert system_account(ISSUANCE).pk == system_account(ISSUANCE).pk
    assert system_account(ISSUANCE).pk != system_account(SON_ACCOUNT).pk


def test_it_reports_each_broken_invariant(user_carol):
    issue(user_carol, 1_000, "deposit:1")
    assert ledger_check() == []
    user_balance = Balance.objects.get(account__user=user_carol)
    account = user_balance.account_id

    Balance.objects.filter(pk=user_balance.pk).update(amount=999)
    assert ledger_check() == [
        "pBTC balances sum to -1, not 0",
        f"account {account} pBTC balance 999 != entries 1000",
    ]

    Balance.objects.filter(pk=user_balance.pk).update(may_go_negative=True, amount=-1_000)
    problems = ledger_check()
    assert f"user:{user_carol.pk} has a negative pBTC balance -1000" in problems

    Balance.objects.filter(pk=user_balance.pk).update(may_go_negative=False, amount=1_000)
    assert ledger_check() == []


def test_it_reports_entries_without_a_balance_row(user_carol):
    issue(user_carol, 1_000, "deposit:1")
    Balance.objects.filter(account__user=user_carol).delete()
    problems = ledger_check()
    assert any("balance 0 != entries 1000" in p for p in problems)
    Balance.objects.create(account=ledger_account_for(user_carol), asset="pBTC", amount=1_000)
    assert ledger_check() == []


def test_it_checks_the_ledger_in_healthz(user_carol, admin_user, client, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    client.force_login(admin_user)  # the details are for those who may see alerts
    issue(user_carol, 250_000_000, "deposit:1")
    check = health.check_ledger()
    assert check.ok
    assert check.detail == "balanced; supply 2.50000000 pBTC, 0.000 pHIVE, 0.000 pHBD"

    Balance.objects.filter(account__user=user_carol).update(amount=1)
    health.health_record()  # beat's task, run here
    response = client.get(reverse("healthz"))
    [ledger] = [c for c in response.json()["checks"] if c["name"] == "ledger"]
    assert ledger["ok"] is False
    assert "pBTC balances sum to -249999999, not 0" in ledger["error"]
    Balance.objects.filter(account__user=user_carol).update(amount=250_000_000)


@pytest.mark.django_db(transaction=True)
def test_it_never_overdraws_a_balance_spent_from_many_threads_at_once(user_carol):
    issue(user_carol, 100, "deposit:1")

    results = in_threads(8, lambda i: escrow(user_carol, 30, f"withdrawal:{i}"))

    spent = [r for r in results if isinstance(r, Entry)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert (len(spent), len(refused)) == (3, 5), results
    assert balances_of(user_carol)["pBTC"] == 10


@pytest.mark.django_db(transaction=True)
def test_it_records_a_transfer_retried_from_many_threads_once(user_carol):
    results = in_threads(8, lambda i: issue(user_carol, 500, "deposit:7"))

    assert {r.pk for r in results} == {Entry.objects.get().pk}, results
    assert balances_of(user_carol)["pBTC"] == 500


@pytest.mark.django_db(transaction=True)
def test_it_does_not_deadlock_on_transfers_in_opposite_directions(user_carol):
    dave = fixtures.make_user("user_dave")
    issue(user_carol, 1_000, "deposit:1")
    issue(dave, 1_000, "deposit:2")
    carol_account, dave_account = ledger_account_for(user_carol), ledger_account_for(dave)

    def swap(i: int) -> list[Entry]:
        source, destination = (carol_account, dave_account)[:: 1 if i % 2 else -1]
        return [
            ledger_transfer(
                source=source,
                destination=destination,
                asset="pBTC",
                amount=1,
                reason=Entry.Reason.WITHDRAWAL_RETURN,
                reference=f"swap:{i}:{j}",
            )
            for j in range(20)
        ]

    results = in_threads(6, swap)

    assert all(isinstance(r, list) for r in results), results
    assert balances_of(user_carol)["pBTC"] == balances_of(dave)["pBTC"] == 1_000


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_system_account_under_a_race():
    results = in_threads(8, lambda i: system_account(SON_ACCOUNT).pk)
    assert len(set(results)) == 1, results
    assert LedgerAccount.objects.filter(system=SON_ACCOUNT).count() == 1


def claw_back(user, amount: int, reference: str, **kwargs) -> Entry:
    return ledger_transfer(
        source=ledger_account_for(user),
        destination=system_account(ISSUANCE),
        asset="pBTC",
        amount=amount,
        reference=reference,
        **{"reason": Entry.Reason.CLAWBACK, "allow_negative": True, **kwargs},
    )


def test_a_clawback_may_take_a_balance_below_zero_as_a_receivable(user_carol):
    dave = fixtures.make_user("user_dave")
    issue(user_carol, 1_000, "deposit:1")
    issue(dave, 5_000, "deposit:2")
    escrow(user_carol, 600, "withdrawal:1")

    claw_back(user_carol, 1_000, "deposit:1")
    claw_back(user_carol, 1_000, "deposit:1")  # a retry changes nothing

    assert balances_of(user_carol)["pBTC"] == -600
    assert ledger_check() == []  # a clawback's negative balance is no broken invariant
    assert ledger_receivables()["pBTC"] == 600
    assert ledger_liabilities()["pBTC"] == 5_000  # never netted against dave's balance
    assert ledger_supply()["pBTC"] == 5_000
    with pytest.raises(InsufficientFunds):  # any other debit still needs the funds
        escrow(user_carol, 1, "withdrawal:2")


def test_only_a_clawback_may_take_a_balance_below_zero(user_carol):
    issue(user_carol, 1_000, "deposit:1")
    with pytest.raises(LedgerError, match="Only a clawback"):
        claw_back(user_carol, 2_000, "withdrawal:1", reason=Entry.Reason.WITHDRAWAL_ESCROW)
    assert balances_of(user_carol)["pBTC"] == 1_000
    assert not Entry.objects.exclude(reason=Entry.Reason.DEPOSIT).exists()
