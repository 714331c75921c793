import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from proposals import services
from proposals.models import Approval, Proposal, ProposalEvent, Witness
from proposals.tasks import proposals_tick
from sons import services as son_services
from sons.federation import federation_public_keys, federation_son_keys
from sons.models import SON, SONStatusChange
from tests import fixtures
from tests.proposals.helpers import make_down_son, make_witnesses, raise_deregistration

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events(proposal: Proposal) -> list[str]:
    return list(proposal.events.order_by("created_at", "id").values_list("kind", flat=True))


@pytest.fixture(autouse=True)
def timings(settings):
    settings.SON_DOWN_TIME = 360
    settings.SON_DEREGISTER_TIME = 12 * 3600
    settings.WITNESS_CYCLE = 24 * 3600


@pytest.fixture
def alice_bob_dave():
    return make_witnesses(1, 1, 1)


# Raising deregistration proposals


def test_it_raises_exactly_one_deregistration_proposal_after_12_h_of_silence():
    son, _ = fixtures.make_son("son-1")
    son_services.son_heartbeat(son=son, now=T0)
    assert [s.pk for s in son_services.son_liveness_check(now=at(361))] == [son.pk]
    assert services.proposals_tick(now=at(12 * 3600)) == {
        "expired": 0,
        "raised": 0,
        "rotations": 0,
        "executed": 0,
        "hive_refunds": 0,
    }
    assert services.proposals_tick(now=at(12 * 3600 + 1))["raised"] == 1
    for later in (12 * 3600 + 60, 20 * 3600, 48 * 3600):
        assert services.proposals_tick(now=at(later))["raised"] == 0
    proposal = Proposal.objects.get()
    assert (proposal.kind, proposal.son, proposal.status) == ("deregister_son", son, "open")
    assert proposal.created_at == at(12 * 3600 + 1)
    assert proposal.expires_at == proposal.created_at + timedelta(days=3)
    assert proposal.payload == {
        "son": son.pk,
        "son_name": "son-1",
        "last_heartbeat_at": T0.isoformat(),
        "last_down_at": at(361).isoformat(),
        "total_downtime": 0,
    }
    assert events(proposal) == ["raised"]
    assert "son-1 silent since 2026-01-01 12:00:00 UTC" in proposal.events.get().detail


def test_it_counts_a_son_that_never_beat_as_silent_since_its_creation():
    son, _ = fixtures.make_son("son-1")
    SON.objects.filter(pk=son.pk).update(status=SON.Status.IN_MAINTENANCE, created_at=T0)
    assert services.proposal_raise_deregistrations(now=at(12 * 3600)) == []
    assert len(services.proposal_raise_deregistrations(now=at(12 * 3600 + 1))) == 1


@pytest.mark.parametrize("status", ["active", "request_maintenance", "inactive", "deregistered"])
def test_it_raises_nothing_for_a_son_that_is_not_in_maintenance(status):
    son = make_down_son("son-1", silent_since=T0)
    SON.objects.filter(pk=son.pk).update(status=status)
    assert services.proposal_raise_deregistrations(now=at(30 * 86400)) == []


def test_it_raises_nothing_while_the_son_was_heard_of_within_12_h():
    make_down_son("son-1", silent_since=T0)
    assert services.proposal_raise_deregistrations(now=at(11 * 3600)) == []


def test_the_database_allows_one_pending_deregistration_per_son():
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    again = services.proposal_raise(
        kind=Proposal.Kind.DEREGISTER_SON, payload={}, son=son, now=at(13 * 3600)
    )
    assert again is None
    Proposal.objects.filter(pk=proposal.pk).update(status=Proposal.Status.APPROVED)
    with pytest.raises(IntegrityError):
        Proposal.objects.create(
            kind=Proposal.Kind.DEREGISTER_SON,
            son=son,
            created_at=T0,
            expires_at=at(1),
        )


# Expiry


