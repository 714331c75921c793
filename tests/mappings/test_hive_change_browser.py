"""A user changes their Hive account in Chromium, at desktop and phone widths: the second
factor's code, the proof of the new account, the mail and its link, then the cool-down."""

import pytest
from beemgraphenebase.ecdsasig import sign_message

from devnode.hive.keys import private_key_to_wif, public_key_of
from mappings.models import SidechainAddress
from mappings.services import mapping_set_hive
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in
from tests.mappings import helpers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_changes_the_hive_account_with_the_code_the_proof_and_the_mail(
    page, live_server, hive_devnode, settings, mail_catcher, width
):
    settings.HIVE_NODE_URL = hive_devnode.url
    settings.MAPPING_CHANGE_COOLDOWN = 3600
    settings.PORTAL_URL = live_server.url  # the link is mailed from a service, not a request
    page.set_viewport_size(WIDTHS[width])
    old, new, key = f"hcb-old-{width}", f"hcb-new-{width}", helpers.new_key()
    hive_devnode.create_account(old, key=public_key_of(helpers.new_key()))
    hive_devnode.create_account(new, key=public_key_of(key))
    carol = fixtures.make_user("user_carol", second_factor=True)
    mapping_set_hive(user=carol, hive_account=old)  # as after its proof
    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/addresses/")
    assert page.locator("#id_code").count() == 1 and page.locator("#id_hive_code").count() == 1

    page.fill("#id_hive_account", new)
    page.click("text=Change Hive account")
    page.locator("#hive-card").get_by_test_id("error-code").wait_for()  # no code: refused
    page.fill("#id_hive_code", fixtures.totp_code(carol))
    page.click("text=Change Hive account")
    challenge = page.get_by_test_id("hive-challenge")
    challenge.wait_for()
    assert_fits(page)
    page.fill("#id_signature", sign_message(challenge.inner_text(), private_key_to_wif(key)).hex())
    page.click("text=Verify the signature")
    page.locator("#hive-card").get_by_test_id("change-mailed").wait_for()
    assert page.get_by_test_id("hive-account").inner_text() == old  # proved, not changed

    mail = mail_catcher.wait_for(to=carol.email, subject="Confirm the change")
    page.goto(mail.link("/addresses/confirm/"))
    assert page.get_by_test_id("new-destination").inner_text() == new
    page.get_by_test_id("confirm-change").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("hive-account").inner_text() == new
    assert old in page.get_by_test_id("hive-cooldown").inner_text()
    assert SidechainAddress.objects.active().get(user=carol, sidechain="hive").hive_account == new
    assert_fits(page)
