"""Withdraw addresses the federation controls are refused: deposit addresses (the user's own
included), the federation's wallets of every version and the addresses of SONs' keys."""

import pytest
from bitcoin.core import Hash160
from bitcoin.wallet import P2PKHBitcoinAddress
from django.urls import reverse
from rest_framework.test import APIClient

from chains.bitcoin.addresses import (
    AddressError,
    base58_address,
    segwit_address,
    taproot_output_key,
)
from chains.bitcoin.federation import (
    federation_witness_script,
    p2wsh_script_pubkey,
    script_hash_script_pubkeys,
)
from mappings import services
from mappings.destinations import federation_scripts, withdraw_destination
from mappings.models import AddressClaim, SidechainAddress
from sons.federation import (
    federation_current,
    federation_son_keys,
    federation_version_activate,
    federation_version_record,
)
from sons.models import SON, Sidechain
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db

FEDERATION = "the federation controls it, so coins paid there would never reach you"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' password hashing is most of these tests' time otherwise."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in (1, 2, 3)]


def address_of(script_pubkey: bytes) -> str:
    """The regtest address of a standard output script."""
    if script_pubkey[:3] == b"\x76\xa9\x14":
        return base58_address("p2pkh", script_pubkey[3:23], "regtest")
    if script_pubkey[:2] == b"\xa9\x14":
        return base58_address("p2sh", script_pubkey[2:22], "regtest")
    version = 0 if script_pubkey[0] == 0 else script_pubkey[0] - 0x50
    return segwit_address(version, script_pubkey[2:], "regtest")


def refused(address: str) -> str:
    with pytest.raises(AddressError) as error:
        withdraw_destination(address)
    assert FEDERATION in str(error.value)
    return str(error.value)


def test_it_accepts_an_address_of_the_users_own_wallet(federation):
    address = helpers.regtest_p2wpkh()
    assert withdraw_destination(address).text == address


def test_it_refuses_the_deposit_address_being_registered(federation, user_carol):
    key = helpers.pubkey_hex()
    derived = services.derive_bitcoin_deposit(bytes.fromhex(key))

    with pytest.raises(services.MappingError) as error:
        services.mapping_set_bitcoin(
            user=user_carol, deposit_public_key=key, withdraw_address=derived.address
        )

    assert error.value.field == "withdraw_address"
    assert "This is the deposit address you are registering" in error.value.message
    assert not SidechainAddress.objects.exists()
    assert not AddressClaim.objects.exists()


def test_it_refuses_every_deposit_address_ever_registered(federation, user_carol):
    erin = fixtures.make_user("user_erin")
    theirs, _ = services.mapping_set_bitcoin(
        user=erin,
        deposit_public_key=helpers.pubkey_hex(),
        withdraw_address=helpers.regtest_p2wpkh(),
    )
    mine, _ = services.mapping_set_bitcoin(
        user=user_carol,
        deposit_public_key=helpers.pubkey_hex(),
        withdraw_address=helpers.regtest_p2wpkh(),
    )
    services.mapping_expire(mapping=mine)  # an old deposit address stays watched

    for mapping in (theirs, mine):
        assert "a deposit address of the portal" in refused(mapping.deposit_address)
        with pytest.raises(services.MappingError, match=FEDERATION):
            services.mapping_set_bitcoin(
                user=user_carol,
                deposit_public_key=helpers.pubkey_hex(),
                withdraw_address=mapping.deposit_address,
            )
    assert SidechainAddress.objects.filter(user=user_carol).count() == 1


def test_it_refuses_the_current_wallet_however_it_is_wrapped(federation):
    keys = [bytes.fromhex(son.public_key("bitcoin")) for son in federation]
    wallet = federation_witness_script(keys)

    for script_pubkey in script_hash_script_pubkeys(wallet):  # P2WSH, P2SH-P2WSH, P2SH
        assert "the federation's wallet" in refused(address_of(script_pubkey))


def test_it_refuses_the_wallets_of_earlier_federations(federation):
    earlier = federation_current(Sidechain.BITCOIN)  # e.g. the change of a batch was paid there
    fixtures.make_son("son-9")  # the federation's set changes ...
    assert federation_current(Sidechain.BITCOIN).pk == earlier.pk  # ... not its keys, by itself
    keys = federation_son_keys(Sidechain.BITCOIN)
    current = federation_version_record(sidechain=Sidechain.BITCOIN, keys=keys)
    assert federation_version_activate(version=current)  # a rotation to four keys
    assert federation_current(Sidechain.BITCOIN).pk == current.pk

    for version in (earlier, current):
        wallet = bytes(version.wallet_script)
        assert "the federation's wallet" in refused(address_of(p2wsh_script_pubkey(wallet)))


@pytest.mark.parametrize("status", [SON.Status.ACTIVE, SON.Status.DEREGISTERED])
def test_it_refuses_every_address_of_a_sons_key(federation, status):
    fixtures.make_son("son-9", status=status)
    key = fixtures.son_key("son-9").public_key
    compressed, x_only = key.format(), key.format()[1:]
    p2wpkh = b"\x00\x14" + Hash160(compressed)
    scripts = [  # python-bitcoinlib's, but for taproot (BIP86's vector tests ours)
        bytes(P2PKHBitcoinAddress.from_pubkey(compressed).to_scriptPubKey()),
        bytes(P2PKHBitcoinAddress.from_pubkey(key.format(compressed=False)).to_scriptPubKey()),
        p2wpkh,
        b"\xa9\x14" + Hash160(p2wpkh) + b"\x87",  # P2SH-P2WPKH
        b"\x51\x20" + x_only,
        b"\x51\x20" + taproot_output_key(x_only),
    ]

    assert set(scripts) <= federation_scripts().son_keys
    for script_pubkey in scripts:
        assert "an address of a SON's key" in refused(address_of(script_pubkey))


def test_it_takes_one_snapshot_for_many_addresses(federation, django_assert_max_num_queries):
    scripts = federation_scripts()
    addresses = [helpers.regtest_p2wpkh() for _ in range(20)]

    with django_assert_max_num_queries(20):  # one indexed deposit lookup each
        for address in addresses:
            withdraw_destination(address, scripts=scripts)


def test_it_answers_the_api_with_400_and_saves_nothing(federation, user_carol):
    api = APIClient()
    api.force_login(user_carol)
    son_key = bytes.fromhex(federation[0].public_key("bitcoin"))
    son_address = address_of(b"\x00\x14" + Hash160(son_key))
    body = {
        "sidechain": "bitcoin",
        "deposit_public_key": helpers.pubkey_hex(),
        "withdraw_address": son_address,
    }

    response = api.post(reverse("api-mappings"), body, format="json")

    assert response.status_code == 400
    assert FEDERATION in response.json()["withdraw_address"][0]
    assert not SidechainAddress.objects.exists()
