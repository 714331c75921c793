"""The user's withdrawals page: amount -> preview (fee, destination, what arrives) -> confirm,
and the live list of withdrawals with their stage and signatures."""

import json
import uuid

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from ledger.services import balances_of
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.signatures import signatures_submit
from sidechains.models import Withdrawal
from sidechains.refusals import refusals_summary
from tests import fixtures
from tests.bitcoin_node import free_port
from tests.browser import log_in
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, federation_coin, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

WITHDRAWALS = reverse("sidechains-withdrawals")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' password hashing is most of these tests' time otherwise."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mapping(user_carol, bitcoin):
    make_federation(3)
    set_btc_rate("1")
    credit(user_carol, 50_000)
    return make_bitcoin_mapping(user_carol)


def preview(client, amount: str, **extra):
    return client.post(WITHDRAWALS, {"step": "preview", "amount": amount}, **extra)


def quote_of(response) -> str:
    """The fee quote a preview carries, as the confirmation posts it back."""
    return response.content.decode().split('name="quote" value="')[1].split('"')[0]


def confirm(client, amount: str, request_id: str, quote: str | None = None, **extra):
    quote = quote_of(preview(client, "0.0002")) if quote is None else quote
    data = {"step": "confirm", "amount": amount, "request_id": request_id, "quote": quote}
    return client.post(WITHDRAWALS, data, **extra)


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get(WITHDRAWALS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert client.post(WITHDRAWALS, {"amount": "1"}).status_code == 302


def test_it_previews_the_fee_destination_and_payout(client, user_carol, mapping):
    client.force_login(user_carol)

    response = preview(client, "0.0002")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert mapping.withdraw_address in page.split('data-testid="preview-address"')[1][:200]
    assert "0.00050000 pBTC" in page  # the balance
    fee = page.split('data-testid="preview-fee">')[1].split("<")[0]
    receive = page.split('data-testid="preview-receive">')[1].split("<")[0]
    fee_sat = int(fee.split()[0].replace(".", ""))
    assert 0 < fee_sat < 20_000
    assert receive == f"0.{20_000 - fee_sat:08d} BTC"
    assert 'name="request_id" value="' in page
    assert 'data-testid="withdrawal-confirm"' in page
    assert not Withdrawal.objects.exists()


def test_it_swaps_the_preview_in_place_for_htmx(client, user_carol, mapping):
    client.force_login(user_carol)

    fragment = preview(client, "0.0002", HTTP_HX_REQUEST="true").content.decode()

    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<section class="card" id="withdrawal-form"')
    assert 'data-testid="preview-fee"' in fragment


def test_it_refuses_to_confirm_without_a_fee_estimate(client, user_carol, mapping, settings):
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    client.force_login(user_carol)

    page = preview(client, "0.0002").content.decode()

    assert "unavailable: the Bitcoin node cannot be reached" in page
    assert 'data-testid="withdrawal-confirm"' not in page
    refused = confirm(client, "0.0002", str(uuid.uuid4()), quote="").content.decode()
    assert "Preview the withdrawal before confirming it." in refused
    assert not Withdrawal.objects.exists()


def test_it_confirms_once_when_posted_twice(client, user_carol, mapping):
    client.force_login(user_carol)
    request_id = str(uuid.uuid4())

    first = confirm(client, "0.0002", request_id)
    second = confirm(client, "0.0002", request_id)

    assert first.status_code == second.status_code == 302
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.user, withdrawal.amount_pegged) == (user_carol, 20_000)
    assert withdrawal.address == mapping.withdraw_address
    assert balances_of(user_carol)["pBTC"] == 30_000
    page = client.get(first["Location"]).content.decode()
    assert f"Withdrawal {withdrawal.pk} of 0.00020000 pBTC requested." in page
    assert f'data-testid="withdrawal-{withdrawal.pk}"' in page
    assert ">Requested<" in page


