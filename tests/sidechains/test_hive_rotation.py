"""Rotating the Hive federation with real signer processes and the Hive dev node: the
federation account's active authority is updated by an account_update that the old set signs,
a signer without the new version in its configuration refuses it, and afterwards a withdrawal
signed by the new set lands while one signed by the old set is refused by the node. The owner
authority, which on Hive also signs for active, moves with the federation when the old set held
it, and is left alone otherwise."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib

import pytest
from django.db import transaction
from django.urls import reverse

from chains.hive import transactions as portal_tx
from chains.hive.rpc import HiveRPCError
from devnode.hive.keys import public_key_of
from devnode.hive.transactions import sign_digest
from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from mappings.services import mapping_set_hive
from proposals import services as proposals
from proposals.models import Proposal
from sidechains import tasks
from sidechains.hive import rotation as rotation_module
from sidechains.hive.rotation import same_authority
from sidechains.hive.withdrawals import transactions as txs
from sidechains.hive.withdrawals.requests import hive_withdrawal_request
from sidechains.models import HiveTransaction
from sonportal.health import check_hive
from sons import services as son_services
from sons.federation import federation_current, federation_version_record
from sons.models import SON, FederationVersion, Sidechain
from tests import fixtures
from tests.devnode import helpers
from tests.hive_node import start_hive_devnode
from tests.proposals.helpers import make_witnesses
from tests.sidechains import hive_helpers as h
from tests.sidechains.test_hive_withdrawals import SONS, hive_balance, son_public
from tests.sidechains.test_withdrawals_signers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
NEW_SET = ("son-1", "son-2", "son-4")


@pytest.fixture
def node(request):
    """A fresh node per test: a rotation changes the federation account for good. The old set
    (son-1..3, 2 of 3) is the account's active and owner authority, as the demo sets it up;
    parametrized with "cold", the owner is a key no SON holds."""
    active = {
        "weight_threshold": 2,
        "account_auths": [],
        "key_auths": [[son_public(n), 1] for n in SONS],
    }
    owner = helpers.multisig(1, "cold-owner") if getattr(request, "param", "") == "cold" else active
    spec = {
        "name": h.FEDERATION,
        "balance": "1000.000 HIVE",
        "key": helpers.public_key(h.FEDERATION),
        "active": active,
        "owner": owner,
    }
    node = start_hive_devnode(block_interval=0, irreversible_lag=h.LAG, accounts=[spec])
    node.generate_blocks(h.LAG + 1)
    yield node
    node.stop()


@pytest.fixture
def signers(live_server, node, settings, tmp_path):
    """son-1..3 are the active Hive (and Bitcoin) version; son-4 joined (not in it yet). Every
    signer but son-3's has the version of son-1, son-2 and son-4 in its configuration."""
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
    with node.rpc() as rpc:
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
    new = {"keys": [son_public(n) for n in NEW_SET], "threshold": 2}

    def section(name: str) -> dict:
        accepted = [] if name == "son-3" else [new]
        return {
            "chain_id": chain_id,
            "federation_account": h.FEDERATION,
            "daily_caps": {"HIVE": 10**7, "HBD": 10**6},
            "journal": "hive-journal.sqlite",
            "accepted_federations": accepted,
        }

    common = {"portal_url": live_server.url, "folder": tmp_path, "hive": section}
    common["network"] = settings.BITCOIN_NETWORK
    processes = h.signer_processes(names=SONS, **common)
    old = federation_current(Sidechain.HIVE)
    federation_current(Sidechain.BITCOIN)  # recorded too: both sidechains' sets are son-1..3
    processes |= h.signer_processes(names=("son-4",), **common)
    yield processes, old
    for process in processes.values():
        process.stop()


@pytest.fixture
def world(signers):
    """As `signers`, and the witnesses accepted the version of son-1, son-2 and son-4."""
    processes, old = signers
    keys = [fixtures.son_key(n, "hive").public_key.format().hex() for n in NEW_SET]
    version = federation_version_record(sidechain=Sidechain.HIVE, keys=keys)
    FederationVersion.objects.filter(pk=version.pk).update(status="accepted")
    return processes, old, version


