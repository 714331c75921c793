"""Security headers on every kind of answer: pages, fragments, the API, errors."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests import fixtures

pytestmark = pytest.mark.django_db

CSP_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}


def directives(response) -> set[str]:
    return {d.strip() for d in response["Content-Security-Policy"].split(";")}


@pytest.mark.parametrize("path", ["/accounts/login/", "/rates/", "/api/v1/rates", "/no-such-page/"])
def test_it_sends_the_policies_on_every_answer(client, path):
    response = client.get(path)
    assert directives(response) >= CSP_DIRECTIVES
    assert "unsafe" not in response["Content-Security-Policy"]
    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_it_keeps_signed_in_pages_out_of_caches(client, user_carol):
    assert not no_store(client.get(reverse("rates-list")))
    client.force_login(user_carol)
    for name in ("account-home", "rates-list", "mappings-home", "sidechains-deposits"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert no_store(response), name
        assert "private" in response["Cache-Control"]


def test_it_keeps_authenticated_api_answers_out_of_caches(son_1, user_carol):
    son, token = son_1
    assert not no_store(APIClient().get(reverse("api-rates")))
    signer = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    assert no_store(signer.get(reverse("api-son-me")))
    # A bad token too: the answer is about credentials.
    assert no_store(APIClient(HTTP_AUTHORIZATION="Token nope").get(reverse("api-son-me")))
    session = APIClient()
    session.force_login(user_carol)
    assert no_store(session.get(reverse("api-withdrawals")))


def test_it_speaks_json_only_without_debug(client, user_carol):
    client.force_login(user_carol)
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get(reverse("api-rates"), HTTP_ACCEPT=browser_accept)
    assert response["Content-Type"] == "application/json"
    assert client.get(reverse("api-rates"), HTTP_ACCEPT="text/html").status_code == 406


def test_the_csrf_and_session_cookies_are_http_only_and_same_site(client):
    fixtures.make_user("user_carol", second_factor=False)
    response = client.post(
        reverse("account_login"), {"login": "user_carol", "password": fixtures.PASSWORD}
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
