"""The rotation page in Chromium at both widths: a witness sees the versions, which SONs'
signers accepted the new one, the steps taken and what the old version still holds, and for
Hive who of the active set consents to the update; after the activation a user's deposit page
shows the new address and marks the old one retired."""

import pytest
from django.db import transaction

from mappings.models import SidechainAddress
from mappings.services import mappings_follow_federation
from proposals.models import Proposal
from proposals.services import proposal_approve, proposals_tick
from sidechains.models import Coin, RotationStep
from sons import services as son_services
from sons.federation import federation_current, federation_version_activate
from sons.models import SON, FederationVersion, Sidechain
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import make_bitcoin_mapping

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def accepted_version_2(hive: bool = False) -> tuple[FederationVersion, FederationVersion]:
    """Bitcoin's version 2 accepted by the witnesses (and with `hive`, Hive's too: both
    sidechains' key sets change when son-3 leaves and son-4 joins)."""
    for name in ("son-1", "son-2", "son-3"):
        fixtures.make_son(name)
    v1 = federation_current()
    if hive:
        federation_current(Sidechain.HIVE)
    for vout in range(3):
        Coin.objects.create(
            txid="cd" * 32,
            vout=vout,
            amount=70_000,
            witness_script=v1.wallet_script,
            prev_tx=b"\x02",
            kind=Coin.Kind.CHANGE,
        )
    with transaction.atomic():
        son_services.son_deregister(son=SON.objects.get(name="son-3"), reason="test")
    fixtures.make_son("son-4")
    proposals_tick()
    alice, bob, _ = make_witnesses(1, 1, 1)
    for proposal in Proposal.objects.rotations():
        proposal_approve(proposal=proposal, witness=alice)
        proposal_approve(proposal=proposal, witness=bob)
    v2 = FederationVersion.objects.get(sidechain=Sidechain.BITCOIN, status="accepted")
    SON.objects.filter(name__in=["son-1", "son-4"]).update(accepted_federations=[v2.fingerprint])
    RotationStep.objects.create(version=v2, step="test_fund", note="test coin to the new wallet")
    return v1, v2


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_witness_follows_a_rotation(page, live_server, width):
    page.set_viewport_size(WIDTHS[width])
    v1, v2 = accepted_version_2()

    log_in(page, live_server, "witness_alice", next_path="/proposals/rotation/")
    page.goto(f"{live_server.url}/proposals/rotation/")

    new, old = page.get_by_test_id(f"version-{v2.pk}"), page.get_by_test_id(f"version-{v1.pk}")
    assert new.get_by_test_id("version-status").inner_text() == "Accepted"
    assert new.get_by_test_id("accepted").inner_text() == "son-1, son-4 (not yet: son-2)"
    assert "test coin to the new wallet" in new.get_by_test_id("step-test_fund").inner_text()
    assert v2.short_fingerprint() in new.inner_text()
    assert old.get_by_test_id("version-status").inner_text() == "Active"
    assert old.get_by_test_id("holds").inner_text() == "3 coins, 210000 sat"
    assert_fits(page)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_witness_sees_which_signers_accept_the_hive_version(page, live_server, width):
    """The Hive card: who of the new set reports the version (their heartbeats' Hive list, not
    the Bitcoin one), and how many of the active set the account_update waits for."""
    page.set_viewport_size(WIDTHS[width])
    accepted_version_2(hive=True)
    old = FederationVersion.objects.get(sidechain=Sidechain.HIVE, status="active")
    new = FederationVersion.objects.get(sidechain=Sidechain.HIVE, status="accepted")
    SON.objects.filter(name="son-2").update(accepted_hive_federations=[new.fingerprint])

    log_in(page, live_server, "witness_alice", next_path="/proposals/rotation/")
    page.goto(f"{live_server.url}/proposals/rotation/")

    card = page.get_by_test_id(f"version-{new.pk}")
    assert card.get_by_test_id("version-status").inner_text() == "Accepted"
    assert card.get_by_test_id("accepted").inner_text() == "son-2 (not yet: son-1, son-4)"
    consent = card.get_by_test_id("consent").inner_text()
    assert consent == "son-2 (2 needed before the move starts)"
    assert new.short_fingerprint() in card.inner_text()
    active = page.get_by_test_id(f"version-{old.pk}")
    assert active.get_by_test_id("version-status").inner_text() == "Active"
    assert_fits(page)

    # son-1's signer reports it too: two of the active set, the update may be built.
    SON.objects.filter(name="son-1").update(accepted_hive_federations=[new.fingerprint])
    page.reload()
    consent = card.get_by_test_id("consent").inner_text()
    assert consent == "son-1, son-2 (2 needed before the move starts)"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_user_sees_the_new_deposit_address_and_the_retired_one(page, live_server, width):
    page.set_viewport_size(WIDTHS[width])
    _, v2 = accepted_version_2()
    carol = fixtures.make_user("user_carol")
    old = make_bitcoin_mapping(carol)
    federation_version_activate(version=v2)
    assert mappings_follow_federation() == 1
    new = SidechainAddress.objects.get(user=carol, expires=None)

    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/addresses/bitcoin/deposit/")

    assert page.get_by_test_id("deposit-address").inner_text() == new.deposit_address
    older = page.get_by_test_id("older-addresses")
    assert old.deposit_address in older.inner_text()
    retired = older.get_by_test_id("retired-address")
    assert retired.inner_text() == "retired: still credited, please use the new address"
    assert_fits(page)