def test_an_open_proposal_expires_after_three_witness_cycles_and_is_raised_again(settings):
    settings.WITNESS_CYCLE = 3600
    son = make_down_son("son-1", silent_since=T0)
    first = raise_deregistration(son, at(13 * 3600))
    assert first.expires_at == at(16 * 3600)
    assert services.proposals_tick(now=at(16 * 3600 - 1)) == {
        "expired": 0,
        "raised": 0,
        "rotations": 0,
        "executed": 0,
        "hive_refunds": 0,
    }
    assert services.proposals_tick(now=at(16 * 3600)) == {
        "expired": 1,
        "raised": 1,
        "rotations": 0,
        "executed": 0,
        "hive_refunds": 0,
    }
    first.refresh_from_db()
    assert first.status == Proposal.Status.EXPIRED
    assert events(first) == ["raised", "expired"]
    second = Proposal.objects.open().get()
    assert (second.son, second.created_at) == (son, at(16 * 3600))
    assert services.proposals_tick(now=at(16 * 3600 + 60)) == {
        "expired": 0,
        "raised": 0,
        "rotations": 0,
        "executed": 0,
        "hive_refunds": 0,
    }


def test_it_does_not_raise_again_once_the_son_is_back(settings):
    settings.WITNESS_CYCLE = 3600
    son = make_down_son("son-1", silent_since=T0)
    raise_deregistration(son, at(13 * 3600))
    son_services.son_heartbeat(son=son, now=at(14 * 3600))
    assert services.proposals_tick(now=at(17 * 3600)) == {
        "expired": 1,
        "raised": 0,
        "rotations": 0,
        "executed": 0,
        "hive_refunds": 0,
    }


def test_an_expired_proposal_cannot_be_approved_even_before_the_tick(alice_bob_dave):
    alice = alice_bob_dave[0]
    proposal = raise_deregistration(make_down_son("son-1", silent_since=T0), at(13 * 3600))
    with pytest.raises(services.ProposalError, match="expired"):
        services.proposal_approve(proposal=proposal, witness=alice, now=proposal.expires_at)
    assert not Approval.objects.exists()


# The weighted threshold


@pytest.mark.parametrize(
    "weights, approvers, passes",
    [
        ((1, 1, 1), [0], False),
        ((1, 1, 1), [0, 1], True),  # 2 of 3
        ((2, 1, 1), [0], False),  # 2 of 4 is half: not more than half
        ((2, 1, 1), [1, 2], False),
        ((2, 1, 1), [0, 1], True),  # 3 of 4
        ((3, 1, 1), [0], True),  # 3 of 5
        ((1, 1), [0], False),
        ((1,), [0], True),
    ],
)
def test_a_proposal_passes_at_more_than_half_of_the_active_weight(weights, approvers, passes):
    witnesses = make_witnesses(*weights)
    proposal = raise_deregistration(make_down_son("son-1", silent_since=T0), at(13 * 3600))
    for i in approvers:
        witness = witnesses[i]
        proposal = services.proposal_approve(proposal=proposal, witness=witness, now=at(14 * 3600))
    assert proposal.status == ("executed" if passes else "open")
    progress = proposal.progress()
    assert progress.total == sum(weights)
    assert progress.approved == sum(weights[i] for i in approvers)
    assert progress.needed == sum(weights) // 2 + 1


def test_inactive_witnesses_count_neither_in_the_total_nor_with_their_approvals():
    alice, bob, dave, frank = make_witnesses(1, 1, 1, 5, active=(True, True, True, False))
    proposal = raise_deregistration(make_down_son("son-1", silent_since=T0), at(13 * 3600))
    assert proposal.progress().total == 3  # frank's 5 does not count
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    Witness.objects.filter(pk=alice.pk).update(active=False)
    assert proposal.progress().approved == 0  # alice's approval no longer counts
    proposal = services.proposal_approve(proposal=proposal, witness=bob, now=at(14 * 3600))
    assert (proposal.status, proposal.progress().approved, proposal.progress().total) == (
        "open",
        1,
        2,
    )


def test_a_proposal_passes_at_the_tick_when_the_active_weight_drops(alice_bob_dave):
    alice, bob, dave = alice_bob_dave
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    Witness.objects.filter(pk__in=[bob.pk, dave.pk]).update(active=False)
    assert services.proposals_tick(now=at(15 * 3600))["executed"] == 1
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.EXECUTED
    assert events(proposal) == ["raised", "approved", "passed", "executed"]


# Who can approve, and how often


def test_a_witness_cannot_approve_twice(alice_bob_dave):
    alice = alice_bob_dave[0]
    proposal = raise_deregistration(make_down_son("son-1", silent_since=T0), at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    with pytest.raises(services.ProposalError, match="already approved"):
        services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600 + 1))
    assert Approval.objects.filter(proposal=proposal).count() == 1
    assert events(proposal) == ["raised", "approved"]


