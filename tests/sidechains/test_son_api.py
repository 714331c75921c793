import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from sidechains import services
from sidechains.models import SON
from tests import fixtures

pytestmark = pytest.mark.django_db


def signer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_it_records_a_heartbeat(son_1):
    son, token = son_1
    response = signer_client(token).post(reverse("api-son-heartbeat"))
    assert response.status_code == 200, response.content
    son.refresh_from_db()
    assert son.last_heartbeat_at is not None
    assert response.json()["son"] == son.pk
    assert response.json()["status"] == "active"


def test_it_stores_only_the_hash_of_a_token(son_1):
    son, token = son_1
    son.refresh_from_db()
    assert token not in son.token_hash
    assert SON.objects.filter(token_hash=token).count() == 0
    assert len(token) >= 40


@pytest.mark.parametrize("header", ["Token nope", "Token", "Token a b", "Bearer x"])
def test_it_rejects_bad_tokens(son_1, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(reverse("api-son-heartbeat"))
    assert response.status_code in (401, 403)
    son_1[0].refresh_from_db()
    assert son_1[0].last_heartbeat_at is None


def test_it_retires_the_old_token_when_issuing_a_new_one(son_1):
    son, old = son_1
    new = services.son_issue_token(son=son)
    assert signer_client(old).post(reverse("api-son-heartbeat")).status_code == 401
    assert signer_client(new).post(reverse("api-son-heartbeat")).status_code == 200


def test_it_refuses_a_deregistered_son(son_1):
    son, token = son_1
    SON.objects.filter(pk=son.pk).update(status=SON.Status.DEREGISTERED)
    response = signer_client(token).post(reverse("api-son-heartbeat"))
    assert response.status_code == 401
    assert "deregistered" in response.json()["detail"]


def test_it_refuses_a_signed_in_person_without_a_son_token(son_1):
    son, _ = son_1
    client = APIClient()
    client.force_login(son.owner)
    # The signer API authenticates SON tokens only: a browser session is not a SON.
    assert client.post(reverse("api-son-heartbeat")).status_code == 401
    assert client.get(reverse("api-son-signing-requests")).status_code == 401
    son.refresh_from_db()
    assert son.last_heartbeat_at is None


def test_it_lists_signing_requests_for_a_son(son_1):
    _, token = son_1
    response = signer_client(token).get(reverse("api-son-signing-requests"))
    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_it_issues_a_token_from_the_command_line(son_1, capsys):
    from django.core.management import call_command

    son, old = son_1
    call_command("son_token", son.name)
    new = capsys.readouterr().out.strip()
    assert new and new != old
    assert signer_client(new).post(reverse("api-son-heartbeat")).status_code == 200


def test_it_shows_a_new_token_once_from_the_admin(son_1, admin_user, client):
    son, old = son_1
    client.force_login(admin_user)
    url = reverse("admin:sidechains_son_changelist")
    response = client.post(url, {"action": "issue_token", "_selected_action": [son.pk]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = response.context["tokens"][0][1]
    assert new.encode() in response.content
    assert signer_client(old).post(reverse("api-son-heartbeat")).status_code == 401
    assert signer_client(new).post(reverse("api-son-heartbeat")).status_code == 200


def test_it_keeps_public_keys_unique_per_chain(son_1):
    from django.db import IntegrityError

    son, _ = son_1
    other, _ = fixtures.make_son("son-2")
    key = son.public_keys.get(sidechain="bitcoin")
    with pytest.raises(IntegrityError):
        other.public_keys.filter(sidechain="bitcoin").update(public_key=key.public_key)
