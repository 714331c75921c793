"""A Hive mapping exists only once the user proves control of the account (docs/mappings.md).

Signatures are made with beem's sign_message, the format Hive Keychain's signBuffer answers."""

from datetime import timedelta

import pytest
import time_machine
from beemgraphenebase.ecdsasig import sign_message
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from devnode.hive.keys import private_key_to_wif, public_key_of
from mappings import hive_ownership, services
from mappings.models import AddressClaim, HiveOwnershipClaim, SidechainAddress
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def hive(hive_devnode, settings):
    settings.HIVE_NODE_URL = hive_devnode.url
    return hive_devnode


def account(node, name: str, **roles):
    """Create an account whose keys are all one new key, or the given roles; returns the key."""
    key = helpers.new_key()
    node.create_account(name, key=public_key_of(key), **roles)
    return key


def signature(claim: HiveOwnershipClaim, key) -> str:
    return sign_message(hive_ownership.challenge_message(claim), private_key_to_wif(key)).hex()


def test_it_keeps_a_claim_pending_and_maps_nothing_until_proof(hive, user_carol):
    account(hive, "own-pending")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-pending")
    assert claim.verified_at is None
    assert claim.memo_code.startswith("verify:")
    assert "own-pending" in claim.challenge
    assert SidechainAddress.objects.count() == 0
    assert AddressClaim.objects.count() == 0
    again = hive_ownership.hive_claim_start(user=user_carol, hive_account="@own-pending")
    assert again.pk == claim.pk


def test_it_maps_the_account_on_a_signature_by_its_posting_key(hive, user_carol):
    key = account(hive, "own-sig")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-sig")
    mapping = hive_ownership.hive_claim_verify_signature(
        claim=claim, signature=signature(claim, key)
    )
    assert mapping.hive_account == "own-sig"
    assert mapping.user == user_carol
    claim.refresh_from_db()
    assert claim.method == "signature"
    assert claim.mapping == mapping
    assert AddressClaim.objects.get(kind="hive_account").user == user_carol


def test_it_refuses_a_signature_by_another_key(hive, user_carol):
    account(hive, "own-other")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-other")
    with pytest.raises(services.MappingError, match="not by a posting or active key"):
        hive_ownership.hive_claim_verify_signature(
            claim=claim, signature=signature(claim, helpers.new_key())
        )
    assert SidechainAddress.objects.count() == 0


def test_it_refuses_a_memo_key_signature(hive, user_carol):
    """The memo key is readable by apps that decrypt memos: it proves nothing."""
    memo = helpers.new_key()
    account(hive, "own-memo", memo_key=public_key_of(memo))
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-memo")
    with pytest.raises(services.MappingError, match="not by a posting or active key"):
        hive_ownership.hive_claim_verify_signature(claim=claim, signature=signature(claim, memo))


def test_it_refuses_a_signature_over_another_claims_challenge(hive, user_carol):
    key = account(hive, "own-replay")
    first = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-replay")
    erin = fixtures.make_user("user_erin")
    second = hive_ownership.hive_claim_start(user=erin, hive_account="own-replay")
    with pytest.raises(services.MappingError, match="not by a posting or active key"):
        hive_ownership.hive_claim_verify_signature(claim=second, signature=signature(first, key))


@pytest.mark.parametrize(
    ("n", "text"),
    list(enumerate(["", "zz" * 65, "ab" * 64, "1f" + "00" * 64, "00" * 65, "1f" * 130])),
)
def test_it_refuses_malformed_signatures_and_saves_nothing(hive, user_carol, n, text):
    account(hive, f"own-bad{n}")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account=f"own-bad{n}")
    with pytest.raises(services.MappingError):
        hive_ownership.hive_claim_verify_signature(claim=claim, signature=text)
    assert SidechainAddress.objects.count() == 0


def test_a_pending_claim_does_not_block_the_verified_owner(hive, user_carol):
    key = account(hive, "own-race")
    squatter = fixtures.make_user("user_mallory")
    hive_ownership.hive_claim_start(user=squatter, hive_account="own-race")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-race")
    hive_ownership.hive_claim_verify_signature(claim=claim, signature=signature(claim, key))
    with pytest.raises(services.MappingError, match="belongs to another account"):
        hive_ownership.hive_claim_start(user=squatter, hive_account="own-race")


def test_an_expired_claim_cannot_be_verified(hive, user_carol, settings):
    settings.HIVE_CLAIM_LIFETIME = 60
    key = account(hive, "own-late")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-late")
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        with pytest.raises(services.MappingError, match="expired"):
            hive_ownership.hive_claim_verify_signature(claim=claim, signature=signature(claim, key))
        fresh = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-late")
    assert fresh.pk != claim.pk
    assert SidechainAddress.objects.count() == 0


def test_a_transfer_with_the_memo_code_from_the_account_verifies(hive, user_carol):
    account(hive, "own-memo-ok")
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account="own-memo-ok")
    assert hive_ownership.hive_claim_verify_transfer(sender="someone", memo=claim.memo_code) is None
    verified = hive_ownership.hive_claim_verify_transfer(
        sender="own-memo-ok", memo=f" {claim.memo_code} "
    )
    assert verified is not None and verified.method == "transfer"
    assert SidechainAddress.objects.get().hive_account == "own-memo-ok"


def test_the_api_opens_a_claim_and_verifies_it(hive, user_carol):
    key = account(hive, "own-api")
    client = APIClient()
    client.force_authenticate(user_carol)
    answer = client.post(
        reverse("api-mappings"), {"sidechain": "hive", "hive_account": "own-api"}, format="json"
    )
    assert answer.status_code == 202
    claim = HiveOwnershipClaim.objects.get(pk=answer.json()["id"])
    url = reverse("api-hive-claim-verify", args=[claim.pk])
    bad = client.post(url, {"signature": "00" * 65}, format="json")
    assert bad.status_code == 400
    ok = client.post(url, {"signature": signature(claim, key)}, format="json")
    assert ok.status_code == 200
    assert ok.json()["method"] == "signature"
    other = APIClient()
    other.force_authenticate(fixtures.make_user("user_erin"))
    assert other.post(url, {"signature": signature(claim, key)}, format="json").status_code == 404
