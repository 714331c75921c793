"""Constructors for the proposals tests: SONs that went silent, and the three witnesses."""

from datetime import timedelta

from proposals.models import Proposal
from proposals.services import proposal_raise_deregistrations
from sons.models import SON
from tests import fixtures

DEREGISTER_TIME = 12 * 3600


def make_witnesses(*weights: int, active: tuple[bool, ...] = ()):
    """witness_alice, witness_bob, witness_dave (as many as weights), with those weights."""
    names = ["witness_alice", "witness_bob", "witness_dave", "witness_frank"]
    flags = active or (True,) * len(weights)
    return [
        fixtures.make_witness(name, weight=weight, active=flag)
        for name, weight, flag in zip(names, weights, flags, strict=False)
    ]


def make_down_son(name: str, *, silent_since, down_at=None) -> SON:
    """A SON in maintenance whose last heartbeat was at `silent_since`."""
    son, _ = fixtures.make_son(name)
    SON.objects.filter(pk=son.pk).update(
        status=SON.Status.IN_MAINTENANCE,
        last_heartbeat_at=silent_since,
        last_active_at=silent_since,
        last_down_at=down_at or silent_since + timedelta(seconds=361),
    )
    son.refresh_from_db()
    return son


def raise_deregistration(son: SON, now) -> Proposal:
    [proposal] = [p for p in proposal_raise_deregistrations(now=now) if p.son_id == son.pk]
    return proposal
