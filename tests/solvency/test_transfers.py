"""Transfers between users, authorized by the sender's registered Bitcoin key in the "Bitcoin
Signed Message" format: a signature made by python-bitcoinlib's SignMessage moves the tokens;
tampered, replayed, expired, wrong-key and over-balance ones are refused and move nothing."""

import os
import threading
from datetime import timedelta

import bitcoin
import pytest
import time_machine
from bitcoin.signmessage import BitcoinMessage, SignMessage
from bitcoin.wallet import CBitcoinSecret
from django.db import connection
from django.utils import timezone

from ledger.models import Entry
from ledger.services import balances_of, ledger_account_for, ledger_check
from mappings import services as mappings
from proofs.sign import read_key, sign_message
from rates.assets import Asset
from solvency.epochs import epoch_create, proof_for
from solvency.models import Transfer
from solvency.transfers import TransferError, transfer_execute, transfer_prepare
from tests import fixtures
from tests.mappings import helpers
from tests.solvency.helpers import credit

pytestmark = pytest.mark.django_db


def _registered(user) -> CBitcoinSecret:
    """A Bitcoin key the user registered as their deposit key (python-bitcoinlib's)."""
    bitcoin.SelectParams("regtest")
    key = CBitcoinSecret.from_secret_bytes(os.urandom(32))
    mappings.mapping_set_bitcoin(
        user=user, deposit_public_key=key.pub.hex(), withdraw_address=helpers.regtest_p2wpkh()
    )
    return key


def _sign(key: CBitcoinSecret, message: str) -> str:
    return SignMessage(key, BitcoinMessage(message)).decode()


@pytest.fixture
def carol_and_dave(db):
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    carol, dave = fixtures.make_user("user_carol"), fixtures.make_user("user_dave")
    key = _registered(carol)
    credit(carol, Asset.PBTC, 500_000)
    return carol, dave, key


def _prepare(carol, amount="0.002", receiver="user_dave", asset=Asset.PBTC, **kwargs):
    return transfer_prepare(sender=carol, receiver=receiver, asset=asset, amount=amount, **kwargs)


def test_a_transfer_signed_by_python_bitcoinlib_moves_the_balance(carol_and_dave):
    carol, dave, key = carol_and_dave
    prepared = _prepare(carol)
    assert prepared.message.splitlines()[1:] == [
        "network: regtest",
        f"from: user_carol (user {carol.pk})",
        f"to: user_dave (user {dave.pk})",
        "amount: 0.00200000 pBTC",
        "base units: 200000",
        f"nonce: {prepared.nonce}",
        f"expires: {prepared.expires_at.isoformat()}",
    ]
    done = transfer_execute(
        transfer_id=prepared.pk, sender=carol, signature=_sign(key, prepared.message)
    )
    assert done.status == Transfer.Status.DONE
    assert (balances_of(carol)[Asset.PBTC], balances_of(dave)[Asset.PBTC]) == (300_000, 200_000)
    entry = Entry.objects.get(reason=Entry.Reason.TRANSFER)
    assert (entry.reference, entry.amount, done.entry_id) == (
        f"transfer:{prepared.nonce}",
        200_000,
        entry.pk,
    )
    assert ledger_check() == []


def test_the_next_epoch_reflects_the_transfer(carol_and_dave):
    carol, dave, key = carol_and_dave
    prepared = _prepare(carol)
    transfer_execute(transfer_id=prepared.pk, sender=carol, signature=_sign(key, prepared.message))
    epoch = epoch_create()
    assert proof_for(epoch=epoch, account=ledger_account_for(dave))["leaf"]["amounts"][0] == 200_000


def test_the_repos_signing_command_signs_what_the_portal_verifies(carol_and_dave):
    carol, _, key = carol_and_dave
    prepared = _prepare(carol)
    signature = sign_message(read_key(str(key)), prepared.message)  # the WIF, as in a key file
    transfer_execute(transfer_id=prepared.pk, sender=carol, signature=signature)
    assert balances_of(carol)[Asset.PBTC] == 300_000


def _refused(carol, prepared, signature, code, **kwargs):
    before = (balances_of(carol), Entry.objects.count())
    with pytest.raises(TransferError) as caught:
        transfer_execute(transfer_id=prepared.pk, sender=carol, signature=signature, **kwargs)
    assert caught.value.code == code, str(caught.value)
    assert (balances_of(carol), Entry.objects.count()) == before
    return str(caught.value)


