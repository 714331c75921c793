"""Every action the audit log must hold writes its record: rates set, proposals raised,
approved, revoked and executed, SONs and witnesses created or changed, maintenance requested.
(Tokens issued, withdrawals failed, alerts resolved and rescans have their own tests.)"""

from decimal import Decimal

import pytest

from audit.models import AuditRecord
from audit.services import audit_verify
from proposals import services as proposals
from proposals.models import Proposal
from rates.assets import Pair
from rates.services import rate_set
from sons import services as sons
from sons.models import SON
from tests import fixtures

pytestmark = pytest.mark.django_db


def _actions(target: str) -> list[tuple[str, str | None]]:
    records = AuditRecord.objects.filter(target=target).order_by("seq").select_related("actor")
    return [(r.action, r.actor.username if r.actor else None) for r in records]


def test_setting_a_rate_is_audited(admin_user):
    rate = rate_set(pair=Pair.BTC_PBTC, rate=Decimal("0.995"), set_by=admin_user, note="weekly")
    record = AuditRecord.objects.get(target=f"exchangerate:{rate.pk}")
    assert (record.action, record.actor, record.reason) == ("rate.set", admin_user, "weekly")
    assert record.details["pair"] == Pair.BTC_PBTC
    assert record.details["rate"] == "0.995"


def test_a_proposals_life_is_audited(son_1):
    son, _ = son_1
    alice = fixtures.make_witness("witness_alice")
    bob = fixtures.make_witness("witness_bob")
    fixtures.make_witness("witness_dave")
    proposal = proposals.proposal_raise(
        kind=Proposal.Kind.DEREGISTER_SON, payload={}, son=son, detail="silent for 12 h"
    )
    proposals.proposal_approve(proposal=proposal, witness=alice)
    proposals.proposal_revoke(proposal=proposal, witness=alice)
    proposals.proposal_approve(proposal=proposal, witness=alice)
    proposals.proposal_approve(proposal=proposal, witness=bob)  # 2 of 3: passes, executes
    assert _actions(f"proposal:{proposal.pk}") == [
        ("proposal.raised", None),
        ("proposal.approved", "witness_alice"),
        ("proposal.revoked", "witness_alice"),
        ("proposal.approved", "witness_alice"),
        ("proposal.approved", "witness_bob"),
        ("proposal.passed", None),
        ("proposal.executed", None),
    ]
    assert audit_verify()[1] == []


def test_creating_and_changing_a_son_in_the_admin_is_audited(client, admin_user):
    owner = fixtures.make_user("operator_1")
    inlines = {
        f"{prefix}-{key}": value
        for prefix in ("public_keys", "statistics", "status_changes")
        for key, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))
    }
    client.force_login(admin_user)
    form = {"name": "son-9", "status": "inactive", "owner": owner.pk}
    assert client.post("/admin/sons/son/add/", {**form, **inlines}).status_code == 302
    son = SON.objects.get(name="son-9")
    url = f"/admin/sons/son/{son.pk}/change/"
    assert client.post(url, {**form, "name": "son-9b", **inlines}).status_code == 302
    assert _actions(f"son:{son.pk}") == [("son.created", "admin"), ("son.changed", "admin")]
    changed = AuditRecord.objects.get(target=f"son:{son.pk}", action="son.changed")
    assert changed.details["changes"] == [{"changed": {"fields": ["Name"]}}]


def test_creating_a_witness_in_the_admin_is_audited(client, admin_user):
    carol = fixtures.make_user("user_carol")
    client.force_login(admin_user)
    response = client.post(
        "/admin/proposals/witness/add/", {"user": carol.pk, "weight": 2, "active": "on"}
    )
    assert response.status_code == 302
    witness = carol.witness
    assert _actions(f"witness:{witness.pk}") == [("witness.created", "admin")]


def test_an_operators_maintenance_request_is_audited(son_1):
    son, _ = son_1
    sons.son_request_maintenance(son=son, by=son.owner)
    sons.son_cancel_maintenance(son=son, by=son.owner)
    owner = son.owner.username
    assert _actions(f"son:{son.pk}")[-2:] == [
        ("son.maintenance_requested", owner),
        ("son.maintenance_cancelled", owner),
    ]