def test_it_confirms_over_htmx_and_refreshes_the_list(client, user_carol, mapping):
    client.force_login(user_carol)

    response = confirm(client, "0.0002", str(uuid.uuid4()), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "withdrawal-requested" in json.loads(response["HX-Trigger"])
    assert 'data-testid="withdrawal-done"' in response.content.decode()
    assert Withdrawal.objects.count() == 1


@pytest.mark.parametrize(
    ("step", "amount", "message"),
    [
        ("preview", "0.0006", "is less than 0.00060000 pBTC"),
        ("confirm", "0.0006", "Your balance, 0.00050000 pBTC, is less than"),
        ("preview", "0.00009999", "The minimum withdrawal is 0.00010000 BTC"),
        ("confirm", "0.00009999", "The minimum withdrawal is 0.00010000 BTC"),
        ("preview", "lots", "Enter the amount as a decimal number"),
        ("preview", "1e999999999", "Enter the amount as a decimal number"),
        ("confirm", "1e999999999", "Enter the amount as a decimal number"),
        ("preview", "٠٫٥", "Enter the amount as a decimal number"),
        ("preview", "21000000.00000001", "The largest amount of pBTC is"),
        ("confirm", "21000000", "Your balance, 0.00050000 pBTC, is less than"),
        ("preview", "0.000000001", "pBTC has 8 decimal places."),
        ("preview", "-1", "The amount cannot be negative."),
        ("preview", "0", "greater than zero"),
    ],
)
def test_it_refuses_a_bad_amount_and_saves_nothing(
    client, user_carol, mapping, step, amount, message
):
    client.force_login(user_carol)

    quote = quote_of(preview(client, "0.0002"))  # a tampered confirmation is checked again
    response = client.post(
        WITHDRAWALS,
        {"step": step, "amount": amount, "request_id": str(uuid.uuid4()), "quote": quote},
    )

    assert response.status_code == 400
    errors = response.content.decode().split('data-testid="error-amount"')[1].split("</p>")[0]
    assert message in errors
    assert not Withdrawal.objects.exists()
    assert balances_of(user_carol)["pBTC"] == 50_000


def test_it_asks_for_a_withdraw_address_first(client, bitcoin):
    set_btc_rate("1")
    dave = fixtures.make_user("user_dave")
    credit(dave, 50_000)
    client.force_login(dave)

    page = preview(client, "0.0002").content.decode()

    assert "Register a Bitcoin withdraw address" in page
    assert 'data-testid="preview"' not in page


def test_it_lists_only_the_users_own_withdrawals(client, user_carol, mapping):
    dave = fixtures.make_user("user_dave")
    make_bitcoin_mapping(dave)
    credit(dave, 50_000)
    daves = withdrawal_request(user=dave, amount_pegged=41_000, request_id="d")
    carols = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="c")
    client.force_login(user_carol)

    page = client.get(WITHDRAWALS).content.decode()

    assert f'data-testid="withdrawal-{carols.pk}"' in page
    assert f'data-testid="withdrawal-{daves.pk}"' not in page
    assert "0.00041000 pBTC" not in page
    assert 'hx-trigger="every 5s, withdrawal-requested from:body"' in page


def test_it_renders_only_the_list_for_htmx(client, user_carol, mapping):
    carols = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="c")
    client.force_login(user_carol)

    fragment = client.get(WITHDRAWALS, HTTP_HX_REQUEST="true").content.decode()

    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="withdrawals"')
    assert f'data-testid="withdrawal-{carols.pk}"' in fragment


def son_tokens():
    from sons.models import SON
    from sons.services import TokenIssuer, son_issue_token

    return [
        (son, son_issue_token(son=son, by=None, reason="test", via=TokenIssuer.COMMAND))
        for son in SON.objects.order_by("name")
    ]


