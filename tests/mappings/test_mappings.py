import hashlib
import threading

import pytest
from django.db import connection

from mappings import hive_ownership, services
from mappings.models import AddressClaim, SidechainAddress
from sons.federation import (
    federation_son_keys,
    federation_version_activate,
    federation_version_record,
)
from sons.models import SON, Sidechain
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in (1, 2, 3)]


def set_bitcoin(user, key=None, address=None, **kwargs):
    return services.mapping_set_bitcoin(
        user=user,
        deposit_public_key=key or helpers.pubkey_hex(),
        withdraw_address=address or helpers.regtest_p2wpkh(),
        **kwargs,
    )


def test_it_derives_a_p2wsh_deposit_address_from_the_federation_keys(federation, user_carol):
    key = helpers.pubkey_hex()
    mapping, created = set_bitcoin(user_carol, key)
    assert created
    script = bytes(mapping.deposit_witness_script)
    assert mapping.deposit_address.startswith("bcrt1q")
    # python-bitcoinlib agrees on the scriptPubKey: OP_0 <sha256(witness script)>.
    assert helpers.script_pubkey_of(mapping.deposit_address) == bytes(mapping.deposit_script_pubkey)
    assert bytes(mapping.deposit_script_pubkey) == b"\x00\x20" + hashlib.sha256(script).digest()
    for son in federation:
        assert bytes.fromhex(son.public_key("bitcoin")) in script
    assert bytes.fromhex(key) in script
    assert mapping.deposit_timelock == 4320


def test_it_derives_the_same_address_whatever_the_order_of_the_sons(federation, user_carol):
    key = helpers.pubkey_hex()
    first = services.derive_bitcoin_deposit(bytes.fromhex(key))
    SON.objects.filter(pk=federation[0].pk).update(name="son-9")  # changes the natural order
    assert services.derive_bitcoin_deposit(bytes.fromhex(key)) == first


def test_it_derives_from_the_active_federation_version_not_the_sons_statuses(
    federation, user_carol
):
    key = bytes.fromhex(helpers.pubkey_hex())
    before = services.derive_bitcoin_deposit(key)
    SON.objects.filter(pk=federation[0].pk).update(status=SON.Status.DEREGISTERED)
    # a deregistration changes no key by itself: deposits keep going where the coins are
    assert services.derive_bitcoin_deposit(key) == before
    rotated = federation_version_record(
        sidechain=Sidechain.BITCOIN, keys=federation_son_keys(Sidechain.BITCOIN)
    )
    federation_version_activate(version=rotated)  # the end of a rotation
    after = services.derive_bitcoin_deposit(key)
    assert after.address != before.address
    assert bytes.fromhex(federation[0].public_key("bitcoin")) not in after.witness_script


def test_it_keeps_the_old_mapping_when_changing_it(federation, user_carol):
    old, _ = set_bitcoin(user_carol)
    new, created = set_bitcoin(user_carol)
    old.refresh_from_db()
    assert created
    assert old.expires == new.valid_from
    assert new.expires is None
    assert list(SidechainAddress.objects.for_user(user_carol).active()) == [new]
    assert SidechainAddress.objects.for_user(user_carol).count() == 2


def test_it_does_nothing_when_the_same_addresses_are_registered_again(federation, user_carol):
    key, address = helpers.pubkey_hex(), helpers.regtest_p2wpkh()
    first, _ = set_bitcoin(user_carol, key, address)
    again, created = set_bitcoin(user_carol, key, address)
    assert (again.pk, created) == (first.pk, False)


def test_it_returns_the_first_result_for_a_repeated_request_id(federation, user_carol):
    first, _ = set_bitcoin(user_carol, request_id="abc")
    again, created = set_bitcoin(user_carol, request_id="abc")
    assert (again.pk, created) == (first.pk, False)
    assert SidechainAddress.objects.count() == 1


def test_it_lets_a_user_go_back_to_an_earlier_key(federation, user_carol):
    key, address = helpers.pubkey_hex(), helpers.regtest_p2wpkh()
    first, _ = set_bitcoin(user_carol, key, address)
    set_bitcoin(user_carol)
    back, created = set_bitcoin(user_carol, key, address)
    assert created
    assert back.deposit_address == first.deposit_address


@pytest.mark.parametrize("field", ["deposit_public_key", "withdraw_address"])
def test_it_refuses_an_identifier_that_belongs_to_another_user(federation, user_carol, field):
    mine, _ = set_bitcoin(user_carol)
    erin = fixtures.make_user("user_erin")
    taken = {field: getattr(mine, field)}
    with pytest.raises(services.MappingError) as e:
        services.mapping_set_bitcoin(
            user=erin,
            deposit_public_key=taken.get("deposit_public_key", helpers.pubkey_hex()),
            withdraw_address=taken.get("withdraw_address", helpers.regtest_p2wpkh()),
        )
    assert e.value.field == field
    assert "belongs to another account" in e.value.message
    assert not SidechainAddress.objects.for_user(erin).exists()
    assert not AddressClaim.objects.filter(user=erin).exists()


