"""The fee a user is shown is the fee they are charged: the preview (page or API) quotes a fee,
the settled payout is the amount less exactly that fee, and the fee pool takes the difference
from the network fee (docs/withdrawals.md, "The fee quote"). On PostgreSQL and bcoin, with the
SONs' real signers answering through the API."""

from datetime import timedelta

import pytest
import time_machine
from bitcoin.core import CTransaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from chains.bitcoin.addresses import validate_address
from ledger.models import Entry
from ledger.services import balances_of, ledger_fee_pool
from sidechains.bitcoin.reserves import reserves_check
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.errors import SecondFactorRequired, WithdrawalError
from sidechains.bitcoin.withdrawals.fees import fee_quote_make
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.hive.withdrawals.requests import HiveWithdrawalError, hive_withdrawal_request
from sidechains.models import Deposit, SidechainTransaction, Withdrawal
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate, sweep_fee
from tests.sidechains.withdrawal_helpers import credit, deposit_on_chain, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

WITHDRAWALS = reverse("sidechains-withdrawals")
API = reverse("api-withdrawals")
API_QUOTE = reverse("api-withdrawal-quote")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


@pytest.fixture
def mapping(user_carol, federation):
    set_btc_rate("1")
    return make_bitcoin_mapping(user_carol)


@pytest.fixture
def signers(federation, mapping, tmp_path):
    return make_signers(tmp_path, federation, mapping.deposit_timelock)


def page_preview(client, amount: str) -> tuple[int, str, str]:
    """The fee the page shows (satoshi), the request id and the quote it posts back."""
    page = client.post(WITHDRAWALS, {"step": "preview", "amount": amount}).content.decode()
    fee = page.split('data-testid="preview-fee">')[1].split("<")[0]
    request_id = page.split('name="request_id" value="')[1].split('"')[0]
    quote = page.split('name="quote" value="')[1].split('"')[0]
    return int(fee.split()[0].replace(".", "")), request_id, quote


def page_confirm(client, amount: str, request_id: str, quote: str):
    data = {"step": "confirm", "amount": amount, "request_id": request_id, "quote": quote}
    return client.post(WITHDRAWALS, data)


def settle(chain, signers) -> SidechainTransaction:
    stx = withdrawals_batch(rpc=chain.rpc)
    for signer in signers[:2]:
        signer.sign_all()
    stx.refresh_from_db()
    assert stx.status == SidechainTransaction.Status.BROADCAST, stx.last_error
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1
    return stx


def paid_to(chain, txid: str, address: str) -> int:
    tx = CTransaction.deserialize(chain.rpc.get_raw_transaction(txid))
    script = validate_address(address, "regtest").script_pubkey
    return sum(out.nValue for out in tx.vout if bytes(out.scriptPubKey) == script)


def test_the_page_preview_fee_is_the_fee_charged_and_the_pool_keeps_the_rest(
    chain, client, user_carol, mapping, signers
):
    deposit_on_chain(chain, mapping, 2_000_000)
    client.force_login(user_carol)
    shown, request_id, quote = page_preview(client, "0.01")

    assert page_confirm(client, "0.01", request_id, quote).status_code == 302
    detail = reverse("sidechains-withdrawal", args=[Withdrawal.objects.get().pk])
    waiting = client.get(detail).content.decode().split('data-testid="next-step">')[1]
    assert f"You pay a network fee of {shown / 10**8:.8f} BTC" in waiting
    stx = settle(chain, signers)

    withdrawal = Withdrawal.objects.get()
    paid = client.get(detail).content.decode().split('data-testid="next-step">')[1]
    assert f"Paid: {(1_000_000 - shown) / 10**8:.8f} BTC to {mapping.withdraw_address}" in paid
    assert withdrawal.status == Withdrawal.Status.SETTLED
    assert withdrawal.fee_share == shown
    assert paid_to(chain, stx.txid, mapping.withdraw_address) == 1_000_000 - shown
    stx.refresh_from_db()
    assert stx.fee < shown  # the quote carries a margin over a batch of one
    assert withdrawal.network_fee_share == stx.fee
    # The pool holds the deposit's sweep fee and the quote's difference.
    assert ledger_fee_pool()["pBTC"] == sweep_fee() + shown - stx.fee
    entry = Entry.objects.get(reason=Entry.Reason.WITHDRAWAL_FEE)
    assert (entry.source.system, entry.destination.system) == ("issuance", "fee-pool")
    assert entry.reference == f"withdrawal:{withdrawal.pk}"
    check = reserves_check(rpc=chain.rpc)
    assert check.fee_pool == sweep_fee() + shown - stx.fee
    assert check.margin == check.fee_pool  # the pool is what the federation holds beyond
    assert withdrawals_track(rpc=chain.rpc) == 0  # settled once: no second pool entry
    assert Entry.objects.filter(reason=Entry.Reason.WITHDRAWAL_FEE).count() == 1


