"""A rotation signed by real signer processes (`python -m signer serve --config ...`), each with
its own key file, configuration and journal, against the live portal, PostgreSQL and bcoin:
the move waits for the old set's consent, a request naming keys no configuration lists is
refused by every signer, and once the operators ran `signer federation add` the test spend,
the activation and the sweeps go through and son-3's key holds nothing on chain
(docs/rotation.md)."""

from __future__ import annotations

import json

import coincurve
import pytest
from django.db import transaction

from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey
from proposals import services as proposals
from proposals.models import Proposal
from sidechains.bitcoin import rotation
from sidechains.models import Coin, SidechainTransaction, SignerRefusal, TxSignature
from signer.keystore import Keys, save
from sons import services as son_services
from sons.federation import federation_current, federation_version_record
from sons.models import SON, FederationVersion
from tests import fixtures
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sidechains.rotation_helpers import (
    accept,
    cli,
    drive,
    register_son_4,
    reports,
    signer_process,
    son_3_outputs_unspent,
    wallet_coins,
)
from tests.sidechains.test_withdrawals_signers import PASSPHRASE, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status
VS = FederationVersion.Status


@pytest.fixture
def world(live_server, chain, user_carol, tmp_path):
    sons = {name: fixtures.make_son(name) for name in ("son-1", "son-2", "son-3")}
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    processes = {}
    yield sons, mapping, processes
    for process in processes.values():
        process.stop()


# Long because it is one rotation through real processes, step by step.
def test_real_signers_rotate_only_to_a_version_their_operators_accepted(
    world, live_server, chain, tmp_path
):
    sons, mapping, processes = world
    v1, start = federation_current(), chain.rpc.get_block_count()
    wallet_coins(chain, bytes(v1.wallet_script), 5)
    with transaction.atomic():
        son_services.son_deregister(son=sons["son-3"][0], reason="deregistered by the witnesses")
    son_4_key = tmp_path / "son-4.key"
    public = json.loads(cli("keygen", "--out", str(son_4_key)))
    son_4, token_4 = register_son_4(public)
    proposals.proposals_tick()
    alice, bob = make_witnesses(1, 1)
    proposal = Proposal.objects.rotations().get()
    proposals.proposal_approve(proposal=proposal, witness=alice)
    proposals.proposal_approve(proposal=proposal, witness=bob)
    v2 = FederationVersion.objects.get(status=VS.ACCEPTED)

    timelock = mapping.deposit_timelock
    for name in ("son-1", "son-2"):
        keys_file = tmp_path / f"{name}.key"
        keys = Keys(fixtures.son_key(name), fixtures.son_key(name, "hive"))
        save(keys_file, keys, PASSPHRASE, n=2**10)
        processes[name] = signer_process(
            live_server, tmp_path, name, sons[name][1], keys_file, v1.keys, timelock
        )
    processes["son-4"] = signer_process(
        live_server, tmp_path, "son-4", token_4, son_4_key, v2.keys, timelock
    )
    out = accept(processes["son-1"], v2)
    assert v2.short_fingerprint() in out
    for process in processes.values():
        if process.process is None:
            process.start()
    wait_for(lambda: reports("son-1", v2) and reports("son-4", v2), processes, 30, "heartbeats")

    # son-2 has not accepted version 2: the old set cannot consent, nothing is built.
    assert not reports("son-2", v2)
    rotation.rotation_process(rpc=chain.rpc)
    assert not SidechainTransaction.objects.exists()

    # A portal request moving coins to keys no configuration lists: every signer refuses.
    evil = federation_version_record(
        sidechain="bitcoin",
        keys=[coincurve.PrivateKey().public_key.format().hex() for _ in range(3)],
    )
    coin = Coin.objects.order_by("pk").first()
    with transaction.atomic():
        bad = rotation._persist([coin], evil, 2, "rotation_sweep", "sweep", "portal says", v1)
    refusals = SignerRefusal.objects.filter(sidechain_tx=bad)
    wait_for(lambda: refusals.count() == 3, processes, 30, "three refusals")
    assert all("VERSION_NOT_ACCEPTED" in r.reasons for r in refusals)
    assert not TxSignature.objects.filter(sidechain_tx=bad).exists()
    SidechainTransaction.objects.filter(pk=bad.pk).update(status=STX.FAILED)  # as a failure does
    Coin.objects.filter(pk=coin.pk).update(status=Coin.Status.AVAILABLE, reserved_by=None)

    # son-2's operator accepts too: the test spend, activation and sweeps go through.
    accept(processes["son-2"], v2)
    wait_for(lambda: reports("son-2", v2), processes, 30, "son-2's heartbeat")
    drive(chain, processes, lambda: FederationVersion.objects.get(pk=v1.pk).status == VS.RETIRED)

    assert federation_current().pk == v2.pk
    back = SidechainTransaction.objects.filter(kind="rotation_test").order_by("pk")[1]
    assert back.status == STX.CONFIRMED
    assert back.signatures.exists()
    keys = [bytes.fromhex(k) for k in v1.keys]
    scripts = {p2wsh_script_pubkey(federation_witness_script(keys))}
    assert son_3_outputs_unspent(chain, start + 1, scripts) == []
    assert SON.objects.get(name="son-4").pk == son_4.pk
