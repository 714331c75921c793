"""A withdrawal whose destination today's rules refuse is held for review at batching, not paid,
and the batch goes on with the others; failing it returns the escrow. A request to such an
address is refused before anything is written."""

import pytest
from bitcoin.core import CTransaction, Hash160
from django.urls import reverse
from rest_framework.test import APIClient

from chains.bitcoin.addresses import segwit_address, validate_address
from ledger.models import Entry
from ledger.services import balances_of
from mappings import services as mappings
from mappings.models import SidechainAddress
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.errors import WithdrawalAddressError, WithdrawalError
from sidechains.bitcoin.withdrawals.requests import withdrawal_fail, withdrawal_request
from sidechains.models import SidechainTransaction, Withdrawal
from sons.models import SON, SONPublicKey
from tests import fixtures
from tests.mappings import helpers
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, federation_coin

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

HELD = Withdrawal.Status.HELD
# Witness version 2: valid by BIP350, anyone can spend it. Accepted before this rule existed.
ANYONE_CAN_SPEND = segwit_address(2, bytes(range(1, 17)), "regtest")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def users(db):
    make_federation(3)
    set_btc_rate("1")
    people = [fixtures.make_user(name) for name in ("user_carol", "user_dave", "user_erin")]
    for person in people:
        make_bitcoin_mapping(person)
        credit(person, 100_000)
    return people


def registered_before_the_rule(user, address: str) -> None:
    """As if the address had been registered before the portal refused it."""
    SidechainAddress.objects.filter(user=user, expires=None).update(withdraw_address=address)
    Withdrawal.objects.filter(user=user, status="requested").update(address=address)


def paid_scripts(stx: SidechainTransaction) -> list[bytes]:
    return [bytes(out.scriptPubKey) for out in CTransaction.deserialize(stx.unsigned_tx).vout]


def test_it_holds_a_refused_destination_and_batches_the_others(users, chain):
    federation_coin(chain)
    carol, dave, erin = users
    requested = [withdrawal_request(user=u, amount_pegged=50_000, request_id="r") for u in users]
    registered_before_the_rule(dave, ANYONE_CAN_SPEND)

    stx = withdrawals_batch(rpc=chain.rpc)

    held = Withdrawal.objects.get(user=dave)
    assert held.status == HELD
    assert held.sidechain_tx is None
    assert held.note.startswith("Its address is refused: This is a version 2 witness address")
    [event] = held.events.filter(new_status=HELD)
    assert (event.old_status, event.note) == ("requested", held.note)
    assert {w.user for w in stx.withdrawals.all()} == {carol, erin}
    scripts = paid_scripts(stx)
    for withdrawal in (requested[0], requested[2]):
        assert validate_address(withdrawal.address, "regtest").script_pubkey in scripts
    assert len(scripts) == 3  # two payouts and the change: nothing for dave
    assert balances_of(dave)["pBTC"] == 50_000  # the escrow is kept until it is resolved
    assert withdrawals_batch(rpc=chain.rpc) is None  # held: never batched again
    assert Withdrawal.objects.get(pk=held.pk).status == HELD


def test_it_holds_an_address_that_became_a_sons(users, chain):
    key = helpers.new_key()
    address = segwit_address(0, Hash160(key.public_key.format()), "regtest")
    carol = users[0]
    mappings.mapping_set_bitcoin(
        user=carol, deposit_public_key=helpers.pubkey_hex(), withdraw_address=address
    )
    withdrawal = withdrawal_request(user=carol, amount_pegged=50_000, request_id="r")
    son, _ = fixtures.make_son("son-9", status=SON.Status.INACTIVE)
    SONPublicKey.objects.filter(son=son, sidechain="bitcoin").update(
        public_key=key.public_key.format().hex()
    )

    assert withdrawals_batch(rpc=chain.rpc) is None  # nothing else to pay

    withdrawal.refresh_from_db()
    assert withdrawal.status == HELD
    assert "an address of a SON's key" in withdrawal.note


def test_it_fails_a_held_withdrawal_and_returns_its_escrow_once(users, chain):
    dave = users[1]
    withdrawal = withdrawal_request(user=dave, amount_pegged=50_000, request_id="r")
    registered_before_the_rule(dave, ANYONE_CAN_SPEND)
    withdrawals_batch(rpc=chain.rpc)

    failed = withdrawal_fail(withdrawal=withdrawal, reason="unpayable address, escrow returned")
    again = withdrawal_fail(withdrawal=withdrawal, reason="again")

    assert failed.status == again.status == Withdrawal.Status.FAILED
    assert failed.failure_reason == "unpayable address, escrow returned"
    assert balances_of(dave)["pBTC"] == 100_000
    assert Entry.objects.filter(reason=Entry.Reason.WITHDRAWAL_RETURN).count() == 1
    assert [e.new_status for e in failed.events.all()] == ["requested", "held", "failed"]


def test_it_refuses_a_request_to_an_address_refused_since(users):
    dave = users[1]
    registered_before_the_rule(dave, ANYONE_CAN_SPEND)

    with pytest.raises(WithdrawalAddressError) as error:
        withdrawal_request(user=dave, amount_pegged=50_000, request_id="r")

    assert str(error.value).startswith("Your withdraw address cannot be paid: This is a version 2")
    assert str(error.value).endswith("Register another one (Addresses).")
    assert not Withdrawal.objects.exists()
    assert balances_of(dave)["pBTC"] == 100_000


def test_the_api_refuses_a_request_to_an_address_refused_since(users):
    dave = users[1]
    registered_before_the_rule(dave, ANYONE_CAN_SPEND)
    api = APIClient()
    api.force_authenticate(dave)

    response = api.post(
        reverse("api-withdrawals"), {"amount": "0.0005", "request_id": "r"}, format="json"
    )

    assert response.status_code == 400
    assert "Your withdraw address cannot be paid" in response.json()["non_field_errors"][0]
    assert not Withdrawal.objects.exists()


def test_it_cannot_fail_a_batched_withdrawal(users, chain):
    federation_coin(chain)
    withdrawal = withdrawal_request(user=users[0], amount_pegged=50_000, request_id="r")
    withdrawals_batch(rpc=chain.rpc)

    with pytest.raises(WithdrawalError, match="is batched: it cannot fail"):
        withdrawal_fail(withdrawal=withdrawal, reason="no")


def test_the_page_shows_the_held_state_and_its_reason(client, users, chain):
    dave = users[1]
    withdrawal = withdrawal_request(user=dave, amount_pegged=50_000, request_id="r")
    registered_before_the_rule(dave, ANYONE_CAN_SPEND)
    withdrawals_batch(rpc=chain.rpc)
    client.force_login(dave)

    page = client.get(reverse("sidechains-withdrawals")).content.decode()

    row = page.split(f'data-testid="withdrawal-{withdrawal.pk}"')[1].split("</tr>")[0]
    assert '<span class="stage stage-held" data-testid="stage">held for review</span>' in row
    assert "Its address is refused: This is a version 2 witness address" in row
    assert "an operator reviews it and returns the pBTC to your balance" in row
    preview = client.post(
        reverse("sidechains-withdrawals"), {"step": "preview", "amount": "0.0002"}
    )
    assert "Your withdraw address cannot be paid" in preview.content.decode()
