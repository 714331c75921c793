"""Accounts in Chromium, at desktop and phone widths: sign-up through the mail catcher,
enrolling TOTP when a role requires it, password reset, email change, sessions, throttling."""

import secrets
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client
from django.urls import reverse

from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=list(WIDTHS))
def sized(request, page):
    page.set_viewport_size(WIDTHS[request.param])
    return page


def submit(page) -> None:
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def fresh_email(name: str) -> str:
    """An address no earlier run used: allauth allows one verification mail per address every
    3 minutes, counted in Redis, which outlives a test."""
    return f"{name}.{secrets.token_hex(4)}@example.org"


def test_it_signs_up_with_a_verified_email_and_logs_in_by_email(sized, live_server, mail_catcher):
    page = sized
    email = fresh_email("dora")
    page.goto(f"{live_server.url}/")
    page.click("text=Sign up")
    assert_fits(page)
    page.fill("#id_email", email)
    page.fill("#id_username", "dora")
    page.fill("#id_password1", fixtures.PASSWORD)
    page.fill("#id_password2", fixtures.PASSWORD)
    submit(page)
    assert "/accounts/confirm-email/" in page.url  # "verify your email address"
    assert_fits(page)

    mail = mail_catcher.wait_for(to=email, subject="Please Confirm")
    page.goto(mail.link("/accounts/confirm-email/"))
    submit(page)  # "Confirm"

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", fixtures.PASSWORD)
    submit(page)
    assert page.url == f"{live_server.url}/account/"
    assert page.get_by_test_id("username").inner_text() == "dora"
    assert_fits(page)


def test_an_unverified_address_cannot_log_in(page, live_server, mail_catcher):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("#id_email", fresh_email("eve"))
    page.fill("#id_username", "eve")
    page.fill("#id_password1", fixtures.PASSWORD)
    page.fill("#id_password2", fixtures.PASSWORD)
    submit(page)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", "eve")
    page.fill("#id_password", fixtures.PASSWORD)
    submit(page)
    assert "/accounts/confirm-email/" in page.url
    page.goto(f"{live_server.url}/account/")
    assert "/accounts/login/" in page.url


def _current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_a_witness_enrols_totp_before_acting_and_then_logs_in_with_it(sized, live_server):
    page = sized
    fixtures.make_witness("witness_dave", second_factor=False)
    log_in(page, live_server, "witness_dave")
    assert page.url == f"{live_server.url}/accounts/2fa/"
    assert "needs a second factor" in page.locator(".messages").inner_text()
    page.goto(f"{live_server.url}/proposals/")
    assert page.url == f"{live_server.url}/accounts/2fa/"  # still refused
    assert_fits(page)

    page.goto(f"{live_server.url}/accounts/2fa/totp/activate/")
    assert "/accounts/reauthenticate/" in page.url  # adding a factor asks for the password
    page.fill("#id_password", fixtures.PASSWORD)
    submit(page)
    assert page.locator(".totp-qr svg").count() == 1
    assert_fits(page)
    secret = page.input_value("#authenticator_secret")
    page.fill("#id_code", "000000" if _current_code(secret) != "000000" else "111111")
    submit(page)
    assert "Incorrect code" in page.locator("main").inner_text()
    page.fill("#id_code", _current_code(secret))
    submit(page)
    assert "/accounts/2fa/recovery-codes/" in page.url
    assert_fits(page)

    page.goto(f"{live_server.url}/proposals/")
    assert page.url == f"{live_server.url}/proposals/"
    assert page.get_by_test_id("home-title").inner_text() == "Witness desk"

    page.click("header .who button[type=submit]")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", "witness_dave")
    page.fill("#id_password", fixtures.PASSWORD)
    submit(page)
    assert "/accounts/2fa/authenticate/" in page.url  # the password alone is not enough
    time.sleep(max(0, 30 - time.time() % 30) + 0.5)  # allauth takes each code once
    page.fill("#id_code", _current_code(secret))
    submit(page)
    assert page.url == f"{live_server.url}/proposals/"


def test_a_user_resets_a_forgotten_password_through_the_mail(sized, live_server, mail_catcher):
    page = sized
    fixtures.make_user("user_carol", second_factor=False)
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Forgot your password?")
    page.fill("#id_email", "user_carol@example.org")
    submit(page)
    mail = mail_catcher.wait_for(to="user_carol@example.org", subject="Password Reset")
    page.goto(mail.link("/accounts/password/reset/key/"))
    page.fill("#id_password1", "a new and long passphrase 7")
    page.fill("#id_password2", "a new and long passphrase 7")
    submit(page)
    assert_fits(page)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", "user_carol")
    page.fill("#id_password", "a new and long passphrase 7")
    submit(page)
    assert page.url == f"{live_server.url}/account/"