@pytest.mark.parametrize(
    ("key", "address", "field", "message"),
    [
        ("04" + "11" * 64, None, "deposit_public_key", "compressed"),
        ("02" + "zz" * 32, None, "deposit_public_key", "hex"),
        ("02" + "ff" * 32, None, "deposit_public_key", "curve"),
        ("02abcd", None, "deposit_public_key", "33 bytes"),
        (None, "mainnet", "withdraw_address", "mainnet"),
        (None, "bad-checksum", "withdraw_address", "checksum"),
        (None, "", "withdraw_address", ""),
    ],
)
def test_it_refuses_bad_bitcoin_input_and_saves_nothing(
    federation, user_carol, key, address, field, message
):
    if address == "mainnet":
        address = helpers.mainnet_p2wpkh()
    elif address == "bad-checksum":
        good = helpers.regtest_p2wpkh()
        address = good[:-1] + ("q" if good[-1] != "q" else "p")
    elif address == "":
        address = " "
    with pytest.raises(services.MappingError) as e:
        set_bitcoin(user_carol, key, address)
    assert e.value.field == field
    assert message.lower() in e.value.message.lower()
    assert SidechainAddress.objects.count() == 0
    assert AddressClaim.objects.count() == 0


def test_it_explains_that_there_is_no_federation_yet(user_carol):
    with pytest.raises(services.MappingError, match="no SONs"):
        set_bitcoin(user_carol)
    assert SidechainAddress.objects.count() == 0


def test_it_expires_a_mapping_once(federation, user_carol):
    mapping, _ = set_bitcoin(user_carol)
    services.mapping_expire(mapping=mapping)
    first = mapping.expires
    services.mapping_expire(mapping=mapping)
    assert mapping.expires == first is not None


@pytest.mark.django_db(transaction=True)
def test_it_gives_a_contested_deposit_key_to_exactly_one_user():
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    users = [fixtures.make_user(f"racer_{i}") for i in range(4)]
    key = helpers.pubkey_hex()
    barrier = threading.Barrier(len(users))
    outcomes = []

    def race(user):
        try:
            barrier.wait()
            outcomes.append(set_bitcoin(user, key)[0].user_id)
        except services.MappingError as e:
            outcomes.append(e.field)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, int)]
    assert len(winners) == 1
    assert outcomes.count("deposit_public_key") == len(users) - 1
    assert SidechainAddress.objects.count() == 1
    assert AddressClaim.objects.get(kind="deposit_key").user_id == winners[0]


@pytest.fixture
def hive(hive_devnode, settings):
    settings.HIVE_NODE_URL = hive_devnode.url
    return hive_devnode


def hive_account(node, name: str) -> str:
    from devnode.hive.keys import public_key_of

    node.create_account(name, key=public_key_of(helpers.new_key()))
    return name


def test_it_registers_an_existing_hive_account(hive, user_carol):
    name = hive_account(hive, "carol")
    mapping, created = services.mapping_set_hive(user=user_carol, hive_account=f" @{name} ")
    assert created
    assert mapping.hive_account == "carol"
    assert mapping.deposit_script_pubkey is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nobody-here", "There is no Hive account named nobody-here."),
        ("ab", "at least 3"),
        ("Alice", "'A' is not allowed"),
        ("a" * 17, "at most 16"),
        ("abc.de", "'de' is too short"),
    ],
)
def test_it_refuses_a_bad_or_unknown_hive_account(hive, user_carol, name, message):
    with pytest.raises(services.MappingError) as e:
        hive_ownership.hive_claim_start(user=user_carol, hive_account=name)
    assert e.value.field == "hive_account"
    assert message in e.value.message
    assert SidechainAddress.objects.count() == 0


def test_it_saves_nothing_while_the_hive_node_is_down(user_carol, settings):
    from tests.bitcoin_node import free_port

    settings.HIVE_NODE_URL = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(services.MappingError, match="The Hive node could not be asked"):
        hive_ownership.hive_claim_start(user=user_carol, hive_account="carol")
    assert SidechainAddress.objects.count() == 0


def test_it_refuses_a_hive_account_that_belongs_to_another_user(hive, user_carol):
    name = hive_account(hive, "carol-two")
    services.mapping_set_hive(user=user_carol, hive_account=name)
    with pytest.raises(services.MappingError, match="belongs to another account"):
        hive_ownership.hive_claim_start(user=fixtures.make_user("user_erin"), hive_account=name)
