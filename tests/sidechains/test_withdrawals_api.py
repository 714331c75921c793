"""The signer-facing signing API: answers verified, stored once, refusals kept."""

import pytest
from django.urls import reverse

from sidechains.bitcoin.withdrawals import withdrawal_request, withdrawals_batch
from sidechains.models import Coin, SignerRefusal, TxSignature
from signer.bitcoin import parse_tx, sign, signature_hash
from tests import fixtures
from tests.sidechains.deposit_helpers import made_up_tx, make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


@pytest.fixture
def batch(federation, user_carol, bitcoin, settings):
    """A batched withdrawal spending one (made-up) deposit coin of carol's script."""
    settings.BITCOIN_RPC_URL = "http://127.0.0.1:9/"  # never sends: these tests are about intake
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    txid, prev_tx = made_up_tx(bytes(mapping.deposit_script_pubkey), 3_000_000, vout=1)
    Coin.objects.create(
        txid=txid,
        vout=1,
        amount=3_000_000,
        witness_script=bytes(mapping.deposit_witness_script),
        prev_tx=prev_tx,
        kind=Coin.Kind.DEPOSIT,
    )
    credit(user_carol, 1_000_000)
    withdrawal_request(user=user_carol, amount_pegged=400_000, request_id="w1")
    return withdrawals_batch(rpc=bitcoin), mapping


@pytest.fixture
def signers(federation, batch, tmp_path):
    return make_signers(tmp_path, federation, batch[1].deposit_timelock)


def test_it_lists_the_request_in_the_signers_format(batch, signers):
    stx, mapping = batch
    [request] = signers[0].pending()

    assert set(request) == {
        "id",
        "version",
        "chain",
        "network",
        "tx",
        "inputs",
        "prev_txs",
        "withdrawals",
        "fee_bump_of",
    }
    assert (request["id"], request["version"]) == (str(stx.pk), 2)
    coin = Coin.objects.get()
    assert request["inputs"] == [
        {
            "txid": coin.txid,
            "vout": 1,
            "witness_script": bytes(mapping.deposit_witness_script).hex(),
        }
    ]
    assert request["prev_txs"] == {coin.txid: bytes(coin.prev_tx).hex()}  # no amount on trust
    assert signers[0].answer(request)["signatures"]  # the real signer accepts it


def test_it_stores_a_repeated_answer_once(batch, signers):
    [request] = signers[0].pending()
    answer = signers[0].answer(request)

    first = signers[0].post(request["id"], answer)
    again = signers[0].post(request["id"], answer)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"accepted": 1, "complete": False}
    assert TxSignature.objects.count() == 1
    assert signers[0].pending() == []  # signed: not offered again


def test_it_rejects_a_signature_by_another_sons_key(batch, signers):
    [request] = signers[0].pending()
    answer = signers[1].answer(request)  # son-2's signature, posted by son-1

    response = signers[0].post(request["id"], answer)

    assert response.status_code == 400
    assert "not son-1's registered key" in response.json()["detail"]
    assert not TxSignature.objects.exists()


def test_it_rejects_a_signature_over_the_wrong_digest(batch, signers):
    [request] = signers[0].pending()
    answer = signers[0].answer(request)
    tx, script = (
        parse_tx(bytes.fromhex(request["tx"])),
        bytes.fromhex(request["inputs"][0]["witness_script"]),
    )
    digest = signature_hash(tx, 0, script, 2_999_999)  # another amount than the coin's
    answer["signatures"][0]["signature"] = sign(digest, signers[0].config.private_key).hex()

    response = signers[0].post(request["id"], answer)

    assert response.status_code == 400
    assert response.json()["detail"] == "The signature of input 0 does not verify."
    assert not TxSignature.objects.exists()


def test_it_rejects_an_unknown_input(batch, signers):
    [request] = signers[0].pending()
    answer = signers[0].answer(request)
    answer["signatures"][0]["input"] = 5

    response = signers[0].post(request["id"], answer)

    assert response.status_code == 400
    assert "has no input 5" in response.json()["detail"]


def test_it_stores_a_refusal_and_offers_the_request_no_more(batch, signers, admin_user, client):
    stx, _ = batch
    refusal = {"request_id": str(stx.pk), "refused": True, "reasons": ["FEE_TOO_HIGH"]}

    response = signers[2].post(str(stx.pk), refusal)

    assert response.json() == {"accepted": 0, "complete": False}
    assert SignerRefusal.objects.get().reasons == ["FEE_TOO_HIGH"]
    assert signers[2].pending() == []
    client.force_login(admin_user)
    page = client.get(reverse("admin:sidechains_sidechaintransaction_change", args=[stx.pk]))
    assert "FEE_TOO_HIGH" in page.content.decode()


def test_it_answers_404_for_an_unknown_request(batch, signers):
    response = signers[0].post("999999", {"request_id": "999999", "signatures": []})

    assert response.status_code == 404


def test_it_refuses_anonymous_answers(batch, client):
    stx, _ = batch
    url = reverse("api-son-signing-answer", args=[stx.pk])

    assert client.post(url, {}, content_type="application/json").status_code in (401, 403)
