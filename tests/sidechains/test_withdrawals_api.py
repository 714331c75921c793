"""The signer-facing signing API: answers verified, stored once, refusals kept."""

import threading
import time

import pytest
from bitcoin.core import CTransaction, b2lx
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from chains.bitcoin.addresses import validate_address
from sidechains.bitcoin.withdrawals import errors, signatures
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.models import Coin, SidechainTransaction, SignerRefusal, TxSignature
from signer.bitcoin import parse_tx, sign, signature_hash
from sons.models import SON
from tests import fixtures
from tests.sidechains.deposit_helpers import MINER, make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


@pytest.fixture
def batch(federation, user_carol, chain, settings):
    """A batched withdrawal spending one deposit coin of carol's script (output 1 of a
    transaction mined on the module's node: coin selection asks the node)."""
    settings.BITCOIN_RPC_URL = "http://127.0.0.1:9/"  # never sends: these tests are about intake
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    miner = validate_address(MINER, "regtest").script_pubkey
    tx = chain.send([(miner, 10_000), (bytes(mapping.deposit_script_pubkey), 3_000_000)])
    chain.mine(1)
    txid = b2lx(tx.GetTxid())
    prev_tx = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
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
    return withdrawals_batch(rpc=chain.rpc), mapping


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
    refusal = {"request_id": "999999", "refused": True, "reasons": ["MALFORMED"]}
    response = signers[0].post("999999", refusal)

    assert response.status_code == 404
    assert not SignerRefusal.objects.exists()


def test_it_stores_a_repeated_refusal_once(batch, signers):
    stx, _ = batch
    refusal = {"request_id": str(stx.pk), "refused": True, "reasons": ["FEE_TOO_HIGH"]}

    first, again = signers[2].post(str(stx.pk), refusal), signers[2].post(str(stx.pk), refusal)

    assert first.status_code == again.status_code == 200
    assert SignerRefusal.objects.count() == 1


# Answers only while the transaction awaits signatures


CLOSED = [
    {"status": SidechainTransaction.Status.BROADCAST},
    {"status": SidechainTransaction.Status.CONFIRMED},
    {"status": SidechainTransaction.Status.FAILED},
    {"status": SidechainTransaction.Status.REPLACED},
    {"signed_tx": b"finished, not yet sent"},
]


@pytest.mark.parametrize("change", CLOSED, ids=lambda c: str(c.get("status", "signed")))
def test_it_takes_no_answer_for_a_transaction_that_no_longer_awaits_signatures(
    batch, signers, change
):
    stx, _ = batch
    [request] = signers[0].pending()
    signed = signers[0].answer(request)
    SidechainTransaction.objects.filter(pk=stx.pk).update(**change)
    refusal = {"request_id": str(stx.pk), "refused": True, "reasons": ["FEE_TOO_HIGH"]}

    for answer in (signed, refusal):
        response = signers[0].post(request["id"], answer)
        assert response.status_code == 404  # gone from the signer's list: skipped, no error
        assert response.json()["code"] == "closed"
        assert "takes no more answers" in response.json()["detail"]
    assert not TxSignature.objects.exists() and not SignerRefusal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_answer_waits_for_a_concurrent_change_and_then_sees_it(batch, signers):
    """The answer locks the transaction's row: one that arrives while another worker is
    finishing the transaction waits, and then finds it closed instead of adding to it."""
    stx, _ = batch
    [request] = signers[0].pending()
    answer = signers[0].answer(request)
    locked, outcome = threading.Event(), []

    def finish():
        with transaction.atomic():
            SidechainTransaction.objects.select_for_update().get(pk=stx.pk)
            locked.set()
            time.sleep(0.5)  # the answer arrives now, and must wait
            SidechainTransaction.objects.filter(pk=stx.pk).update(
                status=SidechainTransaction.Status.BROADCAST
            )
        connection.close()

    def submit():
        locked.wait()
        try:
            son = SON.objects.get(pk=signers[0].son.pk)
            signatures.signatures_submit(son=son, sidechain_tx_id=stx.pk, answer=answer)
            outcome.append("stored")
        except errors.SidechainTxClosed:
            outcome.append("closed")
        finally:
            connection.close()

    threads = [threading.Thread(target=finish), threading.Thread(target=submit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome == ["closed"]
    assert not TxSignature.objects.exists()


# Bounded answers


@pytest.mark.parametrize(
    ("answer", "where"),
    [
        ({"refused": True, "reasons": ["FEE_TOO_HIGH"], "note": "hi"}, "Only these keys"),
        ({"refused": True, "reasons": ["fee too high"]}, "reasons.0"),
        ({"refused": True, "reasons": ["A" * 33]}, "reasons.0"),
        ({"refused": True, "reasons": ["FEE_TOO_HIGH"] * 33}, "reasons"),
        ({"refused": True, "reasons": []}, "reasons"),
        ({"refused": True}, "either signatures"),
        ({"refused": "yes", "reasons": ["X"]}, "refused"),
        ({"refused": False, "signatures": "SIG"}, "signatures"),
        ({"request_id": "x" * 129, "refused": True, "reasons": ["X"]}, "request_id"),
        ({"signatures": []}, "signatures"),
        ({"signatures": [{"input": "0", "pubkey": "02" + "a" * 64, "signature": "30" * 9}]}, ""),
        ({"signatures": [{"input": 0, "pubkey": "02" + "A" * 64, "signature": "30" * 9}]}, ""),
        ({"signatures": [{"input": 0, "pubkey": "02" + "a" * 64, "signature": "3" * 19}]}, ""),
        ({"signatures": [{"input": 0, "pubkey": "02" + "a" * 64, "signature": "30" * 74}]}, ""),
    ],
)
def test_it_refuses_a_malformed_answer_and_stores_nothing(batch, signers, answer, where):
    stx, _ = batch

    response = signers[0].post(str(stx.pk), answer)

    assert response.status_code == 400
    assert response.json()["code"] == "malformed"
    assert where in response.json()["detail"]
    assert not TxSignature.objects.exists() and not SignerRefusal.objects.exists()


def test_it_refuses_a_1_mb_refusal_reason_before_reading_it(batch, signers, caplog):
    stx, _ = batch
    reason = "A" * 1_000_000

    response = signers[0].post(str(stx.pk), {"refused": True, "reasons": [reason]})

    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert not SignerRefusal.objects.exists()
    assert "AAAAAAAAAA" not in caplog.text


def test_it_neither_stores_nor_logs_nor_echoes_a_long_reason_under_the_body_limit(
    batch, signers, caplog
):
    stx, _ = batch
    reason = "A" * 100_000

    response = signers[0].post(str(stx.pk), {"refused": True, "reasons": [reason]})

    assert response.status_code == 400
    assert "AAAAAAAAAA" not in response.content.decode()
    assert not SignerRefusal.objects.exists()
    assert "AAAAAAAAAA" not in caplog.text


def test_a_son_outside_the_federation_sees_no_pending_withdrawal(batch, federation):
    son, token = federation[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(reverse("api-son-signing-requests")).json()["results"]  # in it: listed

    SON.objects.filter(pk=son.pk).update(status=SON.Status.INACTIVE)
    response = client.get(reverse("api-son-signing-requests"))

    assert response.status_code == 401
    assert "address" not in response.content.decode()


def test_it_refuses_anonymous_answers(batch, client):
    stx, _ = batch
    url = reverse("api-son-signing-answer", args=[stx.pk])

    assert client.post(url, {}, content_type="application/json").status_code in (401, 403)
