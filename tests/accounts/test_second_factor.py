"""Privileged roles act only with a second factor; the admin's login form cannot skip it; the
login throttle per client address."""

import secrets
import uuid

import pytest
from django.urls import reverse

from sidechains.models import Withdrawal
from tests import fixtures

pytestmark = pytest.mark.django_db

MFA = reverse("mfa_index")


@pytest.mark.parametrize(
    "make",
    [
        lambda: fixtures.make_witness("witness_dave", second_factor=False).user,
        lambda: (
            fixtures.make_son("son-9", owner=fixtures.make_user("operator_9", second_factor=False))[
                0
            ].owner
        ),
        lambda: fixtures.make_user("root", staff=True, second_factor=False),
    ],
    ids=["witness", "son-operator", "staff"],
)
def test_a_privileged_person_without_a_second_factor_can_only_enrol(client, make):
    person = make()
    client.force_login(person)
    for path in ("/", "/proposals/", "/son/", "/admin/", "/account/", "/withdrawals/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, MFA), path
    refused = client.get(reverse("api-withdrawals"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "second_factor_required"
    assert client.get(MFA).status_code == 200  # the way out: enrolling
    assert client.get(reverse("account_email")).status_code == 200

    fixtures.enrol_totp(person)
    assert client.get("/account/").status_code == 200


def test_a_user_needs_no_second_factor_to_use_the_portal(client, user_carol):
    client.force_login(user_carol)
    assert client.get(reverse("account-home")).status_code == 200
    assert client.get(reverse("sidechains-deposits")).status_code == 200


def test_the_admin_login_form_sends_people_to_the_portals_login(client, admin_user):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    posted = client.post("/admin/login/", {"username": "admin", "password": fixtures.PASSWORD})
    assert posted.status_code == 302 and "_auth_user_id" not in client.session


def test_a_password_alone_does_not_log_a_person_with_a_factor_in(client, admin_user):
    login = {"login": "admin", "password": fixtures.PASSWORD}
    response = client.post(reverse("account_login"), login)
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    code = client.post(reverse("mfa_authenticate"), {"code": fixtures.totp_code(admin_user)})
    assert code.status_code == 302
    assert client.session["_auth_user_id"] == str(admin_user.pk)


def test_wrong_passwords_from_one_address_are_refused_after_the_limit(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "3/m/ip"}
    # An address of its own (documentation range): the counters in Redis outlive the test.
    address = "2001:db8::" + ":".join(secrets.token_hex(2) for _ in range(4))
    for i in range(3):
        wrong = {"login": f"nobody_{i}_{secrets.token_hex(3)}", "password": "wrong"}
        answer = client.post(reverse("account_login"), wrong, REMOTE_ADDR=address)
        assert b"not correct" in answer.content
    fixtures.make_user("user_carol", second_factor=False)
    right = {"login": "user_carol", "password": fixtures.PASSWORD}
    refused = client.post(reverse("account_login"), right, REMOTE_ADDR=address)
    assert b"Too many failed login attempts" in refused.content
    assert "_auth_user_id" not in client.session


def test_withdrawing_needs_a_second_factor(client, settings):
    """The page explains it and refuses the confirmation; the API refuses with a 400."""
    erin = fixtures.make_user("user_erin", second_factor=False)
    client.force_login(erin)
    page = client.get(reverse("sidechains-withdrawals"))
    assert 'data-testid="needs-second-factor"' in page.content.decode()
    # The withdrawal service itself refuses, before it even reads the quote.
    confirm = {
        "amount": "0.0002",
        "step": "confirm",
        "request_id": str(uuid.uuid4()),
        "quote": "never-read",
    }
    refused = client.post(reverse("sidechains-withdrawals"), confirm)
    assert refused.status_code == 400
    assert "Withdrawing needs a second factor" in refused.content.decode()
    body = {"amount": "0.0002", "request_id": "w-1"}
    api = client.post(reverse("api-withdrawals"), body, content_type="application/json")
    assert api.status_code == 400
    assert "second factor" in api.json()["non_field_errors"][0]
    assert not Withdrawal.objects.exists()
