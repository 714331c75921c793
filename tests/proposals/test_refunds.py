"""Refund proposals: raised once per refund_pending deposit, executed into a refund transaction
the SONs sign, tracked to refunded; on real PostgreSQL and, end to end, on bcoin."""

import secrets
from datetime import timedelta

import pytest
from bitcoin.core import CTransaction
from django.urls import reverse
from django.utils import timezone

from chains.bitcoin.addresses import validate_address
from ledger.models import Entry
from ledger.services import ledger_check
from proposals import services
from proposals.models import Proposal, ProposalEvent
from sidechains.bitcoin.deposits import deposits_process
from sidechains.bitcoin.listener import _orphan, listener_scan
from sidechains.bitcoin.refunds import refunds_track
from sidechains.bitcoin.withdrawals.fees import withdrawal_feerate
from sidechains.bitcoin.withdrawals.signatures import signing_request_for
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Coin, Deposit, DepositEvent, Refund, SidechainTransaction
from sons.models import SON, Sidechain
from tests import fixtures
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import made_up_tx, make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import make_signers

pytestmark = pytest.mark.django_db

WHY = "1 of 3 SONs active, 2 needed to credit: refund pending"
FEERATE = 2


@pytest.fixture(autouse=True)
def timings(settings):
    settings.WITNESS_CYCLE = 24 * 3600


@pytest.fixture
def federation(db):
    """Three SONs, two of them in maintenance: fewer than m = 2 active."""
    sons = [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]
    SON.objects.filter(name__in=["son-2", "son-3"]).update(status=SON.Status.IN_MAINTENANCE)
    return sons


@pytest.fixture
def mapping(user_carol, federation):
    set_btc_rate("1")
    return make_bitcoin_mapping(user_carol)


def refund_pending(mapping, amount: int = 1_000_000, *, with_tx: bool = True) -> Deposit:
    """A deposit row set aside for a refund (the deposit flow has its own tests), with a
    made-up transaction paying it unless `with_tx` is False."""
    txid, raw_tx = made_up_tx(bytes(mapping.deposit_script_pubkey), amount, vout=1)
    deposit = Deposit.objects.create(
        chain=Sidechain.BITCOIN,
        txid=txid if with_tx else secrets.token_hex(32),
        raw_tx=raw_tx if with_tx else None,
        vout=1,
        amount=amount,
        mapping=mapping,
        user=mapping.user,
        block_hash=secrets.token_hex(32),
        block_height=700,
        status=Deposit.Status.REFUND_PENDING,
        confirmations_required=1,
        detected_at=timezone.now(),
        note=WHY,
    )
    DepositEvent.objects.create(
        deposit=deposit, old_status="confirmed", new_status="refund_pending", note=WHY
    )
    return deposit


def approve(proposal: Proposal, witnesses) -> Proposal:
    for witness in witnesses[:2]:
        proposal = services.proposal_approve(proposal=proposal, witness=witness)
    return proposal


def test_it_raises_one_refund_proposal_per_refund_pending_deposit(mapping):
    deposit = refund_pending(mapping)
    Deposit.objects.create(**{**_fields(deposit), "status": "credited", "rate": 1, "txid": "ab"})

    [proposal] = services.proposal_raise_refunds(feerate=FEERATE)

    assert services.proposal_raise_refunds(feerate=FEERATE) == []
    assert (proposal.kind, proposal.deposit_id, proposal.status) == (
        "refund_deposit",
        deposit.pk,
        "open",
    )
    payload = proposal.payload
    assert payload["destination"] == mapping.withdraw_address
    assert payload["amount"] == 1_000_000
    assert payload["fee"] == FEERATE * payload["vsize"] > 0
    assert payload["refund_amount"] == 1_000_000 - payload["fee"]
    assert payload["why"] == WHY
    assert Proposal.objects.refunds().count() == 1


def _fields(deposit: Deposit) -> dict:
    names = ["chain", "vout", "amount", "mapping", "user", "block_hash", "block_height"]
    names += ["confirmations_required", "detected_at"]
    return {name: getattr(deposit, name) for name in names} | {"credited_amount": 1}


def test_it_raises_a_refund_proposal_again_after_one_expired(mapping):
    deposit = refund_pending(mapping)
    now = timezone.now()
    [first] = services.proposal_raise_refunds(feerate=FEERATE, now=now)

    later = now + timedelta(days=3, seconds=1)
    assert services.proposal_expire_due(now=later) == 1
    [second] = services.proposal_raise_refunds(feerate=FEERATE, now=later)

    assert second.pk != first.pk and second.deposit_id == deposit.pk


def test_it_does_not_pay_a_deposit_orphaned_by_a_reorg(mapping):
    witnesses = make_witnesses(1, 1, 1)
    deposit = refund_pending(mapping)
    [proposal] = services.proposal_raise_refunds(feerate=FEERATE)
    _orphan(deposit, "reorg, fork at height 699")

    proposal = approve(proposal, witnesses)

    assert proposal.status == Proposal.Status.APPROVED  # not executed: the handler refused
    failure = proposal.events.get(kind=ProposalEvent.Kind.FAILED)
    assert "is orphaned, not refund pending" in failure.detail
    assert not SidechainTransaction.objects.exists()
    assert not Refund.objects.exists() and not Coin.objects.exists()
    assert services.proposal_raise_refunds(feerate=FEERATE) == []