def test_the_api_quote_is_charged_in_a_batch_with_a_page_withdrawal(
    chain, client, user_carol, mapping, signers
):
    deposit_on_chain(chain, mapping, 3_000_000)
    dave = fixtures.make_user("user_dave")
    dave_mapping = make_bitcoin_mapping(dave)
    credit(dave, 500_000)
    client.force_login(user_carol)
    shown, request_id, quote = page_preview(client, "0.01")
    page_confirm(client, "0.01", request_id, quote)
    api = APIClient()
    api.force_authenticate(dave)
    quoted = api.post(API_QUOTE, {}, format="json").json()
    body = {"amount": "0.002", "request_id": "d-1", "quote": quoted["quote"]}
    made = api.post(API, body, format="json")
    assert made.status_code == 201, made.content
    assert (made.json()["fee_share"], made.json()["payout"]) == (
        quoted["fee"],
        200_000 - quoted["fee"],
    )

    stx = settle(chain, signers)

    assert stx.withdrawals.count() == 2
    assert paid_to(chain, stx.txid, mapping.withdraw_address) == 1_000_000 - shown
    assert paid_to(chain, stx.txid, dave_mapping.withdraw_address) == 200_000 - quoted["fee"]
    stx.refresh_from_db()
    assert ledger_fee_pool()["pBTC"] == sweep_fee() + shown + quoted["fee"] - stx.fee
    shares = sorted(Withdrawal.objects.values_list("network_fee_share", flat=True))
    assert sum(shares) == stx.fee and shares[1] - shares[0] <= 1
    assert api.get(reverse("api-withdrawal", args=[made.json()["id"]])).json()["payout"] == (
        200_000 - quoted["fee"]
    )


def test_the_pool_pays_when_the_network_fee_rises_above_the_quote(
    chain, user_carol, mapping, signers, settings
):
    deposit_on_chain(chain, mapping, 2_000_000)
    quote = fee_quote_make(user=user_carol, rpc=chain.rpc)
    withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w", quote=quote.token)
    settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR = 10  # the rate rose after the quote

    stx = settle(chain, signers)

    stx.refresh_from_db()
    assert stx.fee > quote.fee
    assert paid_to(chain, stx.txid, mapping.withdraw_address) == 500_000 - quote.fee
    pool = Deposit.objects.get().sweep_fee + quote.fee - stx.fee  # credited at the old rate
    assert ledger_fee_pool()["pBTC"] == pool  # below zero: the pool paid
    check = reserves_check(rpc=chain.rpc)
    assert check.fee_pool == pool < 0
    assert check.margin == check.fee_pool and check.unexplained == 0


def test_an_expired_quote_is_refused_with_a_fresh_one(client, user_carol, mapping, bitcoin):
    credit(user_carol, 50_000)
    client.force_login(user_carol)
    shown, request_id, quote = page_preview(client, "0.0002")
    api = APIClient()
    api.force_authenticate(user_carol)
    api_quote = api.post(API_QUOTE, {}, format="json").json()["quote"]

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        page = page_confirm(client, "0.0002", request_id, quote).content.decode()
        answer = api.post(
            API, {"amount": "0.0002", "request_id": "a", "quote": api_quote}, format="json"
        )

    assert "The fee quote expired at" in page.split('data-testid="quote-expired"')[1]
    fresh = page.split('name="quote" value="')[1].split('"')[0]
    assert fresh and fresh != quote
    assert 'data-testid="withdrawal-confirm"' in page
    assert answer.status_code == 400
    assert "The fee quote expired at" in answer.json()["quote"][0]
    assert answer.json()["fresh_quote"]["fee"] > 0
    assert not Withdrawal.objects.exists()
    assert balances_of(user_carol)["pBTC"] == 50_000


@pytest.mark.parametrize("quote", ["", "x" * 301, "forged:token:abc"])
def test_it_refuses_what_is_not_a_quote_and_saves_nothing(user_carol, mapping, quote):
    credit(user_carol, 50_000)

    with pytest.raises(WithdrawalError, match="not a fee quote of the portal's"):
        withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="r", quote=quote)

    assert not Withdrawal.objects.exists()


def test_it_refuses_another_persons_quote(user_carol, mapping, bitcoin):
    credit(user_carol, 50_000)
    dave = fixtures.make_user("user_dave")
    theirs = fee_quote_make(user=dave, rpc=bitcoin)

    with pytest.raises(WithdrawalError, match="not yours"):
        withdrawal_request(
            user=user_carol, amount_pegged=20_000, request_id="r", quote=theirs.token
        )

    assert not Withdrawal.objects.exists()


def test_the_service_itself_needs_a_second_factor(mapping):
    erin = fixtures.make_user("user_erin", second_factor=False)
    make_bitcoin_mapping(erin)
    credit(erin, 50_000)

    with pytest.raises(SecondFactorRequired, match="needs a second factor"):
        withdrawal_request(user=erin, amount_pegged=20_000, request_id="r")

    api = APIClient()
    api.force_authenticate(erin)
    answer = api.post(API, {"amount": "0.0002", "request_id": "r"}, format="json")
    assert answer.status_code == 400
    assert "needs a second factor" in answer.json()["non_field_errors"][0]
    assert not Withdrawal.objects.exists()
    assert balances_of(erin)["pBTC"] == 50_000


def test_the_hive_withdrawal_service_needs_a_second_factor_too(db):
    erin = fixtures.make_user("user_erin", second_factor=False)

    with pytest.raises(HiveWithdrawalError, match="needs a second factor"):
        hive_withdrawal_request(user=erin, pegged="pHIVE", amount_pegged=1_000, request_id="h")

    api = APIClient()
    api.force_authenticate(erin)
    body = {"asset": "pHIVE", "amount": "1.000", "request_id": "h"}
    answer = api.post(API, body, format="json")
    assert answer.status_code == 400
    assert "needs a second factor" in str(answer.json())
    assert not Withdrawal.objects.exists()
