"""The API refuses request bodies over API_MAX_BODY_BYTES, and bodies of unknown length, before
anything reads them (sonportal/middleware.py)."""

import contextlib
import http.client
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from rates.models import ExchangeRate

pytestmark = pytest.mark.django_db

URLS = ["api-son-heartbeat", "api-rates", "api-withdrawals", "api-mappings"]


@pytest.mark.parametrize("name", URLS)
def test_it_refuses_a_body_over_the_limit_without_parsing_it(client, settings, name):
    body = b"{not json" + b" " * settings.API_MAX_BODY_BYTES  # a parser would answer 400

    response = client.generic("POST", reverse(name), body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request body is over {settings.API_MAX_BODY_BYTES} bytes.",
        "code": "body_too_large",
    }


def test_it_goes_by_the_declared_length(client, settings):
    declared = str(settings.API_MAX_BODY_BYTES + 1)
    response = client.generic(
        "POST",
        reverse("api-rates"),
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH=declared,
    )
    assert response.status_code == 413


def test_it_takes_a_body_at_the_limit(client, admin_user, settings):
    settings.API_MAX_BODY_BYTES = 200
    client.force_login(admin_user)
    body = b'{"pair": "BTC/pBTC", "rate": "0.5", "request_id": "at-the-limit"}'
    body += b" " * (200 - len(body))

    response = client.generic("POST", reverse("api-rates"), body, content_type="application/json")

    assert response.status_code == 201
    assert ExchangeRate.objects.filter(request_id="at-the-limit").exists()


@pytest.mark.parametrize("length", ["ten", "-1", "1e3", "١٢"])
def test_it_refuses_a_content_length_that_is_no_number(client, length):
    response = client.generic(
        "POST", reverse("api-rates"), b"{}", content_type="application/json", CONTENT_LENGTH=length
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_content_length"


def test_it_leaves_pages_outside_the_api_alone(client, settings):
    settings.API_MAX_BODY_BYTES = 10
    response = client.post(reverse("account_login"), {"login": "nobody", "password": "x" * 50})
    assert response.status_code == 200  # the login form, with its error


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_chunked_body_whose_length_is_unknown(live_server):
    url = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        # The server may answer and close before the last chunk: its answer is read anyway.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(
                "POST",
                reverse("api-rates"),
                body=iter([b'{"pair": "BTC/pBTC", ', b'"rate": "0.5"}']),
                headers={"Content-Type": "application/json", "Connection": "close"},
                encode_chunked=True,
            )
        response = connection.getresponse()
        assert response.status == 411
        assert b'"code": "length_required"' in response.read()
    finally:
        connection.close()
    assert not ExchangeRate.objects.filter(rate="0.5").exists()
