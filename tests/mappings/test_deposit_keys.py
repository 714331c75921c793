"""Registering a deposit key as an extended public key or a descriptor: a fresh key of it per
deposit address, checked against the private keys of the same wallet."""

import bitcoin.base58
import bitcoin.core
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from chains.bitcoin import keys
from mappings import changes, services
from mappings.models import AddressClaim, SidechainAddress
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in (1, 2, 3)]


def receive_key(nodes, index: int) -> str:
    """The public key of m/84h/1h/0h/0/index, derived from the private keys."""
    return helpers.public_of(helpers.bip32_child(helpers.bip32_child(nodes[3], 0), index)).hex()


def register(user, key: str, address: str):
    return services.mapping_set_bitcoin(user=user, deposit_public_key=key, withdraw_address=address)


def test_a_tpub_gives_each_deposit_address_a_fresh_key(federation, user_carol):
    tpub, nodes, _ = helpers.account_tpub()
    address = helpers.regtest_p2wpkh()
    first, created = register(user_carol, tpub, address)
    assert created
    assert (first.deposit_public_key, first.deposit_key_index) == (receive_key(nodes, 0), 0)
    assert first.deposit_key_source == tpub
    assert bytes.fromhex(receive_key(nodes, 0)) in bytes(first.deposit_witness_script)

    # The same tpub and address again: nothing changes (no key is spent for nothing).
    again, created = register(user_carol, f" {tpub} ", address)
    assert (again.pk, created) == (first.pk, False)

    # A new row (another address) takes the next key; an earlier key is never reused.
    second, _ = register(user_carol, tpub, helpers.regtest_p2wpkh())
    assert (second.deposit_public_key, second.deposit_key_index) == (receive_key(nodes, 1), 1)
    assert second.deposit_address != first.deposit_address
    third, _ = register(user_carol, tpub, address)
    assert third.deposit_key_index == 2
    claimed = AddressClaim.objects.filter(kind="deposit_key", user=user_carol)
    assert {c.value for c in claimed} == {receive_key(nodes, i) for i in range(3)}


def test_a_descriptor_records_the_key_origin_for_the_wallet(federation, user_carol):
    tpub, nodes, master = helpers.account_tpub()
    body = f"wpkh([{master.hex()}/84h/1h/0h]{tpub}/0/*)"
    mapping, _ = register(
        user_carol, f"{body}#{keys.descriptor_checksum(body)}", helpers.regtest_p2wpkh()
    )
    assert mapping.deposit_public_key == receive_key(nodes, 0)
    assert mapping.deposit_key_origin == f"[{master.hex()}/84h/1h/0h/0/0]"
    assert mapping.deposit_key_source == body


def test_another_user_cannot_take_keys_of_a_tpub_already_used(federation, user_carol):
    tpub, _, _ = helpers.account_tpub()
    register(user_carol, tpub, helpers.regtest_p2wpkh())
    erin = fixtures.make_user("user_erin")
    with pytest.raises(services.MappingError, match="belongs to another account") as e:
        register(erin, tpub, helpers.regtest_p2wpkh())
    assert e.value.field == "deposit_public_key"
    assert not SidechainAddress.objects.filter(user=erin).exists()


def test_a_private_key_is_refused_and_nothing_saved(federation, user_carol):
    _, nodes, _ = helpers.account_tpub()
    payload = bytes.fromhex("04358394") + bytes(9) + nodes[0][1] + b"\0" + nodes[0][0]
    xprv = bitcoin.base58.encode(payload + bitcoin.core.Hash(payload)[:4])
    assert xprv.startswith("tprv")
    with pytest.raises(services.MappingError, match="PRIVATE") as e:
        register(user_carol, xprv, helpers.regtest_p2wpkh())
    assert e.value.field == "deposit_public_key"
    assert SidechainAddress.objects.count() == AddressClaim.objects.count() == 0


def test_a_confirmed_change_of_address_derives_the_next_key(federation, mail_catcher):
    carol = fixtures.make_user("user_carol", second_factor=True)
    tpub, nodes, _ = helpers.account_tpub()
    register(carol, tpub, helpers.regtest_p2wpkh())
    token = changes.new_token()
    fields = {"deposit_public_key": tpub, "withdraw_address": helpers.regtest_p2wpkh()}
    change = changes.mapping_change_request(
        user=carol,
        sidechain="bitcoin",
        fields=fields,
        code=fixtures.totp_code(carol),
        token=token,
        confirm_url="http://x/",
    )
    assert change.fields["deposit_public_key"] == tpub  # derived only when confirmed
    mapping = changes.mapping_change_confirm(user=carol, token=token)
    assert (mapping.deposit_key_index, mapping.deposit_public_key) == (1, receive_key(nodes, 1))


def test_the_api_takes_a_tpub_and_answers_the_derivation(federation, user_carol):
    tpub, nodes, _ = helpers.account_tpub()
    api = APIClient()
    api.force_login(user_carol)
    body = {"sidechain": "bitcoin", "deposit_public_key": tpub}
    response = api.post(
        reverse("api-mappings"), body | {"withdraw_address": helpers.regtest_p2wpkh()}
    )
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["deposit_public_key"] == receive_key(nodes, 0)
    assert (answer["deposit_key_source"], answer["deposit_key_index"]) == (tpub, 0)
    refused = api.post(reverse("api-mappings"), body | {"deposit_public_key": "x" * 301})
    assert refused.status_code == 400
