"""Liabilities epochs: every account's balances in one tree whose root commits to the supply,
published with the previous root and the audit log's head; proofs for any epoch."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audit.chain import GENESIS
from audit.models import AuditRecord
from audit.services import audit_head_hash, audit_record
from ledger.models import Balance, LedgerAccount
from ledger.services import ledger_account_for, ledger_supply
from proofs.verify import verify
from rates.assets import Asset
from solvency.epochs import epoch_create, epoch_create_if_due, epoch_proofs, proof_for
from solvency.models import EpochLeaf
from tests import fixtures
from tests.solvency.helpers import credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def holders():
    carol, dave = fixtures.make_user("user_carol"), fixtures.make_user("user_dave")
    credit(carol, Asset.PBTC, 150_000)
    credit(carol, Asset.PHIVE, 2_500)
    credit(dave, Asset.PHBD, 7_000)
    return carol, dave


def test_the_root_commits_to_the_supply_of_each_asset(holders):
    epoch = epoch_create()
    supply = ledger_supply()
    assert epoch.assets == ["pBTC", "pHIVE", "pHBD"]
    assert epoch.totals == [supply[a] for a in epoch.assets] == [150_000, 2_500, 7_000]
    assert (epoch.number, epoch.prev_root, epoch.leaf_count) == (1, GENESIS, 2)


def test_every_holder_gets_a_proof_that_verifies_against_the_root(holders):
    carol, dave = holders
    epoch = epoch_create()
    proof = proof_for(epoch=epoch, account=ledger_account_for(carol))
    proven = verify(proof, epoch.root)
    assert proven.account == f"user:{carol.pk}"
    assert proven.amounts == {"pBTC": 150_000, "pHIVE": 2_500, "pHBD": 0}
    assert proven.totals == {"pBTC": 150_000, "pHIVE": 2_500, "pHBD": 7_000}
    proven_all = {verify(p, epoch.root).account for p in epoch_proofs(epoch)}
    assert proven_all == {f"user:{carol.pk}", f"user:{dave.pk}"}


def test_a_user_who_held_nothing_has_no_proof(holders):
    epoch = epoch_create()
    nobody = fixtures.make_user("user_erin")
    assert proof_for(epoch=epoch, account=ledger_account_for(nobody)) is None


def test_a_negative_balance_enters_as_zero(holders):
    """A clawback can leave a user below zero: owed to the federation, not by it."""
    carol, dave = holders
    Balance.objects.filter(account__user=dave).update(may_go_negative=True, amount=-5)
    epoch = epoch_create()
    assert epoch.totals == [150_000, 2_500, 0]
    assert epoch.leaf_count == 1  # dave holds nothing the federation owes


def test_the_withdrawal_escrow_is_a_liability_too(holders):
    carol, _ = holders
    escrow = LedgerAccount.objects.create(system=LedgerAccount.System.SON_ACCOUNT)
    Balance.objects.create(account=escrow, asset=Asset.PBTC, amount=10_000)
    epoch = epoch_create()
    assert epoch.totals[0] == 160_000
    assert verify(proof_for(epoch=epoch, account=escrow), epoch.root).account == (
        "system:son-account"
    )


def test_each_epoch_names_the_previous_root_and_the_audit_head(holders, admin_user):
    carol, _ = holders
    first = epoch_create()
    audit_record(actor=admin_user, action="rate.set", target="exchangerate:1")
    head = audit_head_hash()
    credit(carol, Asset.PBTC, 1, label="again")
    second = epoch_create(by=admin_user, reason="before the audit")
    assert (second.number, second.prev_root, second.audit_head) == (2, first.root, head)
    assert second.root != first.root
    # The old epoch's proof still verifies against its own root, with its old amount.
    old = proof_for(epoch=first, account=ledger_account_for(carol))
    assert verify(old, first.root).amounts["pBTC"] == 150_000
    assert verify(proof_for(epoch=second, account=ledger_account_for(carol)), second.root)


def test_salts_and_commitments_change_every_epoch(holders):
    carol, _ = holders
    account = ledger_account_for(carol)
    first, second = epoch_create(), epoch_create()
    a, b = proof_for(epoch=first, account=account), proof_for(epoch=second, account=account)
    assert a["leaf"]["salt"] != b["leaf"]["salt"]
    assert first.root != second.root  # same balances, new salts


def test_creating_an_epoch_is_audited(holders, admin_user):
    epoch = epoch_create(by=admin_user, reason="quarterly audit")
    record = AuditRecord.objects.get(action="epoch.created")
    assert (record.actor, record.reason, record.details["root"]) == (
        admin_user,
        "quarterly audit",
        epoch.root,
    )


def test_an_empty_ledger_gives_an_empty_epoch():
    epoch = epoch_create()
    assert (epoch.totals, epoch.leaf_count) == ([0, 0, 0], 0)
    assert not EpochLeaf.objects.exists()


def test_the_beat_makes_an_epoch_when_the_last_is_an_interval_old(holders, settings):
    settings.SOLVENCY_EPOCH_INTERVAL = 3600
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        assert epoch_create_if_due().number == 1
    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert epoch_create_if_due() is None
    with time_machine.travel(start + timedelta(minutes=60), tick=False):
        assert epoch_create_if_due().number == 2
