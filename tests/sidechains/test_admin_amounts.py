"""Amounts in the admin's lists read in their asset, with the unit: deposits, withdrawals,
transactions, coins and ledger entries."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from sidechains.models import Coin, HiveDeposit, SidechainTransaction, Withdrawal
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_deposit, make_federation
from tests.sidechains.withdrawal_helpers import credit

pytestmark = pytest.mark.django_db


def listing(client, name: str) -> str:
    response = client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    return response.content.decode()


def test_admin_lists_show_amounts_in_btc_and_tokens_with_units(client, bitcoin):
    make_federation(3)
    carol = fixtures.make_user("user_carol")
    make_deposit(make_bitcoin_mapping(carol), bitcoin, amount=12_345_678)
    stx = SidechainTransaction.objects.create(
        status=SidechainTransaction.Status.BROADCAST,
        unsigned_tx=b"\x01",
        txid="ab" * 32,
        fee=2_830,
        vsize=141,
        feerate=20,
    )
    Withdrawal.objects.create(
        user=carol,
        amount_pegged=50_000,
        rate=Decimal(1),
        amount=50_000,
        fee_share=1_415,
        address="bcrt1qexample",
        request_id="w-1",
        sidechain_tx=stx,
    )
    Withdrawal.objects.create(
        user=carol, chain="hive", amount_pegged=1_500, rate=Decimal(1), amount=1_500,
        address="carol", asset="HBD", request_id="w-2",
    )  # fmt: skip
    Coin.objects.create(
        txid="cd" * 32, vout=1, amount=99_000, witness_script=b"\x51", kind=Coin.Kind.DEPOSIT
    )
    HiveDeposit.objects.create(
        trx_id="ef" * 20,
        op_index=0,
        block_num=5,
        block_time=timezone.now(),
        sender="carol",
        asset="HIVE",
        amount=2_500,
        detected_at=timezone.now(),
    )
    client.force_login(fixtures.make_administrator())

    assert "0.12345678 BTC" in listing(client, "sidechains_deposit")
    withdrawals = listing(client, "sidechains_withdrawal")
    assert "0.00050000 BTC" in withdrawals and "0.00001415 BTC" in withdrawals
    assert "1.500 HBD" in withdrawals
    transactions = listing(client, "sidechains_sidechaintransaction")
    assert "0.00002830 BTC" in transactions and "20 sat/vB" in transactions
    assert "0.00099000 BTC" in listing(client, "sidechains_coin")
    assert "2.500 HIVE" in listing(client, "sidechains_hivedeposit")


def test_ledger_entries_show_their_token_and_places(client, db):
    credit(fixtures.make_user("user_carol"), 20_000_000)
    client.force_login(fixtures.make_administrator())
    assert "0.20000000 pBTC" in listing(client, "ledger_entry")
