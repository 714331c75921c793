"""pHIVE / pHBD withdrawals against the dev node, signed by the SONs' signer code (its Hive
policy and journal, one per SON, with the SON's own key)."""

import datetime as dt

import pytest

from chains.hive.rpc import HiveRPCError
from devnode.hive.keys import public_key_of
from ledger.models import Entry, LedgerAccount
from ledger.services import balances_of, ledger_account_for, ledger_transfer, system_account
from mappings.services import mapping_set_hive
from sidechains.hive.withdrawals import tracker
from sidechains.hive.withdrawals import transactions as txs
from sidechains.hive.withdrawals.requests import HiveWithdrawalError, hive_withdrawal_request
from sidechains.models import HiveTransaction, Withdrawal
from signer.hive_journal import HiveJournal
from signer.hive_policy import HivePolicy, sign_hive_request
from tests import fixtures
from tests.devnode import helpers
from tests.hive_node import start_hive_devnode
from tests.sidechains import hive_helpers as h

pytestmark = pytest.mark.django_db
SONS = ("son-1", "son-2", "son-3")


def son_public(name: str) -> str:
    return public_key_of(fixtures.son_key(name, "hive"))


@pytest.fixture(scope="module")
def node():
    keys = [[son_public(name), 1] for name in SONS]
    active = {"weight_threshold": 2, "account_auths": [], "key_auths": keys}
    accounts = [
        {
            "name": h.FEDERATION,
            "balance": "1000.000 HIVE",
            "hbd_balance": "100.000 HBD",
            "key": helpers.public_key(h.FEDERATION),
            "active": active,
        }
    ]
    node = start_hive_devnode(block_interval=0, irreversible_lag=h.LAG, accounts=accounts)
    yield node
    node.stop()


@pytest.fixture
def world(node, settings, user_carol, tmp_path):
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
    # TaPoS and expiration count from the last irreversible block, LAG blocks (6 s) behind the
    # head; each generated block moves chain time 3 s.
    settings.HIVE_TX_EXPIRATION = 30
    node.generate_blocks(h.LAG + 1)  # an irreversible block to refer to
    sons = [fixtures.make_son(name)[0] for name in SONS]
    h.set_hive_rates()
    account = h.new_sender(node, "carol")
    mapping_set_hive(user=user_carol, hive_account=account)
    for asset, amount in (("pHIVE", 50_000), ("pHBD", 5_000)):
        ledger_transfer(
            source=system_account(LedgerAccount.System.ISSUANCE),
            destination=ledger_account_for(user_carol),
            asset=asset,
            amount=amount,
            reason=Entry.Reason.DEPOSIT,
            reference=f"test:{asset}",
        )
    with node.rpc() as rpc:
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
    policy = HivePolicy(
        chain_id=chain_id,
        federation_account=h.FEDERATION,
        daily_caps={"HIVE": 10**7, "HBD": 10**6},
        # The dev node's chain time runs 3 s a block: a margin of seconds, not minutes.
        inclusion_margin=5,
    )
    journals = {s.name: HiveJournal(tmp_path / f"{s.name}.sqlite") for s in sons}
    yield {"sons": sons, "account": account, "policy": policy, "journals": journals}
    for journal in journals.values():
        journal.close()


def chain_now(node) -> dt.datetime:
    with node.rpc() as rpc:
        text = rpc.get_dynamic_global_properties()["time"]
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def sign_as(world, node, son, htx) -> str:
    """What SON `son`'s signer answers for the transaction's signing request."""
    verdict = sign_hive_request(
        txs.hive_signing_request(htx),
        policy=world["policy"],
        key=fixtures.son_key(son.name, "hive"),
        journal=world["journals"][son.name],
        now=chain_now(node),
    )
    assert verdict.approved, verdict.reasons
    return verdict.signature


def submit(node, son, htx, signature) -> bool:
    with node.rpc() as rpc:
        authority = txs.federation_authority(rpc)
    return txs.hive_signature_submit(
        son=son, hive_tx_id=htx.pk, signature=signature, authority=authority
    )


def track(node) -> int:
    with node.rpc() as rpc:
        return tracker.hive_withdrawals_track(rpc=rpc)


def batch(node) -> HiveTransaction:
    with node.rpc() as rpc:
        htx = txs.hive_withdrawals_batch(rpc=rpc)
    assert htx is not None
    return htx


