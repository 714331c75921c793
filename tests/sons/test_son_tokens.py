"""The operator rotates their SON's API token on the SON's page: shown once, stored as a hash,
audited."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditRecord
from sons.models import SON, hash_token
from sons.views import ROUTINE_ROTATION
from tests import fixtures

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def token_url(son: SON) -> str:
    return reverse("sons-token", args=[son.name])


def works(token: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get(reverse("api-son-me")).status_code == 200


def audits(son: SON):
    return AuditRecord.objects.for_target(f"son:{son.pk}").filter(details__via="operator")


def test_the_operator_rotates_the_token_and_sees_it_once(client, son_1):
    son, old = son_1
    client.force_login(son.owner)

    response = client.post(token_url(son), {"reason": "moved the signer to a new host"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = response.context["new_token"]
    assert f'data-testid="new-token">{new}<' in response.content.decode()
    assert (works(old), works(new)) == (False, True)
    son.refresh_from_db()
    assert son.token_hash == hash_token(new)
    [record] = audits(son)
    assert (record.actor, record.action, record.reason) == (
        son.owner,
        "son.token_issued",
        "moved the signer to a new host",
    )
    assert new not in str(record.details)
    assert new not in client.get(son.get_absolute_url()).content.decode()  # never again


def test_a_rotation_without_a_reason_is_recorded_as_routine(client, son_1):
    son, _ = son_1
    client.force_login(son.owner)
    client.post(token_url(son), {"reason": ""})
    assert audits(son).get().reason == ROUTINE_ROTATION


def test_an_htmx_rotation_returns_the_token_card(client, son_1):
    son, _ = son_1
    client.force_login(son.owner)

    response = client.post(token_url(son), {"reason": ""}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="son-token"')
    assert "<html" not in html
    assert works(html.split('data-testid="new-token">')[1].split("<")[0])


def test_a_too_long_reason_changes_nothing(client, son_1):
    son, token = son_1
    client.force_login(son.owner)

    response = client.post(token_url(son), {"reason": "x" * 201})

    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    assert works(token) and not audits(son).exists()


def test_a_deregistered_son_gets_no_new_token(client, son_1):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(status=SON.Status.DEREGISTERED)
    client.force_login(son.owner)

    response = client.post(token_url(son), {"reason": ""})

    assert response.status_code == 400
    assert "deregistered" in response.context["token_error"]
    son.refresh_from_db()
    assert son.token_hash == hash_token(token) and not audits(son).exists()


@pytest.mark.parametrize(
    ("who", "status"), [("other", 404), ("administrator", 403), ("anonymous", 302)]
)
def test_only_the_operator_rotates_the_token(client, son_1, admin_user, who, status):
    son, token = son_1
    if who == "other":
        client.force_login(fixtures.make_user("user_dave"))
    if who == "administrator":  # sees the page (view_son) but issues tokens in the admin
        client.force_login(admin_user)
        assert client.get(son.get_absolute_url()).status_code == 200
        assert "rotate-token" not in client.get(son.get_absolute_url()).content.decode()

    assert client.post(token_url(son), {"reason": ""}).status_code == status
    assert works(token) and not audits(son).exists()


def test_rotation_takes_a_post_only(client, son_1):
    son, token = son_1
    client.force_login(son.owner)
    assert client.get(token_url(son)).status_code == 405
    assert works(token)


def test_the_son_page_tells_the_operator_when_the_token_expires(client, son_1, settings):
    son, _ = son_1
    settings.SON_TOKEN_LIFETIME = 30 * 86400
    SON.objects.filter(pk=son.pk).update(token_created_at=T0)
    client.force_login(son.owner)

    with time_machine.travel(T0 + timedelta(days=20), tick=False):
        soon = client.get(son.get_absolute_url()).content.decode()
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        late = client.get(son.get_absolute_url()).content.decode()

    expires = soon.split('data-testid="token-expires">')[1].split("</dd>")[0]
    assert "(in 1" in expires and "expired" not in expires
    assert "expired" in late.split('data-testid="token-expires">')[1].split("</dd>")[0]