def test_an_email_change_applies_only_once_the_new_address_is_verified(
    sized, live_server, mail_catcher
):
    page = sized
    # allauth refuses a new address to an account with a second factor while addresses are
    # verified by link (docs/accounts.md); this person has none.
    carol = fixtures.make_user("user_carol", second_factor=False)
    log_in(page, live_server, "user_carol")
    page.click("text=Account settings")
    assert_fits(page)
    new = fresh_email("carol")
    page.fill("#id_email", new)
    page.click("main form button[name=action_add]")
    page.wait_for_load_state()
    carol.refresh_from_db()
    assert carol.email == "user_carol@example.org"  # not before the new address is verified

    mail = mail_catcher.wait_for(to=new, subject="Please Confirm")
    page.goto(mail.link("/accounts/confirm-email/"))
    submit(page)
    carol.refresh_from_db()
    assert carol.email == new
    assert carol.emailaddress_set.get().email == new


def test_a_person_logs_out_their_other_sessions(sized, live_server):
    page = sized
    fixtures.make_user("user_carol", second_factor=False)
    other = Client()  # a second device
    login = {"login": "user_carol", "password": fixtures.PASSWORD}
    assert other.post(reverse("account_login"), login).status_code == 302
    assert other.get(reverse("account-home")).status_code == 200
    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/accounts/sessions/")
    assert page.locator("main tbody tr").count() == 2
    assert_fits(page)
    submit(page)  # "Sign Out Other Sessions"
    assert other.get(reverse("account-home")).status_code == 302
    page.goto(f"{live_server.url}/account/")
    assert page.url == f"{live_server.url}/account/"


def test_repeated_wrong_passwords_for_one_account_are_refused(sized, live_server):
    page = sized
    name = f"user_{secrets.token_hex(4)}"  # its counter in Redis is its own
    fixtures.make_user(name, second_factor=False)
    for _ in range(5):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_login", name)
        page.fill("#id_password", "wrong")
        submit(page)
        assert "not correct" in page.get_by_role("alert").inner_text()
    page.fill("#id_login", name)
    page.fill("#id_password", fixtures.PASSWORD)  # even the right password, now
    submit(page)
    assert "Too many failed login attempts" in page.get_by_role("alert").inner_text()
    assert "/accounts/login/" in page.url


def test_a_person_adds_a_security_key_and_logs_in_with_it(page, live_server, settings):
    """WebAuthn through Chromium's virtual authenticator (DevTools), under the portal's CSP."""
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # the live server speaks plain HTTP
    fixtures.make_witness("witness_dave", second_factor=False)
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    options = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": True,
               "hasUserVerification": True, "isUserVerified": True}  # fmt: skip
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    log_in(page, live_server, "witness_dave")
    page.goto(f"{live_server.url}/accounts/2fa/webauthn/add/")
    page.fill("#id_password", fixtures.PASSWORD)  # adding a factor asks for the password
    submit(page)
    page.fill("#id_name", "my key")
    page.click("#mfa_webauthn_add")
    page.wait_for_url("**/accounts/2fa/recovery-codes/**")
    page.goto(f"{live_server.url}/proposals/")
    assert page.url == f"{live_server.url}/proposals/"  # the key counts as a second factor

    page.click("header .who button[type=submit]")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", "witness_dave")
    page.fill("#id_password", fixtures.PASSWORD)
    submit(page)
    assert "/accounts/2fa/authenticate/" in page.url
    page.click("#mfa_webauthn_authenticate")
    page.wait_for_url(f"{live_server.url}/proposals/")


def test_a_user_without_a_second_factor_is_sent_to_enrol_before_withdrawing(sized, live_server):
    page = sized
    fixtures.make_user("user_erin", second_factor=False)
    log_in(page, live_server, "user_erin")
    page.goto(f"{live_server.url}/withdrawals/")
    notice = page.get_by_test_id("needs-second-factor")
    assert "Withdrawing needs a second factor" in notice.inner_text()
    assert_fits(page)
    notice.get_by_role("link").click()
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/accounts/2fa/"


def test_a_person_with_a_second_factor_is_told_they_cannot_change_their_address(
    page, live_server, mail_catcher
):
    carol = fixtures.make_user("user_carol")
    log_in(page, live_server, "user_carol")
    page.goto(f"{live_server.url}/accounts/email/")
    page.fill("#id_email", fresh_email("carol"))
    page.click("main form button[name=action_add]")
    page.wait_for_load_state()
    assert "protected by two-factor authentication" in page.locator("main").inner_text()
    carol.refresh_from_db()
    assert carol.email == "user_carol@example.org"
