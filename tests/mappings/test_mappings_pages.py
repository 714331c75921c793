import pytest
from django.urls import reverse

from mappings.models import SidechainAddress
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in (1, 2, 3)]


def bitcoin_form(**extra):
    return {
        "deposit_public_key": helpers.pubkey_hex(),
        "withdraw_address": helpers.regtest_p2wpkh(),
        **extra,
    }


def test_it_registers_with_a_plain_post_and_redirects(client, federation, user_carol):
    client.force_login(user_carol)
    response = client.post(reverse("mappings-set-bitcoin"), bitcoin_form())
    assert response.status_code == 302
    page = client.get(response["Location"])
    mapping = SidechainAddress.objects.get(user=user_carol)
    assert mapping.deposit_address.encode() in page.content


def test_it_answers_htmx_with_the_card_fragment(client, federation, user_carol):
    client.force_login(user_carol)
    response = client.post(reverse("mappings-set-bitcoin"), bitcoin_form(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="bitcoin-card"' in response.content
    mapping = SidechainAddress.objects.get(user=user_carol)
    assert mapping.deposit_address.encode() in response.content


def test_it_shows_the_error_and_saves_nothing(client, federation, user_carol):
    client.force_login(user_carol)
    form = bitcoin_form(withdraw_address=helpers.mainnet_p2wpkh())
    plain = client.post(reverse("mappings-set-bitcoin"), form)
    htmx = client.post(reverse("mappings-set-bitcoin"), form, HTTP_HX_REQUEST="true")
    assert plain.status_code == 400
    assert htmx.status_code == 200
    for response in (plain, htmx):
        assert b'data-testid="error-withdraw_address"' in response.content
        assert b"mainnet" in response.content
        # The user's input is kept in the form.
        assert form["deposit_public_key"].encode() in response.content
    assert SidechainAddress.objects.count() == 0


def test_it_shows_the_deposit_address_qr_script_and_timelock(client, federation, user_carol):
    client.force_login(user_carol)
    client.post(reverse("mappings-set-bitcoin"), bitcoin_form())
    mapping = SidechainAddress.objects.get(user=user_carol)
    page = client.get(reverse("mappings-bitcoin-deposit"))
    assert page.status_code == 200
    content = page.content.decode()
    assert mapping.deposit_address in content
    assert "<svg" in content
    assert "OP_CHECKSEQUENCEVERIFY" in content
    assert bytes(mapping.deposit_witness_script).hex() in content
    assert f'data-testid="timelock">{mapping.deposit_timelock}<' in content


def test_it_sends_a_user_without_mapping_to_register_first(client, user_carol):
    client.force_login(user_carol)
    response = client.get(reverse("mappings-bitcoin-deposit"))
    assert response["Location"] == reverse("mappings-home")


def test_it_lets_only_the_owner_remove_a_mapping(client, federation, user_carol):
    client.force_login(user_carol)
    client.post(reverse("mappings-set-bitcoin"), bitcoin_form())
    mapping = SidechainAddress.objects.get(user=user_carol)
    client.force_login(fixtures.make_user("user_erin"))
    assert client.post(reverse("mappings-expire", args=[mapping.pk])).status_code == 404
    mapping.refresh_from_db()
    assert mapping.expires is None
    client.force_login(user_carol)
    assert client.post(reverse("mappings-expire", args=[mapping.pk])).status_code == 302
    mapping.refresh_from_db()
    assert mapping.expires is not None