def hive_balance(node, name: str, field: str = "balance") -> int:
    with node.rpc() as rpc:
        return helpers.balance(rpc, name, field)


def test_a_withdrawal_is_signed_2_of_3_broadcast_and_settled(node, world, user_carol):
    one = hive_withdrawal_request(
        user=user_carol, pegged="pHIVE", amount_pegged=2_500, request_id="a"
    )
    again = hive_withdrawal_request(
        user=user_carol, pegged="pHIVE", amount_pegged=2_500, request_id="a"
    )
    two = hive_withdrawal_request(
        user=user_carol, pegged="pHBD", amount_pegged=1_000, request_id="b"
    )
    assert again.pk == one.pk
    assert balances_of(user_carol)["pHIVE"] == 47_500
    before = (
        hive_balance(node, world["account"]),
        hive_balance(node, world["account"], "hbd_balance"),
    )
    htx = batch(node)
    son_1, son_2, _ = world["sons"]
    assert not submit(node, son_1, htx, sign_as(world, node, son_1, htx))
    assert submit(node, son_2, htx, sign_as(world, node, son_2, htx))  # son-3 is down
    htx.refresh_from_db()
    assert htx.status == "signed" and len(htx.signatures) == 2
    track(node)  # broadcast
    assert Withdrawal.objects.get(pk=one.pk).status == "broadcast"
    h.make_irreversible(node)
    track(node)  # confirmed
    htx.refresh_from_db()
    assert htx.status == "confirmed"
    assert {w.status for w in Withdrawal.objects.filter(pk__in=[one.pk, two.pk])} == {"settled"}
    assert hive_balance(node, world["account"]) == before[0] + 2_500
    assert hive_balance(node, world["account"], "hbd_balance") == before[1] + 1_000


def test_a_tampered_signature_or_another_sons_key_is_refused_before_broadcast(
    node, world, user_carol
):
    hive_withdrawal_request(user=user_carol, pegged="pHIVE", amount_pegged=2_000, request_id="t")
    htx = batch(node)
    son_1, son_2, _ = world["sons"]
    good = sign_as(world, node, son_1, htx)
    tampered = good[:-2] + ("00" if good[-2:] != "00" else "01")
    with pytest.raises(txs.HiveSigningError):
        submit(node, son_1, htx, tampered)
    with pytest.raises(txs.HiveSigningError):
        submit(node, son_2, htx, good)  # son-1's signature offered as son-2's
    assert htx.son_signatures.count() == 0


def test_one_signature_of_three_is_missing_authority_on_the_node(node, world, user_carol):
    hive_withdrawal_request(user=user_carol, pegged="pHIVE", amount_pegged=2_000, request_id="m")
    htx = batch(node)
    son_1 = world["sons"][0]
    signature = sign_as(world, node, son_1, htx)
    assert not submit(node, son_1, htx, signature)
    htx.refresh_from_db()
    assert htx.status == "awaiting_signatures"
    assert track(node) == 0  # nothing to send
    with node.rpc() as rpc, pytest.raises(HiveRPCError) as refused:
        rpc.broadcast_transaction({**htx.tx, "signatures": [signature]})
    assert refused.value.name == "tx_missing_active_auth"


def test_an_expired_unincluded_transaction_is_rebuilt_once_irreversible_and_pays_once(
    node, world, user_carol
):
    w = hive_withdrawal_request(
        user=user_carol, pegged="pHIVE", amount_pegged=3_000, request_id="e"
    )
    before = hive_balance(node, world["account"])
    first = batch(node)
    son_1, son_2, _ = world["sons"]
    for son in (son_1, son_2):
        submit(node, son, first, sign_as(world, node, son, first))
    # The broadcast is lost: chain time passes the expiration (3 s a block).
    # 9 blocks: the head (LAG blocks, 6 s, past the reference) is beyond the expiration, the
    # last irreversible block is not.
    node.generate_blocks(9)
    assert track(node) == 0  # expired, but its expiration block is not irreversible yet
    first.refresh_from_db()
    assert first.status == "signed"
    node.generate_blocks(h.LAG)
    assert track(node) == 1
    first.refresh_from_db()
    assert first.status == "expired"
    second = first.rebuilt_as
    assert second.trx_id != first.trx_id
    for son in (son_1, son_2):
        submit(node, son, second, sign_as(world, node, son, second))
    track(node)
    h.make_irreversible(node)
    track(node)
    w.refresh_from_db()
    assert w.status == "settled"
    assert hive_balance(node, world["account"]) == before + 3_000
    # The old transaction, re-sent now, is refused by the node: expired.
    with node.rpc() as rpc, pytest.raises(HiveRPCError, match="expired"):
        rpc.broadcast_transaction(tracker.signed_transaction(first))


