"""Every deposit stage says what happens next, in words: a refund-pending deposit (witnesses,
destination, cost, the SONs, the user's own reclaim after T blocks), a refunded one (the refund
transaction, amount, destination); the witness page never says "it will not be paid" above a
confirmed refund, and a proposal's history line follows its transaction to confirmation."""

import secrets

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from proposals import services
from sidechains.models import ChainCursor, Deposit, DepositEvent, Refund, SidechainTransaction
from sons.models import SON, Sidechain
from tests import fixtures
from tests.browser import WIDTHS, assert_fits, log_in
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import made_up_tx, make_bitcoin_mapping, set_btc_rate

WHY = "1 of 3 SONs active, 2 needed to credit: refund pending"


def scene(user):
    """Three SONs, two down; two deposits of `user` set aside: one still refund pending, one
    refunded by an executed proposal whose transaction confirmed at height 712. The
    listener's tip is 705."""
    fixtures.make_son("son-1")
    for name in ("son-2", "son-3"):
        fixtures.make_son(name)
    SON.objects.filter(name__in=["son-2", "son-3"]).update(status=SON.Status.IN_MAINTENANCE)
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user)
    ChainCursor.objects.create(chain=Sidechain.BITCOIN, height=705, recent=[])
    pending = _set_aside(mapping, 400_000)
    refunded = _set_aside(mapping, 1_000_000)
    witnesses = make_witnesses(1, 1, 1)
    raised = services.proposal_raise_refunds(feerate=2)
    assert {p.deposit_id for p in raised} == {pending.pk, refunded.pk}
    proposal = next(p for p in raised if p.deposit_id == refunded.pk)
    for witness in witnesses[:2]:
        proposal = services.proposal_approve(proposal=proposal, witness=witness)
    refund = Refund.objects.get(deposit=refunded)
    SidechainTransaction.objects.filter(pk=refund.sidechain_tx_id).update(
        status=SidechainTransaction.Status.CONFIRMED, confirmed_height=712
    )
    Deposit.objects.filter(pk=refunded.pk).update(status=Deposit.Status.REFUNDED)
    return mapping, pending, refund, proposal


def _set_aside(mapping, amount: int) -> Deposit:
    txid, raw_tx = made_up_tx(bytes(mapping.deposit_script_pubkey), amount, vout=1)
    deposit = Deposit.objects.create(
        chain=Sidechain.BITCOIN, txid=txid, raw_tx=raw_tx, vout=1, amount=amount,
        mapping=mapping, user=mapping.user, block_hash=secrets.token_hex(32), block_height=700,
        status=Deposit.Status.REFUND_PENDING, confirmations_required=1,
        detected_at=timezone.now(), note=WHY,
    )  # fmt: skip
    DepositEvent.objects.create(
        deposit=deposit, old_status="confirmed", new_status="refund_pending", note=WHY
    )
    return deposit


@pytest.mark.django_db
def test_the_deposit_pages_say_what_happens_next(client, user_carol, settings):
    settings.WITNESS_CYCLE = 24 * 3600
    mapping, pending, refund, _ = scene(user_carol)
    client.force_login(user_carol)

    page = client.get(reverse("sidechains-deposits")).content.decode()

    waiting = _row_text(page, pending.pk)
    reclaim = 700 + mapping.deposit_timelock
    assert "the witnesses must approve its refund" in waiting
    assert "waits until enough of them are active" in waiting
    assert f"withdraw address {mapping.withdraw_address}" in waiting
    assert "network fee of about 0.00000" in waiting
    assert f"take it back alone with your deposit key from block {reclaim}" in waiting
    kit = page.split(f'data-testid="deposit-{pending.pk}"')[1].split('data-testid="self-refund">')[
        1
    ]
    assert kit.startswith(f"Yours to take back alone from block {reclaim}:")
    assert reverse("sidechains-deposit-psbt", args=[pending.pk]) in kit.split("</small>")[0]
    assert (
        'data-testid="self-refund"'
        not in page.split(f'data-testid="deposit-{refund.deposit_id}"')[1].split("</tr>")[0]
    )
    done = _row_text(page, refund.deposit_id)
    assert f"{refund.amount / 10**8:.8f} BTC paid to {refund.address}" in done
    assert f"in transaction {refund.sidechain_tx.txid}" in done
    detail = client.get(reverse("sidechains-deposit", args=[pending.pk])).content.decode()
    assert "the witnesses must approve its refund" in detail.split('data-testid="next-step"')[1]


def _row_text(page: str, pk: int) -> str:
    row = page.split(f'data-testid="deposit-{pk}"')[1].split("</tr>")[0]
    return row.split('data-testid="next-step">')[1].split("</small>")[0]


@pytest.mark.django_db
def test_the_witness_page_shows_the_paid_refund_and_its_confirmed_transaction(
    client, user_carol, settings
):
    settings.WITNESS_CYCLE = 24 * 3600
    _, _, refund, proposal = scene(user_carol)
    client.force_login(fixtures.User.objects.get(username="witness_alice"))

    detail = client.get(reverse("proposals-detail", args=[proposal.pk])).content.decode()
    home = client.get(reverse("proposals-home")).content.decode()

    assert "it will not be paid" not in detail
    outcome = detail.split('data-testid="evidence-outcome">')[1].split("</strong>")[0]
    assert "paid back by transaction" in outcome and refund.sidechain_tx.txid in outcome
    for page in (detail, home):
        line = page.split('data-testid="event-tx-now">')[1].split("</span>")[0]
        assert line == "— now confirmed at height 712"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_next_steps_read_on_desktop_and_phone(page, live_server, settings, width):
    settings.WITNESS_CYCLE = 24 * 3600
    page.set_viewport_size(WIDTHS[width])
    carol = fixtures.make_user("user_carol")
    _, pending, refund, proposal = scene(carol)

    log_in(page, live_server, "user_carol", next_path="/deposits/")
    steps = page.get_by_test_id(f"deposit-{pending.pk}").get_by_test_id("next-step")
    expect(steps).to_contain_text("the witnesses must approve its refund")
    paid = page.get_by_test_id(f"deposit-{refund.deposit_id}").get_by_test_id("next-step")
    expect(paid).to_contain_text(refund.sidechain_tx.txid)
    assert_fits(page)
    page.goto(f"{live_server.url}/deposits/{pending.pk}/")
    expect(page.get_by_test_id("reclaim-height")).to_have_text(
        str(700 + pending.mapping.deposit_timelock)
    )
    expect(page.get_by_test_id("reclaim-psbt")).to_be_visible()
    assert_fits(page)
    page.click("header .who button[type=submit]")
    page.wait_for_load_state()

    log_in(page, live_server, "witness_alice", next_path=f"/proposals/{proposal.pk}/")
    expect(page.get_by_test_id("evidence-outcome")).to_contain_text("paid back by transaction")
    expect(page.get_by_test_id("event-tx-now")).to_have_text("— now confirmed at height 712")
    assert "it will not be paid" not in page.locator("main").inner_text()
    assert_fits(page)
