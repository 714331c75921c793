"""Transfers through the API, as on the pages: prepare returns the exact message, the sender's
signature moves the tokens once; a replay, a wrong key, bad terms and another user's transfer
are refused with nothing moved."""

import pytest
from django.urls import reverse

from ledger.services import balances_of
from solvency.models import Transfer
from tests import fixtures
from tests.solvency.test_transfers import _sign, carol_and_dave

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]
__all__ = ["carol_and_dave"]


def _prepare(client, **terms):
    body = {"receiver": "user_dave", "asset": "pBTC", "amount": "0.002"} | terms
    return client.post(reverse("api-transfers"), body, content_type="application/json")


def test_prepare_sign_and_send(client, carol_and_dave):
    carol, dave, key = carol_and_dave
    client.force_login(carol)
    prepared = _prepare(client)
    assert prepared.status_code == 201, prepared.content
    body = prepared.json()
    assert body["status"] == "prepared" and body["amount"] == 200_000
    assert body["message"] == Transfer.objects.get(pk=body["id"]).message
    assert balances_of(dave)["pBTC"] == 0

    url = reverse("api-transfer-sign", args=[body["id"]])
    signature = {"signature": _sign(key, body["message"])}
    done = client.post(url, signature, content_type="application/json")
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "done"
    assert (balances_of(carol)["pBTC"], balances_of(dave)["pBTC"]) == (300_000, 200_000)

    again = client.post(url, signature, content_type="application/json")
    assert (again.status_code, again.json()["code"]) == (400, "replayed")
    assert balances_of(dave)["pBTC"] == 200_000
    listed = client.get(reverse("api-transfers")).json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert client.get(reverse("api-transfer", args=[body["id"]])).json()["status"] == "done"


def test_a_signature_by_another_key_moves_nothing(client, carol_and_dave):
    carol, dave, _ = carol_and_dave
    client.force_login(carol)
    body = _prepare(client).json()
    from tests.solvency.test_transfers import _registered

    other = _registered(fixtures.make_user("user_erin"))
    url = reverse("api-transfer-sign", args=[body["id"]])
    refused = client.post(
        url, {"signature": _sign(other, body["message"])}, content_type="application/json"
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "wrong_key")
    assert balances_of(dave)["pBTC"] == 0


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"amount": "1e3"}, "amount"),
        ({"amount": "6"}, "non_field_errors"),  # over the balance
        ({"receiver": "user_carol"}, "receiver"),
        ({"receiver": "nobody"}, "receiver"),
        ({"asset": "BTC"}, "asset"),
    ],
)
def test_bad_terms_are_refused_and_nothing_is_kept(client, carol_and_dave, terms, field):
    carol, _, _ = carol_and_dave
    client.force_login(carol)
    response = _prepare(client, **terms)
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Transfer.objects.exists()


def test_another_users_transfer_does_not_exist_for_them(client, carol_and_dave):
    carol, dave, key = carol_and_dave
    client.force_login(carol)
    body = _prepare(client).json()
    client.force_login(dave)
    url = reverse("api-transfer-sign", args=[body["id"]])
    stolen = client.post(
        url, {"signature": _sign(key, body["message"])}, content_type="application/json"
    )
    assert stolen.status_code == 404
    assert client.get(reverse("api-transfer", args=[body["id"]])).status_code == 404
    assert client.get(reverse("api-transfers")).json() == []
    assert balances_of(dave)["pBTC"] == 0
