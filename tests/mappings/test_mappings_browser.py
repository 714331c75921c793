"""A user registers both mappings in Chromium and sees the deposit address and its QR code."""

import pytest
from beemgraphenebase.ecdsasig import sign_message
from playwright.sync_api import expect

from devnode.hive.keys import private_key_to_wif, public_key_of
from mappings.models import SidechainAddress
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in
from tests.mappings import helpers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_registers_both_mappings_and_shows_the_deposit_address(
    page, live_server, hive_devnode, settings
):
    settings.HIVE_NODE_URL = hive_devnode.url
    hive_key = helpers.new_key()
    hive_devnode.create_account("carol-hive", key=public_key_of(hive_key))
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    fixtures.make_user("user_carol")
    log_in(page, live_server, "user_carol")
    page.click("text=Addresses")

    # A wrong-network withdraw address is refused in place (htmx), with the input kept.
    key = helpers.pubkey_hex()
    page.fill("#id_deposit_public_key", key)
    page.fill("#id_withdraw_address", helpers.mainnet_p2wpkh())
    page.click("text=Register Bitcoin addresses")
    error = page.get_by_test_id("error-withdraw_address")
    error.wait_for()
    assert "mainnet" in error.inner_text()
    assert page.input_value("#id_deposit_public_key") == key

    page.fill("#id_withdraw_address", helpers.regtest_p2wpkh())
    page.click("text=Register Bitcoin addresses")
    page.get_by_test_id("deposit-address").wait_for()

    page.fill("#id_hive_account", "no-such-user")
    page.click("text=Register Hive account")
    page.get_by_test_id("error-hive_account").wait_for()
    assert "no Hive account" in page.get_by_test_id("error-hive_account").inner_text()
    page.fill("#id_hive_account", "carol-hive")
    page.click("text=Register Hive account")
    # Nothing is mapped before the proof: the user signs the challenge (Keychain's signBuffer).
    challenge = page.get_by_test_id("hive-challenge")
    challenge.wait_for()
    assert page.get_by_test_id("hive-account").count() == 0
    signed = sign_message(challenge.inner_text(), private_key_to_wif(hive_key)).hex()
    page.fill("#id_signature", signed)
    page.click("text=Verify the signature")
    page.get_by_test_id("hive-account").wait_for()
    assert page.get_by_test_id("hive-account").inner_text() == "carol-hive"

    page.click("text=Show the deposit address")
    mapping = SidechainAddress.objects.get(sidechain="bitcoin")
    assert page.get_by_test_id("deposit-address").inner_text() == mapping.deposit_address
    qr = page.get_by_test_id("deposit-qr").locator("svg")
    assert qr.is_visible()
    assert qr.bounding_box()["width"] > 100
    assert "OP_CHECKMULTISIG" in page.get_by_test_id("witness-script-asm").inner_text()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_registers_an_extended_public_key_and_shows_the_derived_key(page, live_server, width):
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    fixtures.make_user("user_carol")
    tpub, nodes, master = helpers.account_tpub()
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live_server, "user_carol", next_path="/addresses/")
    assert "never asks for them" in page.get_by_test_id("why-public-key").inner_text()
    assert "tpub" in page.locator("#bitcoin-card").inner_text()  # the help names this network's

    # A private key is refused in place, with a warning, and nothing is saved.
    page.fill("#id_deposit_public_key", "wpkh(tprv" + tpub[4:] + "/0/*)")
    page.fill("#id_withdraw_address", helpers.regtest_p2wpkh())
    page.click("text=Register Bitcoin addresses")
    expect(page.get_by_test_id("error-deposit_public_key")).to_contain_text("PRIVATE")
    assert not SidechainAddress.objects.exists()

    page.fill("#id_deposit_public_key", f"wpkh([{master.hex()}/84h/1h/0h]{tpub}/0/*)")
    page.click("text=Register Bitcoin addresses")
    expect(page.get_by_test_id("deposit-key-derivation")).to_contain_text("key 0 of")
    first_key = helpers.public_of(helpers.bip32_child(helpers.bip32_child(nodes[3], 0), 0))
    assert page.get_by_test_id("deposit-public-key").inner_text() == first_key.hex()
    origin = f"[{master.hex()}/84h/1h/0h/0/0]"
    assert origin in page.get_by_test_id("deposit-key-derivation").inner_text()
    assert_fits(page)