def test_witnesses_approve_a_hive_rotation_proposal_and_the_move_activates_it(node, signers):
    """son-3 deregistered: the proposals tick raises one Hive rotation proposal (and one for
    Bitcoin, each sidechain its own), approved by the witnesses it accepts the version, which
    the Hive move then puts on the node."""
    processes, old = signers
    with transaction.atomic():
        son_services.son_deregister(son=SON.objects.get(name="son-3"), reason="test")
    assert proposals.proposals_tick()["rotations"] == 2
    assert proposals.proposals_tick()["rotations"] == 0  # one pending per sidechain
    proposal = Proposal.objects.rotations().get(payload__sidechain=Sidechain.HIVE)
    payload = proposal.payload
    assert (payload["leaving"], payload["joining"]) == (["son-3"], ["son-4"])
    assert payload["from"] == {"fingerprint": old.fingerprint, "keys": old.keys, "threshold": 2}
    version = FederationVersion.objects.get(
        sidechain=Sidechain.HIVE, fingerprint=payload["to"]["fingerprint"]
    )
    assert sorted(hive_public(k) for k in version.keys) == sorted(map(son_public, NEW_SET))
    assert (version.status, payload["coins"]) == ("proposed", 0)

    alice, bob, _ = make_witnesses(1, 1, 1)
    proposals.proposal_approve(proposal=proposal, witness=alice)
    assert proposals.proposal_approve(proposal=proposal, witness=bob).status == "executed"
    version.refresh_from_db()
    assert version.status == "accepted"
    bitcoin = Proposal.objects.rotations().get(payload__sidechain=Sidechain.BITCOIN)
    assert bitcoin.status == "open"  # the Bitcoin one is decided on its own

    processes["son-1"].start()
    processes["son-2"].start()
    wait_for(lambda: _reports("son-1", "son-2", version=version), processes, 30, "heartbeats")
    tasks.hive_withdrawals()
    rotation = HiveTransaction.objects.get(federation_version=version)
    wait_for(lambda: _status(rotation) == "broadcast", processes, 30, "the rotation's broadcast")
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    version.refresh_from_db()
    old.refresh_from_db()
    assert (version.status, old.status) == ("active", "retired")
    assert proposals.proposals_tick()["rotations"] == 0  # the SONs' keys are the active set


def hive_public(key_hex: str) -> str:
    return portal_tx.public_key_text(key_hex)


def test_the_old_set_rotates_the_authority_and_only_the_new_set_can_pay(
    node, world, user_carol, client
):
    signers, old, version = world
    # The signers' heartbeats say which Hive versions their configurations accept: son-1's
    # has the new one, son-3's does not. One of the old set is fewer than its m (2): the move
    # does not start, and the rotation page says who is missing.
    signers["son-1"].start()
    signers["son-3"].start()
    wait_for(lambda: _reports("son-1", version=version), signers, 30, "son-1's heartbeat")
    wait_for(lambda: _heard("son-3"), signers, 30, "son-3's heartbeat")
    assert SON.objects.get(name="son-3").accepted_hive_federations == []
    tasks.hive_withdrawals()
    assert not HiveTransaction.objects.exists()
    client.force_login(SON.objects.get(name="son-1").owner)  # its operator sees the page
    card = _card(client, version)
    assert 'data-testid="accepted">son-1 <span class="muted">(not yet: son-2, son-4)' in card
    assert 'data-testid="consent">son-1 <span class="muted">(2 needed' in card

    # son-2's signer reports it too (son-1's is stopped meanwhile: its report stands): built.
    signers["son-1"].stop()
    signers["son-2"].start()
    wait_for(lambda: _reports("son-2", version=version), signers, 30, "son-2's heartbeat")
    tasks.hive_withdrawals()
    rotation = HiveTransaction.objects.get(federation_version=version)
    new_authority = portal_tx.authority([son_public(n) for n in NEW_SET], 2)
    body = rotation.tx["operations"][0][1]
    assert body["owner"] == body["active"] == new_authority  # the old set holds the owner
    assert 'data-testid="consent">son-1, son-2 <span' in _card(client, version)
    # son-3 has not accepted the version: it refuses with its reason and signs nothing.
    wait_for(lambda: "VERSION_NOT_ACCEPTED" in _note(rotation), signers, 30, "son-3's refusal")
    wait_for(lambda: rotation.son_signatures.exists(), signers, 30, "son-2's signature")
    assert list(rotation.son_signatures.values_list("son__name", flat=True)) == ["son-2"]
    signers["son-1"].start()
    wait_for(lambda: _status(rotation) == "broadcast", signers, 30, "the rotation's broadcast")
    assert rotation.trx_id in _card(client, version)
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    version.refresh_from_db()
    old.refresh_from_db()
    assert (version.status, old.status) == ("active", "retired")
    with node.rpc() as rpc:
        [account] = rpc.get_accounts([h.FEDERATION])
    assert same_authority(account["active"], new_authority)
    assert same_authority(account["owner"], new_authority)  # son-3 keeps no owner key
    healthy = check_hive()
    assert healthy is not None and healthy.ok, healthy
    assert f"active authority is federation version {version.pk}" in healthy.detail

    # From here on only son-1 of the old set signs: the payout waits for son-4, the joiner.
    signers["son-2"].stop()
    signers["son-3"].stop()
    withdrawal = _requested(node, user_carol, 3_000)
    tasks.hive_withdrawals()
    payout = HiveTransaction.objects.get(payouts__withdrawal=withdrawal)
    # A quorum of the old set (son-1 and son-3) no longer meets the authority, neither the
    # active one nor the owner one (which hived also takes for active).
    assert _status(payout) == "awaiting_signatures"
    with pytest.raises(HiveRPCError) as refused:
        _broadcast_signed_by(node, payout, "son-1", "son-3")
    assert refused.value.name == "tx_missing_active_auth"
    before = hive_balance(node, withdrawal.address)
    signers["son-4"].start()
    wait_for(lambda: _status(payout) == "broadcast", signers, 30, "the withdrawal's broadcast")
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "settled"
    assert hive_balance(node, withdrawal.address) == before + 3_000
    assert "refused request" not in signers["son-4"].output()