def test_a_replayed_message_moves_nothing_the_second_time(carol_and_dave):
    carol, _, key = carol_and_dave
    prepared = _prepare(carol)
    signature = _sign(key, prepared.message)
    transfer_execute(transfer_id=prepared.pk, sender=carol, signature=signature)
    message = _refused(carol, prepared, signature, "replayed")
    assert "already used" in message
    # Nor does it authorize a new transfer with the same terms: the nonce differs.
    again = _prepare(carol)
    _refused(carol, again, signature, "wrong_key")


def test_an_expired_message_is_refused(carol_and_dave):
    carol, _, key = carol_and_dave
    prepared = _prepare(carol)
    signature = _sign(key, prepared.message)
    with time_machine.travel(prepared.expires_at + timedelta(seconds=1), tick=False):
        assert "expired" in _refused(carol, prepared, signature, "expired")


def test_a_tampered_message_or_another_key_is_refused(carol_and_dave):
    carol, _, key = carol_and_dave
    prepared = _prepare(carol)
    tampered = prepared.message.replace("0.00200000", "0.00020000")
    _refused(carol, prepared, _sign(key, tampered), "wrong_key")
    other = CBitcoinSecret.from_secret_bytes(os.urandom(32))
    assert "registered Bitcoin key" in _refused(
        carol, prepared, _sign(other, prepared.message), "wrong_key"
    )


@pytest.mark.parametrize(
    "signature", ["", "not base64 at all", "A" * 88, "!" * 88, "H" + "A" * 87, "x" * 5000]
)
def test_a_malformed_signature_is_refused_with_a_reason(carol_and_dave, signature):
    carol, _, _ = carol_and_dave
    _refused(carol, _prepare(carol), signature, "bad_signature")


def test_an_amount_over_the_balance_is_refused(carol_and_dave):
    carol, _, key = carol_and_dave
    with pytest.raises(TransferError, match="You hold 0.00500000 pBTC") as caught:
        _prepare(carol, amount="0.006")
    assert caught.value.code == "balance"
    # Or when the balance went down between preparing and signing.
    prepared = _prepare(carol, amount="0.004")
    spent = _prepare(carol, amount="0.003")
    transfer_execute(transfer_id=spent.pk, sender=carol, signature=_sign(key, spent.message))
    assert "nothing was sent" in _refused(carol, prepared, _sign(key, prepared.message), "balance")
    assert Transfer.objects.get(pk=prepared.pk).status == Transfer.Status.PREPARED


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"receiver": "nobody"}, "receiver"),
        ({"receiver": "user_carol"}, "receiver"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "9" * 60}, "amount"),
        ({"asset": Asset.BTC}, "asset"),
    ],
)
def test_bad_terms_are_refused_before_anything_is_kept(carol_and_dave, kwargs, code):
    carol, _, _ = carol_and_dave
    with pytest.raises(TransferError) as caught:
        _prepare(carol, **kwargs)
    assert caught.value.code == code
    assert not Transfer.objects.exists()


def test_a_sender_without_a_registered_key_cannot_prepare(carol_and_dave):
    _, dave, _ = carol_and_dave
    credit(dave, Asset.PBTC, 1_000)
    with pytest.raises(TransferError) as caught:
        _prepare(dave, receiver="user_carol", amount="0.00001")
    assert caught.value.code == "no_key"


def test_only_the_sender_executes_their_transfer(carol_and_dave):
    carol, dave, key = carol_and_dave
    prepared = _prepare(carol)
    with pytest.raises(TransferError) as caught:
        transfer_execute(
            transfer_id=prepared.pk, sender=dave, signature=_sign(key, prepared.message)
        )
    assert caught.value.code == "not_found"
    assert balances_of(dave)[Asset.PBTC] == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_of_one_signature_move_once():
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    carol, dave = fixtures.make_user("user_carol"), fixtures.make_user("user_dave")
    key = _registered(carol)
    credit(carol, Asset.PBTC, 500_000)
    prepared = _prepare(carol)
    signature = _sign(key, prepared.message)
    barrier, outcomes = threading.Barrier(2), []

    def submit():
        try:
            barrier.wait(10)
            transfer_execute(transfer_id=prepared.pk, sender=carol, signature=signature)
            outcomes.append("done")
        except TransferError as e:
            outcomes.append(e.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes) == ["done", "replayed"]
    assert balances_of(dave)[Asset.PBTC] == 200_000
    assert Entry.objects.filter(reason=Entry.Reason.TRANSFER).count() == 1
    assert timezone.now() < prepared.expires_at
