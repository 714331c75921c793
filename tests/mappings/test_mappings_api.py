import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from mappings.models import SidechainAddress
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}")[0] for i in (1, 2, 3)]


@pytest.fixture
def api(user_carol):
    client = APIClient()
    client.force_login(user_carol)
    return client


def bitcoin_body(**extra):
    return {
        "sidechain": "bitcoin",
        "deposit_public_key": helpers.pubkey_hex(),
        "withdraw_address": helpers.regtest_p2wpkh(),
        **extra,
    }


def test_it_creates_and_lists_own_mappings(federation, api):
    response = api.post(reverse("api-mappings"), bitcoin_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["deposit_address"].startswith("bcrt1q")
    assert body["active"] is True
    assert bytes.fromhex(body["deposit_witness_script"])
    listed = api.get(reverse("api-mappings")).json()
    assert [m["id"] for m in listed] == [body["id"]]


def test_it_replays_a_request_id(federation, api):
    body = bitcoin_body(request_id="r-1")
    first = api.post(reverse("api-mappings"), body, format="json")
    again = api.post(reverse("api-mappings"), body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_it_changes_a_deposit_key_into_a_new_row(federation, api):
    body = bitcoin_body()
    old = api.post(reverse("api-mappings"), body, format="json").json()
    url = reverse("api-mapping", args=[old["id"]])
    new = api.put(url, body | {"deposit_public_key": helpers.pubkey_hex()}, format="json")
    assert new.status_code == 200, new.content
    assert new.json()["id"] != old["id"]
    assert api.get(url).json()["active"] is False


def test_it_leaves_changing_the_withdraw_address_to_the_page(federation, api):
    """A new destination needs the second factor and a mailed confirmation (the page)."""
    old = api.post(reverse("api-mappings"), bitcoin_body(), format="json").json()
    url = reverse("api-mapping", args=[old["id"]])
    for call in (api.put, lambda u, b, **kw: api.post(reverse("api-mappings"), b, **kw)):
        refused = call(url, bitcoin_body(), format="json")
        assert refused.status_code == 400
        assert "Addresses page" in refused.json()["withdraw_address"][0]
    assert SidechainAddress.objects.count() == 1


def test_it_deletes_by_expiring(federation, api):
    old = api.post(reverse("api-mappings"), bitcoin_body(), format="json").json()
    gone = api.delete(reverse("api-mapping", args=[old["id"]]))
    assert gone.status_code == 200
    assert gone.json()["expires"] is not None
    assert SidechainAddress.objects.filter(pk=old["id"]).exists()


def test_it_hides_another_users_mapping(federation, api):
    erin = APIClient()
    erin.force_login(fixtures.make_user("user_erin"))
    theirs = erin.post(reverse("api-mappings"), bitcoin_body(), format="json").json()
    url = reverse("api-mapping", args=[theirs["id"]])
    for response in (
        api.get(url),
        api.put(url, bitcoin_body(), format="json"),
        api.delete(url),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "You have no mapping with this id."
    mapping = SidechainAddress.objects.get(pk=theirs["id"])
    assert mapping.expires is None
    assert SidechainAddress.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"sidechain": "bitcoin", "withdraw_address": "x"}, "deposit_public_key", "required"),
        ({"sidechain": "hive"}, "hive_account", "required"),
        ({"sidechain": "doge"}, "sidechain", "not a valid choice"),
        (
            {"sidechain": "hive", "hive_account": "alice", "withdraw_address": "x"},
            "withdraw_address",
            "does not belong",
        ),
        ({"sidechain": "hive", "hive_account": "Al"}, "hive_account", ""),
        (
            {"sidechain": "bitcoin", "deposit_public_key": "04" + "11" * 64},
            "deposit_public_key",
            "compressed",
        ),
    ],
)
def test_it_answers_400_with_the_field_at_fault(federation, api, body, field, message):
    if body.get("deposit_public_key", "").startswith("04"):
        body["withdraw_address"] = helpers.regtest_p2wpkh()
    response = api.post(reverse("api-mappings"), body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert SidechainAddress.objects.count() == 0


def test_it_refuses_anonymous_callers(federation):
    response = APIClient().post(reverse("api-mappings"), bitcoin_body(), format="json")
    assert response.status_code == 403
    assert SidechainAddress.objects.count() == 0