@pytest.mark.parametrize("node", ["cold"], indirect=True)
def test_an_owner_the_federation_does_not_hold_is_left_alone(node, world):
    """The owner is a cold key no SON holds: the SONs cannot sign for it, so the rotation sets
    only the active authority, signed by the old set, as before."""
    signers, old, version = world
    signers["son-1"].start()
    signers["son-2"].start()
    wait_for(lambda: _reports("son-1", "son-2", version=version), signers, 30, "heartbeats")
    tasks.hive_withdrawals()
    rotation = HiveTransaction.objects.get(federation_version=version)
    assert "owner" not in rotation.tx["operations"][0][1]
    wait_for(lambda: _status(rotation) == "broadcast", signers, 30, "the rotation's broadcast")
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    version.refresh_from_db()
    old.refresh_from_db()
    assert (version.status, old.status) == ("active", "retired")
    with node.rpc() as rpc:
        [account] = rpc.get_accounts([h.FEDERATION])
    new_authority = portal_tx.authority([son_public(n) for n in NEW_SET], 2)
    assert same_authority(account["active"], new_authority)
    assert same_authority(account["owner"], helpers.multisig(1, "cold-owner"))
    assert check_hive().ok


@pytest.mark.parametrize("node", ["cold"], indirect=True)
def test_an_owner_change_is_complete_with_signatures_meeting_the_owner_authority(node, world):
    """hived requires only the owner authority for an account_update that changes the owner:
    the portal counts the signatures of such a rotation against it, not against active."""
    _signers, _old, version = world
    _reported_by(version, "son-1", "son-2")
    tasks.hive_withdrawals()
    rotation = HiveTransaction.objects.get(federation_version=version)
    with node.rpc() as rpc:
        [account] = rpc.get_accounts([h.FEDERATION])
        assert txs.federation_authority(rpc, hive_tx_id=rotation.pk) == account["active"]
        tx = copy.deepcopy(rotation.tx)
        tx["operations"][0][1]["owner"] = tx["operations"][0][1]["active"]
        HiveTransaction.objects.filter(pk=rotation.pk).update(tx=tx)
        assert txs.federation_authority(rpc, hive_tx_id=rotation.pk) == account["owner"]
        assert txs.federation_authority(rpc) == account["active"]  # a withdrawal's