def test_a_withdrawal_that_expires_too_often_returns_its_escrow(node, world, user_carol, settings):
    settings.HIVE_TX_MAX_REBUILDS = 0
    w = hive_withdrawal_request(user=user_carol, pegged="pHBD", amount_pegged=1_500, request_id="f")
    assert balances_of(user_carol)["pHBD"] == 3_500
    batch(node)
    node.generate_blocks(22 + h.LAG)
    track(node)
    w.refresh_from_db()
    assert w.status == "failed"
    assert balances_of(user_carol)["pHBD"] == 5_000


@pytest.mark.parametrize(
    ("pegged", "amount", "message"),
    [
        ("pBTC", 5_000, "pHIVE or pHBD"),
        ("pHIVE", 0, "greater than zero"),
        ("pHIVE", 999, "smallest withdrawal"),
        ("pHIVE", 60_000, "balance"),
    ],
)
def test_it_refuses_bad_requests_and_escrows_nothing(world, user_carol, pegged, amount, message):
    with pytest.raises(HiveWithdrawalError, match=message):
        hive_withdrawal_request(
            user=user_carol, pegged=pegged, amount_pegged=amount, request_id="x"
        )
    assert not Withdrawal.objects.exists()
    assert balances_of(user_carol)["pHIVE"] == 50_000


def test_the_withdrawals_api_takes_phive_with_three_places(world, user_carol):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user_carol)
    body = {"asset": "pHIVE", "amount": "2.500", "request_id": "api-1"}
    first = client.post("/api/v1/withdrawals", body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["amount"] == "2.500" and first.json()["address"] == world["account"]
    again = client.post("/api/v1/withdrawals", body, format="json")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    bad = client.post(
        "/api/v1/withdrawals",
        {"asset": "pHIVE", "amount": "2.5001", "request_id": "api-2"},
        format="json",
    )
    assert bad.status_code == 400 and "amount" in bad.json()
    assert balances_of(user_carol)["pHIVE"] == 47_500


def test_a_deposit_made_while_sons_were_down_is_refunded_through_the_signers(
    node, world, user_carol
):
    from proposals.models import Proposal
    from proposals.services import proposal_approve, proposals_tick
    from sidechains.hive import deposits, listener
    from sidechains.models import HiveDeposit
    from sons.models import SON
    from tests.proposals.helpers import make_witnesses

    with node.rpc() as rpc:
        listener.listener_scan(rpc=rpc)
    SON.objects.filter(name__in=["son-2", "son-3"]).update(status=SON.Status.IN_MAINTENANCE)
    sender = world["account"]
    h.send(node, sender, h.transfer_op(sender, 4_000, memo="to:user_carol"))
    h.make_irreversible(node)
    with node.rpc() as rpc:
        listener.listener_scan(rpc=rpc)
    deposits.hive_deposits_process()
    deposit = HiveDeposit.objects.get()
    assert deposit.status == "refund_pending"
    before = hive_balance(node, sender)

    [alice] = make_witnesses(1)
    assert proposals_tick()["hive_refunds"] == 1
    assert proposals_tick()["hive_refunds"] == 0  # one pending proposal per deposit
    proposal = Proposal.objects.get(kind="refund_hive_deposit")
    proposal_approve(proposal=proposal, witness=alice)
    deposit.refresh_from_db()
    assert deposit.status == "refunding"

    htx = batch(node)
    son_1, son_2, _ = world["sons"]  # their signers sign whatever the portal's SON status
    for son in (son_1, son_2):
        submit(node, son, htx, sign_as(world, node, son, htx))
    assert txs.hive_signing_request(htx)["withdrawals"][0]["id"] == f"r-{deposit.pk}"
    track(node)
    h.make_irreversible(node)
    track(node)
    deposit.refresh_from_db()
    assert deposit.status == "refunded"
    assert hive_balance(node, sender) == before + 4_000
    assert balances_of(user_carol)["pHIVE"] == 50_000  # never credited