def test_it_builds_the_refund_transaction_when_executed(mapping):
    witnesses = make_witnesses(1, 1, 1)
    deposit = refund_pending(mapping)
    [proposal] = services.proposal_raise_refunds(feerate=FEERATE)

    proposal = approve(proposal, witnesses)

    assert proposal.status == Proposal.Status.EXECUTED, proposal.events.last().detail
    refund = Refund.objects.get()
    stx = refund.sidechain_tx
    assert proposal.result.startswith(f"refund transaction #{stx.pk}")
    request = signing_request_for(stx)
    amount = proposal.payload["refund_amount"]
    assert request["withdrawals"] == [
        {"id": f"r-{deposit.pk}", "address": mapping.withdraw_address, "amount": amount}
    ]
    assert request["inputs"] == [
        {
            "txid": deposit.txid,
            "vout": 1,
            "witness_script": bytes(mapping.deposit_witness_script).hex(),
        }
    ]
    assert request["prev_txs"] == {deposit.txid: bytes(deposit.raw_tx).hex()}
    tx = CTransaction.deserialize(bytes(stx.unsigned_tx))
    spk = validate_address(mapping.withdraw_address, "regtest").script_pubkey
    assert [(bytes(o.scriptPubKey), o.nValue) for o in tx.vout] == [(spk, amount)]
    assert (stx.fee, stx.change_amount) == (proposal.payload["fee"], 0)
    coin = Coin.objects.get()
    assert (coin.status, coin.reserved_by_id, coin.deposit_id) == ("reserved", stx.pk, deposit.pk)
    deposit.refresh_from_db()
    assert deposit.status == "refund_pending"
    assert deposit.note == f"refund transaction #{stx.pk} awaiting signatures"
    assert services.proposal_raise_refunds(feerate=FEERATE) == []  # a live refund: none again
    assert not Entry.objects.exists()


def test_it_builds_no_refund_for_a_deposit_without_its_transaction(mapping):
    # Recorded before the listener kept transactions: the signers could not verify its amount.
    witnesses = make_witnesses(1, 1, 1)
    refund_pending(mapping, with_tx=False)
    [proposal] = services.proposal_raise_refunds(feerate=FEERATE)

    proposal = approve(proposal, witnesses)

    assert proposal.status == Proposal.Status.APPROVED  # not executed: the handler refused
    failure = proposal.events.get(kind=ProposalEvent.Kind.FAILED)
    assert "has no stored transaction for the signers" in failure.detail
    assert not SidechainTransaction.objects.exists() and not Coin.objects.exists()


def test_the_proposal_page_shows_the_refund_evidence(client, mapping):
    witnesses = make_witnesses(1, 1, 1)
    deposit = refund_pending(mapping)
    [proposal] = services.proposal_raise_refunds(feerate=FEERATE)
    client.force_login(witnesses[0].user)

    content = client.get(reverse("proposals-detail", args=[proposal.pk])).content.decode()

    assert f"{deposit.txid}:1" in content
    assert WHY in content
    assert mapping.withdraw_address in content
    assert f"{proposal.payload['refund_amount']} sat" in content
    assert "user_carol" in content
    home = client.get(reverse("proposals-home")).content.decode()
    assert "Refund a deposit" in home and WHY in home


# --- On a real node -----------------------------------------------------------------------


def paid(rpc, txid: str) -> dict[bytes, int]:
    tx = CTransaction.deserialize(rpc.get_raw_transaction(txid))
    return {bytes(out.scriptPubKey): out.nValue for out in tx.vout}


def test_it_refunds_a_deposit_end_to_end(chain, mapping, federation, tmp_path):
    rpc = chain.rpc
    witnesses = make_witnesses(1, 1, 1)
    listener_scan(rpc=rpc, max_blocks=1000)
    chain.send([(bytes(mapping.deposit_script_pubkey), 2_000_000)])
    chain.mine(1)
    listener_scan(rpc=rpc)
    deposits_process(rpc=rpc)  # detected -> confirmed -> refund_pending (1 of 3 SONs active)
    deposit = Deposit.objects.get(mapping=mapping)
    assert deposit.status == "refund_pending", deposit.note
    assert "1 of 3 SONs active, 2 needed" in deposit.note

    [proposal] = services.proposal_raise_refunds(feerate=withdrawal_feerate(rpc=rpc))
    assert services.proposal_raise_refunds(feerate=withdrawal_feerate(rpc=rpc)) == []
    proposal = approve(proposal, witnesses)
    assert proposal.status == Proposal.Status.EXECUTED, proposal.events.last().detail
    stx = Refund.objects.get(deposit=deposit).sidechain_tx

    SON.objects.update(status=SON.Status.ACTIVE)  # the SONs are back: they ratify by signing
    first, second, _ = make_signers(tmp_path, federation, mapping.deposit_timelock)
    [request] = first.pending()
    assert request["withdrawals"][0]["id"] == f"r-{deposit.pk}"
    assert first.sign_all()[0].json() == {"accepted": 1, "complete": False}
    assert second.sign_all()[0].json() == {"accepted": 1, "complete": True}
    stx.refresh_from_db()
    assert stx.status == "broadcast", stx.last_error

    chain.mine(2)
    listener_scan(rpc=rpc)  # the portal's own spend of the deposit is no reclaim
    deposit.refresh_from_db()
    assert deposit.status == "refund_pending"
    assert withdrawals_track(rpc=rpc) == 1
    assert refunds_track() == 1
    assert refunds_track() == 0

    deposit.refresh_from_db()
    assert deposit.status == "refunded", deposit.note
    payout = proposal.payload["refund_amount"]
    assert payout == 2_000_000 - stx.fee
    spk = validate_address(mapping.withdraw_address, "regtest").script_pubkey
    assert paid(rpc, stx.txid) == {spk: payout}
    assert [e.new_status for e in deposit.events.all()] == [
        "detected",
        "confirmed",
        "refund_pending",
        "refunded",
    ]
    assert Coin.objects.get(deposit=deposit).status == "spent"
    assert not Entry.objects.exists()  # no pBTC was ever issued for it
    assert ledger_check() == []