def test_the_owner_rotation_waits_out_hiveds_hour_between_owner_changes(node, world, monkeypatch):
    """hived takes one owner change an hour: a rotation that moves the owner is not built
    within the hour after the last one (it would only be refused), rather than built without
    the owner."""
    _signers, _old, version = world
    _reported_by(version, "son-1", "son-2")
    with node.rpc() as rpc:
        [account] = rpc.get_accounts([h.FEDERATION])
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
        head = rpc.get_dynamic_global_properties()
    same = account["owner"]
    tx = portal_tx.authority_update_transaction(
        account=h.FEDERATION,
        active=account["active"],
        owner=same,  # the owner set again as it is: a change of the owner all the same
        memo_key=account["memo_key"],
        reference_block_id=head["head_block_id"],
        reference_time=portal_tx_time(head["time"]),
        expires_in=dt.timedelta(seconds=60),
    )
    _broadcast(node, tx, chain_id, "son-1", "son-2")
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    assert not HiveTransaction.objects.exists()
    monkeypatch.setattr(rotation_module, "OWNER_UPDATE_LIMIT", dt.timedelta(0))  # "an hour on"
    tasks.hive_withdrawals()
    body = HiveTransaction.objects.get(federation_version=version).tx["operations"][0][1]
    assert body["owner"] == body["active"]


def _broadcast_signed_by(node, htx: HiveTransaction, *names: str) -> None:
    _broadcast(node, htx.tx, htx.chain_id, *names)


def _broadcast(node, tx: dict, chain_id: str, *names: str) -> None:
    digest = hashlib.sha256(portal_tx.signing_message(tx, chain_id)).digest()
    keys = [fixtures.son_key(n, "hive") for n in names]
    assert {public_key_of(k) for k in keys} == {son_public(n) for n in names}
    signatures = [sign_digest(digest, key).hex() for key in keys]
    with node.rpc() as rpc:
        rpc.broadcast_transaction({**tx, "signatures": signatures})


def _requested(node, user, amount: int):
    h.set_hive_rates()
    account = h.new_sender(node, "payee")
    mapping_set_hive(user=user, hive_account=account)
    ledger_transfer(
        source=system_account(LedgerAccount.System.ISSUANCE),
        destination=ledger_account_for(user),
        asset="pHIVE",
        amount=amount,
        reason=Entry.Reason.DEPOSIT,
        reference="test:rotation",
    )
    return hive_withdrawal_request(user=user, pegged="pHIVE", amount_pegged=amount, request_id="r")


def _reports(*names: str, version: FederationVersion) -> bool:
    """Each SON's signer reported the Hive version accepted (its last heartbeat)."""
    return all(SON.objects.get(name=name).accepts(version) for name in names)


def _heard(name: str) -> bool:
    return SON.objects.get(name=name).last_heartbeat_at is not None


def _reported_by(version: FederationVersion, *names: str) -> None:
    """What those SONs' signers' heartbeats would say, for tests that start no signer."""
    SON.objects.filter(name__in=names).update(accepted_hive_federations=[version.fingerprint])


def _card(client, version: FederationVersion) -> str:
    """The version's card on the rotation page."""
    page = client.get(reverse("proposals-rotation")).content.decode()
    return page.split(f'data-testid="version-{version.pk}"')[1].split("</section>")[0]


def _status(htx: HiveTransaction) -> str:
    htx.refresh_from_db(fields=["status"])
    return htx.status


def _note(htx: HiveTransaction) -> str:
    htx.refresh_from_db(fields=["note"])
    return htx.note


def test_an_unsigned_rotation_is_built_anew_after_expiring(node, world, settings):
    settings.HIVE_TX_EXPIRATION = 30
    _signers, old, version = world
    _reported_by(version, "son-1", "son-2")
    tasks.hive_withdrawals()
    first = HiveTransaction.objects.get(federation_version=version)
    node.generate_blocks(11 + h.LAG)  # 3 s of chain time a block: past its expiration
    tasks.hive_withdrawals()
    assert _status(first) == "expired"
    tasks.hive_withdrawals()
    second = HiveTransaction.objects.exclude(pk=first.pk).get(federation_version=version)
    assert second.status == "awaiting_signatures" and second.trx_id != first.trx_id
    version.refresh_from_db()
    old.refresh_from_db()
    assert (version.status, old.status) == ("accepted", "active")