def test_a_non_witness_or_an_inactive_witness_cannot_approve(alice_bob_dave):
    inactive = fixtures.make_witness("witness_erin", active=False)
    proposal = raise_deregistration(make_down_son("son-1", silent_since=T0), at(13 * 3600))
    for witness in (None, inactive):
        with pytest.raises(services.NotAllowed, match="Only active witnesses"):
            services.proposal_approve(proposal=proposal, witness=witness, now=at(14 * 3600))
    # A witness deactivated since the object was loaded is refused too.
    alice = alice_bob_dave[0]
    Witness.objects.filter(pk=alice.pk).update(active=False)
    with pytest.raises(services.NotAllowed):
        services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    assert not Approval.objects.exists()


def test_a_witness_can_revoke_an_approval_while_the_proposal_is_open(alice_bob_dave):
    alice, bob, _ = alice_bob_dave
    proposal = raise_deregistration(make_down_son("son-1", silent_since=T0), at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    services.proposal_revoke(proposal=proposal, witness=alice, now=at(14 * 3600 + 5))
    assert not Approval.objects.exists()
    with pytest.raises(services.ProposalError, match="have not approved"):
        services.proposal_revoke(proposal=proposal, witness=alice, now=at(14 * 3600 + 6))
    # Revoked, then approved again: bob's approval alone does not pass; alice's again does.
    proposal = services.proposal_approve(proposal=proposal, witness=bob, now=at(15 * 3600))
    assert proposal.status == "open"
    proposal = services.proposal_approve(proposal=proposal, witness=alice, now=at(15 * 3600))
    assert proposal.status == "executed"
    assert events(proposal) == [
        "raised",
        "approved",
        "revoked",
        "approved",
        "approved",
        "passed",
        "executed",
    ]
    with pytest.raises(services.ProposalError, match="no longer open"):
        services.proposal_revoke(proposal=proposal, witness=alice, now=at(16 * 3600))
    assert proposal.approvals.count() == 2


# Execution


def test_an_approved_deregistration_deregisters_the_son(alice_bob_dave):
    alice, bob, _ = alice_bob_dave
    son = make_down_son("son-1", silent_since=T0)
    other, _ = fixtures.make_son("son-2")
    token = son_services.son_issue_token(
        son=son, by=None, reason="test", via=son_services.TokenIssuer.COMMAND
    )
    assert son.public_key("bitcoin") in federation_public_keys()
    proposal = raise_deregistration(son, at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    proposal = services.proposal_approve(proposal=proposal, witness=bob, now=at(14 * 3600 + 30))
    assert proposal.status == Proposal.Status.EXECUTED
    assert (proposal.approved_at, proposal.executed_at) == (at(14 * 3600 + 30),) * 2
    assert proposal.result == "SON son-1 deregistered"
    son.refresh_from_db()
    assert son.status == SON.Status.DEREGISTERED
    change = son.status_changes.get(new_status="deregistered")
    assert (change.old_status, change.reason) == (
        "in_maintenance",
        f"deregistered by proposal #{proposal.pk}",
    )
    # The keys stay (its coins stay spendable by the others); its signer is locked out.
    assert son.public_key("bitcoin") in federation_public_keys()
    assert federation_son_keys() == [other.public_key("bitcoin")]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(reverse("api-son-me")).status_code == 401
    passed = proposal.events.get(kind="passed")
    assert passed.detail == "approved weight 2 of 3 active"
    assert proposal.events.get(kind="executed").detail == "SON son-1 deregistered"


def test_execution_is_idempotent_under_retry(alice_bob_dave):
    alice, bob, _ = alice_bob_dave
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    services.proposal_approve(proposal=proposal, witness=bob, now=at(14 * 3600))
    for retry in range(3):
        assert services.proposal_execute(proposal=proposal, now=at(15 * 3600 + retry)) is False
        assert services.proposals_tick(now=at(15 * 3600 + retry))["executed"] == 0
    assert SONStatusChange.objects.filter(son=son, new_status="deregistered").count() == 1
    assert events(proposal).count("executed") == 1
    proposal.refresh_from_db()
    assert proposal.executed_at == at(14 * 3600)


def test_a_failed_execution_is_rolled_back_recorded_once_and_retried_by_the_tick(
    alice_bob_dave, monkeypatch
):
    alice, bob, _ = alice_bob_dave
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    real = services.HANDLERS["deregister_son"]

    def half_done_then_broken(proposal, now):
        real(proposal, now)  # its changes must not survive the failure
        raise RuntimeError("the node is unreachable")

    monkeypatch.setitem(services.HANDLERS, "deregister_son", half_done_then_broken)
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    proposal = services.proposal_approve(proposal=proposal, witness=bob, now=at(14 * 3600))
    assert proposal.status == Proposal.Status.APPROVED
    son.refresh_from_db()
    assert son.status == SON.Status.IN_MAINTENANCE
    assert services.proposals_tick(now=at(15 * 3600))["executed"] == 0
    failed = proposal.events.filter(kind="failed")
    assert [e.detail for e in failed] == ["RuntimeError: the node is unreachable"]
    # An approved proposal has passed: it does not expire while it waits.
    assert services.proposals_tick(now=at(30 * 86400))["expired"] == 0

    monkeypatch.setitem(services.HANDLERS, "deregister_son", real)
    assert services.proposals_tick(now=at(31 * 86400))["executed"] == 1
    proposal.refresh_from_db()
    assert (proposal.status, proposal.executed_at) == ("executed", at(31 * 86400))
    son.refresh_from_db()
    assert son.status == SON.Status.DEREGISTERED


def test_a_kind_without_a_handler_waits_approved(alice_bob_dave, monkeypatch):
    monkeypatch.delitem(services.HANDLERS, Proposal.Kind.REFUND_DEPOSIT)
    alice, bob, _ = alice_bob_dave
    proposal = services.proposal_raise(
        kind=Proposal.Kind.REFUND_DEPOSIT, payload={"deposit": 1}, now=T0
    )
    services.proposal_approve(proposal=proposal, witness=alice, now=at(1))
    proposal = services.proposal_approve(proposal=proposal, witness=bob, now=at(2))
    assert proposal.status == Proposal.Status.APPROVED
    assert proposal.events.get(kind="failed").detail == (
        "ProposalError: no handler executes refund_deposit proposals yet"
    )


def test_a_son_already_deregistered_by_hand_is_executed_without_a_second_change(alice_bob_dave):
    alice, bob, _ = alice_bob_dave
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    SON.objects.filter(pk=son.pk).update(status=SON.Status.DEREGISTERED)
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    proposal = services.proposal_approve(proposal=proposal, witness=bob, now=at(14 * 3600))
    assert (proposal.status, proposal.result) == ("executed", "SON son-1 was already deregistered")
    assert not SONStatusChange.objects.filter(son=son, new_status="deregistered").exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_executing_at_once_execute_once():
    alice, bob, _ = make_witnesses(1, 1, 1)
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=alice, now=at(14 * 3600))
    Proposal.objects.filter(pk=proposal.pk).update(status=Proposal.Status.APPROVED)
    barrier = threading.Barrier(2)
    results = []

    def execute():
        try:
            barrier.wait()
            results.append(services.proposal_execute(proposal=proposal, now=at(15 * 3600)))
        finally:
            connection.close()

    threads = [threading.Thread(target=execute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert SONStatusChange.objects.filter(son=son, new_status="deregistered").count() == 1
    assert ProposalEvent.objects.filter(proposal=proposal, kind="executed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_witnesses_approving_at_once_execute_once():
    witnesses = make_witnesses(1, 1, 1)
    son = make_down_son("son-1", silent_since=T0)
    proposal = raise_deregistration(son, at(13 * 3600))
    services.proposal_approve(proposal=proposal, witness=witnesses[0], now=at(14 * 3600))
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(witness):
        try:
            barrier.wait()
            services.proposal_approve(proposal=proposal, witness=witness, now=at(14 * 3600))
            outcomes.append("approved")
        except services.ProposalError as e:
            outcomes.append(str(e))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(w,)) for w in witnesses[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The first passes and executes it; the second finds it closed (approved or executed,
    # depending on when it got the lock).
    assert len(outcomes) == 2 and "approved" in outcomes
    [refused] = [o for o in outcomes if o != "approved"]
    assert refused.startswith("This proposal is no longer open: it is ")
    assert SONStatusChange.objects.filter(son=son, new_status="deregistered").count() == 1


# Beat


@pytest.mark.django_db(transaction=True)
def test_the_tick_runs_on_a_real_worker(celery_worker):
    son = make_down_son("son-1", silent_since=timezone.now() - 13 * HOUR)
    result = proposals_tick.delay().get(timeout=20)
    assert result == {
        "expired": 0,
        "raised": 1,
        "rotations": 0,
        "executed": 0,
        "hive_refunds": 0,
    }
    assert Proposal.objects.get().son == son
