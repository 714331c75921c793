"""Changing where money goes: second factor, mailed confirmation, cool-down."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from mappings import changes, services
from mappings.models import MappingChange, SidechainAddress
from sidechains.bitcoin.withdrawals.requests import withdrawal_mapping
from sons.models import Sidechain
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in (1, 2, 3)]


@pytest.fixture
def carol(db):
    return fixtures.make_user("user_carol", second_factor=True)


def register(user) -> SidechainAddress:
    mapping, _ = services.mapping_set_bitcoin(
        user=user,
        deposit_public_key=helpers.pubkey_hex(),
        withdraw_address=helpers.regtest_p2wpkh(),
    )
    return mapping


def ask(client, mapping: SidechainAddress, address: str, code: str):
    body = {"deposit_public_key": mapping.deposit_public_key, "withdraw_address": address}
    return client.post(reverse("mappings-set-bitcoin"), body | {"code": code})


def test_a_first_registration_needs_no_confirmation(client, federation, user_carol):
    client.force_login(user_carol)
    body = {
        "deposit_public_key": helpers.pubkey_hex(),
        "withdraw_address": helpers.regtest_p2wpkh(),
    }
    assert client.post(reverse("mappings-set-bitcoin"), body).status_code == 302
    assert SidechainAddress.objects.get(user=user_carol).cooldown_until is None


def test_a_new_withdraw_address_needs_a_second_factor(client, federation):
    user_carol = fixtures.make_user("user_carol", second_factor=False)
    old = register(user_carol)
    client.force_login(user_carol)
    response = ask(client, old, helpers.regtest_p2wpkh(), "")
    assert response.status_code == 400
    assert "needs a second factor" in response.content.decode()
    assert MappingChange.objects.count() == 0
    assert SidechainAddress.objects.active().get(user=user_carol) == old


def test_a_wrong_code_changes_nothing(client, federation, carol, mail_catcher):
    old = register(carol)
    client.force_login(carol)
    response = ask(client, old, helpers.regtest_p2wpkh(), "000000x")
    assert response.status_code == 400
    assert "current code of your authenticator" in response.content.decode()
    assert MappingChange.objects.count() == 0
    assert mail_catcher.mails() == []


@pytest.mark.django_db(transaction=True)  # the mails leave after commit
def test_the_change_waits_for_the_mailed_link_then_cools_down(
    client, federation, carol, mail_catcher, settings
):
    settings.MAPPING_CHANGE_COOLDOWN = 24 * 3600
    old = register(carol)
    new_address = helpers.regtest_p2wpkh()
    client.force_login(carol)
    assert ask(client, old, new_address, fixtures.totp_code(carol)).status_code == 302
    assert withdrawal_mapping(carol) == old  # nothing changed yet
    mail = mail_catcher.wait_for(to=carol.email, subject="Confirm the change")
    assert new_address in mail.text and new_address in mail.html
    link = mail.link("/addresses/confirm/")

    assert client.get(link).status_code == 200  # a page with a button; a GET changes nothing
    assert withdrawal_mapping(carol) == old
    assert client.post(link).status_code == 302
    new = SidechainAddress.objects.active().get(user=carol)
    assert new.withdraw_address == new_address
    assert withdrawal_mapping(carol) == old  # cooling down: the previous address is paid
    changed = mail_catcher.wait_for(to=carol.email, subject="was changed")
    assert old.withdraw_address in changed.text and new_address in changed.text

    assert client.post(link).status_code == 302  # the same link again: nothing more
    assert SidechainAddress.objects.filter(user=carol).count() == 2
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        assert withdrawal_mapping(carol) == new


def test_another_person_cannot_use_the_link(client, federation, carol, mail_catcher):
    old = register(carol)
    token = changes.new_token()
    changes.mapping_change_request(
        user=carol,
        sidechain=Sidechain.BITCOIN,
        fields={
            "deposit_public_key": old.deposit_public_key,
            "withdraw_address": helpers.regtest_p2wpkh(),
        },
        code=fixtures.totp_code(carol),
        token=token,
        confirm_url="http://x/",
    )
    client.force_login(fixtures.make_user("user_erin"))
    url = reverse("mappings-confirm-change", args=[token])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert SidechainAddress.objects.filter(user=carol).count() == 1


def test_an_expired_or_superseded_link_changes_nothing(federation, carol, mail_catcher):
    old = register(carol)
    fields = {"deposit_public_key": old.deposit_public_key}
    first, second = changes.new_token(), changes.new_token()
    for token in (first, second):
        changes.mapping_change_request(
            user=carol,
            sidechain=Sidechain.BITCOIN,
            fields=fields | {"withdraw_address": helpers.regtest_p2wpkh()},
            code=fixtures.totp_code(carol),
            token=token,
            confirm_url="http://x/",
        )
    with pytest.raises(changes.ChangeError, match="newer change"):
        changes.mapping_change_confirm(user=carol, token=first)
    with (
        time_machine.travel(timezone.now() + timedelta(hours=2)),
        pytest.raises(changes.ChangeError, match="expired"),
    ):
        changes.mapping_change_confirm(user=carol, token=second)
    assert SidechainAddress.objects.filter(user=carol).count() == 1


def test_removing_a_mapping_and_registering_anew_is_a_change(client, federation, carol):
    old = register(carol)
    services.mapping_expire(mapping=old)
    client.force_login(carol)
    response = ask(client, old, helpers.regtest_p2wpkh(), "")
    assert response.status_code == 400
    assert "Enter the current code of your authenticator app" in response.content.decode()
    assert not SidechainAddress.objects.active().filter(user=carol).exists()


@pytest.mark.parametrize("code", ["", "000000", "x" * 65])
def test_the_change_service_itself_refuses_a_missing_or_wrong_code(federation, carol, code):
    old = register(carol)

    with pytest.raises(changes.ChangeError, match="current code") as e:
        changes.mapping_change_request(
            user=carol,
            sidechain=Sidechain.BITCOIN,
            fields={"deposit_public_key": old.deposit_public_key,
                    "withdraw_address": helpers.regtest_p2wpkh()},
            code=code, token=changes.new_token(), confirm_url="http://x/",
        )  # fmt: skip

    assert e.value.field == "code"
    assert not MappingChange.objects.exists()


def test_the_change_service_itself_refuses_a_person_without_a_second_factor(federation):
    erin = fixtures.make_user("user_erin", second_factor=False)
    old = register(erin)

    with pytest.raises(changes.ChangeError, match="needs a second factor"):
        changes.mapping_change_request(
            user=erin,
            sidechain=Sidechain.BITCOIN,
            fields={"deposit_public_key": old.deposit_public_key,
                    "withdraw_address": helpers.regtest_p2wpkh()},
            code="123456", token=changes.new_token(), confirm_url="http://x/",
        )  # fmt: skip

    assert not MappingChange.objects.exists()