def test_a_rotation_holds_back_withdrawals_but_after_it_expires_they_go_first(
    node, world, user_carol, settings
):
    settings.HIVE_TX_EXPIRATION = 30
    _signers, _old, version = world
    _reported_by(version, "son-1", "son-2")
    withdrawal = _requested(node, user_carol, 1_000)
    tasks.hive_withdrawals()
    rotation = HiveTransaction.objects.get(federation_version=version)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "requested"  # no batch while the rotation is live
    node.generate_blocks(11 + h.LAG)
    tasks.hive_withdrawals()
    assert _status(rotation) == "expired"
    tasks.hive_withdrawals()
    batch = HiveTransaction.objects.exclude(pk=rotation.pk).get()
    assert batch.federation_version is None
    assert list(batch.payouts.values_list("withdrawal", flat=True)) == [withdrawal.pk]


def test_a_version_the_node_already_has_is_activated_without_a_transaction(node, world):
    _signers, old, version = world
    with node.rpc() as rpc:
        [account] = rpc.get_accounts([h.FEDERATION])
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
        head = rpc.get_dynamic_global_properties()
    tx = portal_tx.authority_update_transaction(
        account=h.FEDERATION,
        active=portal_tx.authority([son_public(n) for n in NEW_SET], 2),
        memo_key=account["memo_key"],
        reference_block_id=head["head_block_id"],
        reference_time=portal_tx_time(head["time"]),
        expires_in=dt.timedelta(seconds=60),
    )
    _broadcast(node, tx, chain_id, "son-1", "son-2")  # by hand, by the old set
    h.make_irreversible(node)
    tasks.hive_withdrawals()
    assert not HiveTransaction.objects.exists()
    version.refresh_from_db()
    old.refresh_from_db()
    assert (version.status, old.status) == ("active", "retired")


def portal_tx_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("node", ["cold"], indirect=True)
def test_the_health_check_says_when_the_hive_authority_is_not_the_active_version(node, signers):
    """The federation account's active authority on the node is compared with the active Hive
    version: equal, the check passes and says which version; changed outside the portal (here,
    the database believes in another set), it fails and says so. (The owner is a cold key here:
    an owner of the old set would be reported first, its son-3 being outside the version.)"""
    _processes, old = signers
    ok = check_hive()
    assert ok is not None and ok.ok, ok
    assert f"active authority is federation version {old.pk}" in ok.detail

    keys = [fixtures.son_key(n, "hive").public_key.format().hex() for n in NEW_SET]
    other = federation_version_record(sidechain=Sidechain.HIVE, keys=keys)
    FederationVersion.objects.filter(pk=old.pk).update(status="retired")
    FederationVersion.objects.filter(pk=other.pk).update(status="active")
    wrong = check_hive()
    assert wrong is not None and not wrong.ok
    assert f"is not federation version {other.pk}" in wrong.error


def test_the_health_check_fails_while_a_son_outside_the_federation_holds_the_owner(settings):
    """On Hive the owner authority also signs for active: a SON that left and still holds the
    owner key could move the account's funds after the rotation. The check names its key."""
    new_authority = {
        "weight_threshold": 2,
        "account_auths": [],
        "key_auths": [[son_public(n), 1] for n in NEW_SET],
    }
    owner = {"weight_threshold": 1, "account_auths": [], "key_auths": [[son_public("son-3"), 1]]}
    spec = {
        "name": h.FEDERATION,
        "balance": "10.000 HIVE",
        "key": helpers.public_key(h.FEDERATION),
        "active": new_authority,
        "owner": owner,
    }
    node = start_hive_devnode(block_interval=0, irreversible_lag=h.LAG, accounts=[spec])
    try:
        settings.HIVE_NODE_URL = node.url
        settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
        hex_keys = {n: fixtures.son_key(n, "hive").public_key.format().hex() for n in SONS}
        hex_keys["son-4"] = fixtures.son_key("son-4", "hive").public_key.format().hex()
        old = federation_version_record(sidechain=Sidechain.HIVE, keys=[hex_keys[n] for n in SONS])
        new = federation_version_record(
            sidechain=Sidechain.HIVE, keys=[hex_keys[n] for n in NEW_SET]
        )
        FederationVersion.objects.filter(pk=old.pk).update(status="retired")
        FederationVersion.objects.filter(pk=new.pk).update(status="active")

        held = check_hive()

        assert held is not None and not held.ok
        assert f"owner authority holds the key(s) {son_public('son-3')} of SONs" in held.error
    finally:
        node.stop()
