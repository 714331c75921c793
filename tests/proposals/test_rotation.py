"""The rotation proposal: raised when the SONs in the federation are no longer the active
version's key set (and at least FEDERATION_MIN_SIZE), with its evidence; approving it accepts
the new version; the move itself is beat's (docs/rotation.md)."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from chains.hive.transactions import public_key_text
from proposals import services
from proposals.models import Proposal
from sidechains.models import Coin
from sons import services as son_services
from sons.federation import federation_current
from sons.models import SON, FederationVersion, Sidechain
from tests import fixtures
from tests.proposals.helpers import make_witnesses

pytestmark = pytest.mark.django_db

ACCEPTED = FederationVersion.Status.ACCEPTED


@pytest.fixture
def version_1():
    """son-1..3, their version active, a coin of 70,000 sat under its wallet."""
    for name in ("son-1", "son-2", "son-3"):
        fixtures.make_son(name)
    version = federation_current()
    Coin.objects.create(
        txid="ab" * 32,
        vout=0,
        amount=70_000,
        witness_script=version.wallet_script,
        prev_tx=b"\x02",
        kind=Coin.Kind.CHANGE,
    )
    return version


def deregister(name: str) -> None:
    with transaction.atomic():
        son_services.son_deregister(son=SON.objects.get(name=name), reason="test")


def test_no_rotation_while_the_federation_is_below_its_minimum(version_1):
    deregister("son-3")
    assert services.proposals_tick()["rotations"] == 0
    assert not Proposal.objects.rotations().exists()
    assert federation_current().pk == version_1.pk


def test_a_replacement_raises_one_rotation_proposal_with_its_evidence(version_1, client):
    deregister("son-3")
    son_4, _ = fixtures.make_son("son-4")  # an administrator registers the replacement

    assert services.proposals_tick()["rotations"] == 1
    assert services.proposals_tick()["rotations"] == 0  # one pending at a time
    proposal = Proposal.objects.rotations().get()
    payload = proposal.payload
    assert (payload["leaving"], payload["joining"]) == (["son-3"], ["son-4"])
    assert (payload["coins"], payload["amount"]) == (1, 70_000)
    assert payload["from"]["fingerprint"] == version_1.fingerprint
    new = FederationVersion.objects.get(fingerprint=payload["to"]["fingerprint"])
    assert new.status == FederationVersion.Status.PROPOSED
    assert son_4.public_key("bitcoin") in new.keys
    assert federation_current().pk == version_1.pk  # nothing changes before approval

    SON.objects.filter(name="son-1").update(accepted_federations=[new.fingerprint])
    alice, bob, _ = make_witnesses(1, 1, 1)
    client.force_login(alice.user)
    page = client.get(reverse("proposals-detail", args=[proposal.pk])).content.decode()
    assert 'data-testid="evidence-leaving">son-3<' in page
    assert 'data-testid="evidence-joining">son-4<' in page
    assert new.short_fingerprint() in page and version_1.short_fingerprint() in page
    assert "1 coin, 70000 sat" in page
    assert "son-1 (not yet: son-2, son-4)" in page

    services.proposal_approve(proposal=proposal, witness=alice)
    proposal = services.proposal_approve(proposal=proposal, witness=bob)
    assert proposal.status == Proposal.Status.EXECUTED
    new.refresh_from_db()
    assert new.status == ACCEPTED
    assert federation_current().pk == version_1.pk  # the move is beat's: rotation.py
    assert services.proposals_tick()["rotations"] == 0  # decided: not proposed again


def test_an_expired_rotation_proposal_is_raised_again(version_1, settings):
    settings.WITNESS_CYCLE = 60
    deregister("son-3")
    fixtures.make_son("son-4")
    services.proposals_tick()
    first = Proposal.objects.rotations().get()
    later = first.expires_at
    assert services.proposals_tick(now=later) == {
        "expired": 1,
        "raised": 0,
        "rotations": 1,
        "executed": 0,
        "hive_refunds": 0,
    }
    second = Proposal.objects.rotations().pending().get()
    assert second.pk != first.pk
    assert second.payload["to"] == first.payload["to"]


def test_each_sidechain_gets_its_own_rotation_proposal_and_hive_evidence(version_1, client):
    hive_1 = federation_current(Sidechain.HIVE)
    deregister("son-3")
    fixtures.make_son("son-4")
    assert services.proposals_tick()["rotations"] == 2
    hive = Proposal.objects.rotations().get(payload__sidechain=Sidechain.HIVE)
    assert hive.payload["from"]["fingerprint"] == hive_1.fingerprint
    assert (hive.payload["leaving"], hive.payload["joining"]) == (["son-3"], ["son-4"])
    # The database allows one pending rotation per sidechain, whatever the caller checked.
    with pytest.raises(IntegrityError), transaction.atomic():
        Proposal.objects.create(
            kind=Proposal.Kind.ROTATE_FEDERATION,
            payload={"sidechain": "hive"},
            created_at=hive.created_at,
            expires_at=hive.expires_at,
        )

    new = FederationVersion.objects.get(fingerprint=hive.payload["to"]["fingerprint"])
    # son-2's signer reports the Hive version; son-1's lists its fingerprint as a Bitcoin one,
    # which does not count for Hive.
    SON.objects.filter(name="son-2").update(accepted_hive_federations=[new.fingerprint])
    SON.objects.filter(name="son-1").update(accepted_federations=[new.fingerprint])
    alice, _bob, _ = make_witnesses(1, 1, 1)
    client.force_login(alice.user)
    page = client.get(reverse("proposals-detail", args=[hive.pk])).content.decode()
    assert 'data-testid="evidence-sidechain">Hive<' in page
    assert new.short_fingerprint() in page and hive_1.short_fingerprint() in page
    assert public_key_text(fixtures.son_key("son-4", "hive").public_key.format().hex()) in page
    assert "none: one account_update" in page
    assert 'data-testid="evidence-accepted">son-2 (not yet: son-1, son-4)<' in page
    bitcoin = Proposal.objects.rotations().get(payload__sidechain=Sidechain.BITCOIN)
    page = client.get(reverse("proposals-detail", args=[bitcoin.pk])).content.decode()
    assert 'data-testid="evidence-accepted">none yet (not yet: son-1, son-2, son-4)<' in page
