"""A page per deposit and per withdrawal, with its timeline; only for its owner."""

import pytest
from django.urls import reverse

from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.models import Deposit, DepositEvent
from tests import fixtures
from tests.sidechains.deposit_helpers import (
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    set_btc_rate,
)
from tests.sidechains.withdrawal_helpers import credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def things(bitcoin, user_carol):
    make_federation(3)
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    deposit = make_deposit(mapping, bitcoin, amount=250_000)
    DepositEvent.objects.create(deposit=deposit, new_status=Deposit.Status.DETECTED, note="seen")
    credit(user_carol, 100_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=30_000, request_id="w-1")
    return {"deposit": deposit, "withdrawal": withdrawal}


def test_a_deposit_page_shows_its_timeline(client, user_carol, things):
    client.force_login(user_carol)
    deposit = things["deposit"]
    page = client.get(reverse("sidechains-deposit", args=[deposit.pk])).content.decode()
    assert deposit.txid in page and "0.00250000 BTC" in page
    timeline = page.split('data-testid="timeline"')[1].split("</ol>")[0]
    assert "Detected" in timeline and "(seen)" in timeline
    listing = client.get(reverse("sidechains-deposits")).content.decode()
    assert reverse("sidechains-deposit", args=[deposit.pk]) in listing


def test_a_withdrawal_page_shows_its_timeline(client, user_carol, things):
    client.force_login(user_carol)
    withdrawal = things["withdrawal"]
    page = client.get(reverse("sidechains-withdrawal", args=[withdrawal.pk])).content.decode()
    assert withdrawal.address in page and "0.00030000 pBTC" in page
    timeline = page.split('data-testid="timeline"')[1].split("</ol>")[0]
    assert "Requested" in timeline


def test_another_person_gets_404(client, things):
    client.force_login(fixtures.make_user("user_erin"))
    assert client.get(reverse("sidechains-deposit", args=[things["deposit"].pk])).status_code == 404
    url = reverse("sidechains-withdrawal", args=[things["withdrawal"].pk])
    assert client.get(url).status_code == 404
