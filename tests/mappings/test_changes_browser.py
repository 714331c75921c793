"""A user changes their withdraw address in Chromium, at desktop and phone widths: the second
factor's code, the mail and its link, then the cool-down shown on the page."""

import pytest

from mappings.models import SidechainAddress
from mappings.services import mapping_set_bitcoin
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in
from tests.mappings import helpers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_changes_the_withdraw_address_with_the_code_and_the_mail(
    page, live_server, mail_catcher, width
):
    page.set_viewport_size(WIDTHS[width])
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    carol = fixtures.make_user("user_carol", second_factor=True)
    old, _ = mapping_set_bitcoin(
        user=carol,
        deposit_public_key=helpers.pubkey_hex(),
        withdraw_address=helpers.regtest_p2wpkh(),
    )
    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/addresses/")
    assert_fits(page)

    new_address = helpers.regtest_p2wpkh()
    page.fill("#id_deposit_public_key", old.deposit_public_key)
    page.fill("#id_withdraw_address", new_address)
    page.click("text=Change Bitcoin addresses")
    page.get_by_test_id("error-code").wait_for()  # no code: refused in place
    page.fill("#id_code", fixtures.totp_code(carol))
    page.click("text=Change Bitcoin addresses")
    page.get_by_test_id("change-mailed").first.wait_for()

    mail = mail_catcher.wait_for(to=carol.email, subject="Confirm the change")
    page.goto(mail.link("/addresses/confirm/"))
    assert page.get_by_test_id("new-destination").inner_text() == new_address
    assert_fits(page)
    page.get_by_test_id("confirm-change").click()
    page.wait_for_load_state()

    assert page.url == f"{live_server.url}/addresses/"
    cooldown = page.get_by_test_id("bitcoin-cooldown").inner_text()
    assert old.withdraw_address in cooldown
    assert SidechainAddress.objects.active().get(user=carol).withdraw_address == new_address
    assert_fits(page)
    mail_catcher.wait_for(to=carol.email, subject="was changed")
