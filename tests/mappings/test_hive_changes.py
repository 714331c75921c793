"""Changing a user's Hive account is a change of where their money goes, as for a Bitcoin
withdraw address: the second factor, proof of control of the new account, a mailed link, then
the cool-down during which withdrawals still pay the previous account (docs/mappings.md)."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from mappings import hive_ownership, services
from mappings.models import HiveOwnershipClaim, MappingChange, SidechainAddress
from sidechains.hive.withdrawals.requests import hive_withdrawal_quote
from tests import fixtures
from tests.mappings.test_hive_ownership import account, signature
from tests.sidechains.hive_helpers import set_hive_rates


@pytest.fixture
def hive(hive_devnode, settings):
    settings.HIVE_NODE_URL = hive_devnode.url
    return hive_devnode


@pytest.fixture
def carol(db):
    return fixtures.make_user("user_carol", second_factor=True)


def mapped(node, user, name: str) -> SidechainAddress:
    account(node, name)
    mapping, _ = services.mapping_set_hive(user=user, hive_account=name)  # as after a proof
    return mapping


def ask(client, name: str, code: str = ""):
    return client.post(reverse("mappings-set-hive"), {"hive_account": name, "code": code})


@pytest.mark.django_db
def test_a_new_hive_account_needs_the_second_factor(hive, client, carol):
    mapped(hive, carol, "chg-old-1")
    account(hive, "chg-new-1")
    client.force_login(carol)
    response = ask(client, "chg-new-1", "000000x")
    assert response.status_code == 400
    assert "current code of your authenticator" in response.content.decode()
    assert not HiveOwnershipClaim.objects.exists()
    without = fixtures.make_user("user_erin", second_factor=False)
    mapped(hive, without, "chg-erin-1")
    client.force_login(without)
    assert "needs a second factor" in ask(client, "chg-new-1").content.decode()
    assert not HiveOwnershipClaim.objects.exists()


@pytest.mark.django_db
def test_the_api_sends_a_hive_change_to_the_page(hive, carol):
    old = mapped(hive, carol, "chg-old-2")
    account(hive, "chg-new-2")
    api = APIClient()
    api.force_authenticate(carol)
    body = {"sidechain": "hive", "hive_account": "chg-new-2"}
    response = api.post(reverse("api-mappings"), body, format="json")
    assert response.status_code == 400
    assert "second factor" in str(response.json())
    assert not HiveOwnershipClaim.objects.exists()
    assert SidechainAddress.objects.active().get(user=carol) == old


@pytest.mark.django_db
def test_a_claim_opened_without_the_second_factor_cannot_change_the_account(hive, carol):
    old = mapped(hive, carol, "chg-old-3")
    key = account(hive, "chg-new-3")
    claim = hive_ownership.hive_claim_start(user=carol, hive_account="chg-new-3")
    with pytest.raises(services.MappingError, match="needs your second factor"):
        hive_ownership.hive_claim_verify_signature(claim=claim, signature=signature(claim, key))
    assert (
        hive_ownership.hive_claim_verify_transfer(sender="chg-new-3", memo=claim.memo_code) is None
    )
    assert SidechainAddress.objects.active().get(user=carol) == old
    assert not MappingChange.objects.exists()


@pytest.mark.django_db(transaction=True)  # the mails leave after commit
def test_a_proved_change_waits_for_the_mailed_link_then_cools_down(
    hive, client, carol, mail_catcher, settings
):
    settings.MAPPING_CHANGE_COOLDOWN = 24 * 3600
    set_hive_rates()
    old = mapped(hive, carol, "chg-old-4")
    key = account(hive, "chg-new-4")
    client.force_login(carol)
    assert ask(client, "chg-new-4", fixtures.totp_code(carol)).status_code == 302
    claim = HiveOwnershipClaim.objects.get(hive_account="chg-new-4")
    assert claim.for_change
    url = reverse("mappings-verify-hive", args=[claim.pk])
    assert client.post(url, {"signature": signature(claim, key)}).status_code == 302
    assert SidechainAddress.objects.active().get(user=carol) == old  # proved, not changed
    mail = mail_catcher.wait_for(to=carol.email, subject="Confirm the change")
    assert "chg-new-4" in mail.text
    link = mail.link("/addresses/confirm/")
    assert client.post(link).status_code == 302
    new = SidechainAddress.objects.active().get(user=carol)
    assert new.hive_account == "chg-new-4" and new.cooldown_until is not None
    quote = hive_withdrawal_quote(user=carol, pegged="pHIVE", amount_pegged=1_000, balance=1_000)
    assert quote.account == "chg-old-4"  # cooling down: the previous account is paid
    changed = mail_catcher.wait_for(to=carol.email, subject="was changed")
    assert "chg-old-4" in changed.text and "chg-new-4" in changed.text
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        quote = hive_withdrawal_quote(
            user=carol, pegged="pHIVE", amount_pegged=1_000, balance=1_000
        )
        assert quote.account == "chg-new-4"
