"""API write throttles on the real Redis: per user, per SON, per client address."""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from sonportal.throttling import AnonWriteThrottle
from tests import fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    """Low rates, and a key space of this test's own in Redis."""
    settings.CACHES = {
        "default": settings.CACHES["default"] | {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }

    def set_rates(**rates: str) -> None:
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
            "DEFAULT_THROTTLE_RATES": current | rates
        }

    return set_rates


def post_mapping(api: APIClient):
    return api.post(reverse("api-mappings"), {}, format="json")


def test_it_throttles_a_users_writes_and_not_their_reads(rates, user_carol):
    rates(user_write="3/minute")
    api = APIClient()
    api.force_login(user_carol)
    assert [post_mapping(api).status_code for _ in range(3)] == [400, 400, 400]
    throttled = post_mapping(api)
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json()["detail"].startswith("Request was throttled")
    assert api.get(reverse("api-mappings")).status_code == 200  # reads are free
    erin = APIClient()
    erin.force_login(fixtures.make_user("user_erin"))
    assert post_mapping(erin).status_code == 400  # per user


def test_it_gives_signers_their_own_scope(rates, son_1):
    son, token = son_1
    rates(signer="4/minute", user_write="1/minute")
    signer = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    heartbeat = reverse("api-son-heartbeat")
    body = fixtures.heartbeat_body(son)
    # Counted per SON, not as its operator's user writes (1/minute would stop the second).
    assert signer.post(heartbeat, body, format="json").status_code == 200
    codes = [signer.post(heartbeat, {}, format="json").status_code for _ in range(3)]
    assert codes == [400, 400, 400]
    assert signer.post(heartbeat, {}, format="json").status_code == 429
    assert signer.get(reverse("api-son-signing-requests")).status_code == 200
    operator = APIClient()
    operator.force_login(son.owner)
    assert post_mapping(operator).status_code == 400


def anonymous_post(remote_addr: str, forwarded_for: str | None = None) -> Request:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    request = Request(APIRequestFactory().post("/api/v1/rates", {}, **extra))
    request.user = AnonymousUser()
    return request


def test_it_throttles_anonymous_writes_per_connection_address(rates):
    # No endpoint takes anonymous writes yet (permissions refuse them first), so the throttle
    # is asked directly, as DRF asks it.
    rates(anon_write="2/minute")

    def allowed(request: Request) -> bool:
        return AnonWriteThrottle().allow_request(request, None)

    # A client's own X-Forwarded-For does not give it a fresh counter (NUM_PROXIES is 0).
    assert allowed(anonymous_post("192.0.2.1", "198.51.100.1"))
    assert allowed(anonymous_post("192.0.2.1", "198.51.100.2"))
    assert not allowed(anonymous_post("192.0.2.1", "198.51.100.3"))
    assert allowed(anonymous_post("192.0.2.2"))


def test_it_keys_on_the_address_the_proxy_saw(rates, settings):
    rates(anon_write="1/minute")
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {"NUM_PROXIES": 1}

    def allowed(request: Request) -> bool:
        return AnonWriteThrottle().allow_request(request, None)

    assert allowed(anonymous_post("10.0.0.1", "forged, 203.0.113.5"))
    assert not allowed(anonymous_post("10.0.0.1", "other, 203.0.113.5"))
    assert allowed(anonymous_post("10.0.0.1", "203.0.113.6"))
