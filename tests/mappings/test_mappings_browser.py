"""A user registers both mappings in Chromium and sees the deposit address and its QR code."""

import pytest
from beemgraphenebase.ecdsasig import sign_message

from devnode.hive.keys import private_key_to_wif, public_key_of
from mappings.models import SidechainAddress
from tests import fixtures
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
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "user_carol")
    page.fill("#id_password", fixtures.PASSWORD)
    page.click("button[type=submit]")
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