def test_it_shows_the_batch_txid_and_signatures_collected(
    client, user_carol, mapping, chain, tmp_path
):
    bitcoin = chain.rpc
    federation_coin(chain)
    carols = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="c")
    stx = withdrawals_batch(rpc=bitcoin)
    make_signers(tmp_path, son_tokens(), mapping.deposit_timelock)[0].sign_all()
    client.force_login(user_carol)

    fragment = client.get(WITHDRAWALS, HTTP_HX_REQUEST="true").content.decode()

    row = fragment.split(f'data-testid="withdrawal-{carols.pk}"')[1].split("</tr>")[0]
    assert stx.txid in row
    assert "batched, awaiting signatures" in row
    assert (
        '<td data-testid="signatures" data-label="Signatures">1 of 3 SON signatures (2 needed)</td>'
        in row
    )
    carols.refresh_from_db()
    assert f"0.{carols.payout:08d} BTC" in row


def test_it_shows_signer_refusals_in_words_while_waiting(
    client, user_carol, mapping, chain, tmp_path
):
    federation_coin(chain)
    carols = withdrawal_request(user=user_carol, amount_pegged=20_000, request_id="c")
    stx = withdrawals_batch(rpc=chain.rpc)
    sons = son_tokens()
    for son, reasons in (
        (sons[1][0], ["NOT_FEDERATION_SCRIPT", "FOREIGN_CHANGE"]),
        (sons[2][0], ["FEE_TOO_HIGH"]),
    ):
        signatures_submit(
            son=son, sidechain_tx_id=stx.pk, answer={"refused": True, "reasons": reasons}
        )
    client.force_login(user_carol)

    fragment = client.get(WITHDRAWALS, HTTP_HX_REQUEST="true").content.decode()

    row = fragment.split(f'data-testid="withdrawal-{carols.pk}"')[1].split("</tr>")[0]
    assert (
        '<small data-testid="refusals">waiting: 2 SONs refused: federation changing,'
        " fee above their limit</small>"
    ) in row
    assert "son-2" not in row  # users see what blocks them, not who
    admin = fixtures.make_administrator()
    client.force_login(admin)
    listing = client.get(reverse("admin:sidechains_sidechaintransaction_changelist"))
    assert "son-2 (federation changing); son-3 (fee above their limit)" in (
        listing.content.decode()
    )
    detail = client.get(reverse("admin:sidechains_sidechaintransaction_change", args=[stx.pk]))
    assert "federation changing" in detail.content.decode()


def test_refusal_words_keep_an_unknown_code():
    assert refusals_summary([["NEW_CODE"]]) == "waiting: 1 SON refused: other reason (NEW_CODE)"
    assert refusals_summary([]) == ""


# In Chromium.


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_requests_a_withdrawal_and_watches_it_being_signed(page, live_server, chain, tmp_path):
    bitcoin = chain.rpc
    make_federation(3)
    set_btc_rate("1")
    carol = fixtures.make_user("user_carol", second_factor=True)
    mapping = make_bitcoin_mapping(carol)
    credit(carol, 50_000)
    federation_coin(chain)
    log_in(page, live_server, "user_carol")
    page.click("nav >> text=Withdrawals")
    page.evaluate("window.stillTheSamePage = true")

    page.fill("#id_amount", "0.0002")
    page.get_by_test_id("withdrawal-preview").click()
    expect(page.get_by_test_id("preview-address")).to_have_text(mapping.withdraw_address)
    assert "BTC" in page.get_by_test_id("preview-fee").inner_text()
    page.get_by_test_id("withdrawal-confirm").click()

    expect(page.get_by_test_id("withdrawal-done")).to_be_visible()
    withdrawal = Withdrawal.objects.get()
    row = page.get_by_test_id(f"withdrawal-{withdrawal.pk}")
    expect(row.get_by_test_id("stage")).to_have_text("Requested", timeout=5_000)

    stx = withdrawals_batch(rpc=bitcoin)
    make_signers(tmp_path, son_tokens(), mapping.deposit_timelock)[0].sign_all()

    expect(row.get_by_test_id("stage")).to_have_text("batched, awaiting signatures", timeout=15_000)
    assert row.get_by_test_id("txid").inner_text() == stx.txid
    assert row.get_by_test_id("signatures").inner_text() == "1 of 3 SON signatures (2 needed)"
    assert page.evaluate("window.stillTheSamePage") is True
