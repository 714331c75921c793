"""A federation rotation on Bitcoin, end to end on real PostgreSQL, bcoin and the SONs' real
signer processes (`python -m signer serve`, each with its own key file, configuration and
journal, against the live portal): son-3 leaves, son-4 (keys from `signer keygen`) joins, the
witnesses approve, the operators of son-1 and son-2 accept version 2 with `signer federation
add`, the test spend proves the new set signs, the 40 coins of version 1 are swept in batches
while a withdrawal completes once, a late deposit to a version-1 address is credited and swept,
and afterwards no coin on chain is under a script holding son-3's key (docs/rotation.md)."""

import json
import shutil
from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.urls import reverse

from chains.bitcoin.federation import (
    deposit_witness_script,
    federation_witness_script,
    p2wsh_script_pubkey,
)
from ledger.services import balances_of
from mappings.models import SidechainAddress
from mappings.services import mapping_set_bitcoin
from proposals import services as proposals
from proposals.models import Proposal
from sidechains.bitcoin.rotation import rotation_process, version_holdings, version_of
from sidechains.bitcoin.withdrawals.builder import script_pubkey, withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.signatures import signing_request_for
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Coin, RotationStep, SidechainTransaction, TxSignature, Withdrawal
from signer import config as signer_config
from signer.journal import Journal
from signer.keystore import Keys, save
from signer.policy import VERSION_NOT_ACCEPTED
from signer.signing import sign_request
from sons import services as son_services
from sons.federation import federation_current
from sons.models import FederationVersion
from tests import fixtures
from tests.mappings.helpers import new_key, regtest_p2wpkh
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import credit_for, set_btc_rate
from tests.sidechains.rotation_helpers import (
    accept,
    cli,
    config_path,
    drive,
    payments_to,
    register_son_4,
    reports,
    signer_process,
    son_3_outputs_unspent,
    wallet_coins,
)
from tests.sidechains.test_withdrawals_signers import PASSPHRASE, wait_for
from tests.sidechains.withdrawal_helpers import credit, deposit_on_chain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status
VS = FederationVersion.Status
COINS = 40  # the count
BATCH = 15


def settle(chain, processes, stx: SidechainTransaction) -> SidechainTransaction:
    """The transaction signed by the running signers, sent, mined and settled."""
    wait_for(lambda: _status(stx) == STX.BROADCAST, processes, 30, f"{stx.kind}'s broadcast")
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) >= 1
    stx.refresh_from_db()
    assert stx.status == STX.CONFIRMED
    return stx


def _status(stx: SidechainTransaction) -> str:
    stx.refresh_from_db(fields=["status", "last_error"])
    return stx.status


@pytest.fixture
def world(live_server, chain, user_carol, tmp_path, settings):
    settings.BITCOIN_ROTATION_BATCH_SIZE = BATCH
    sons = {name: fixtures.make_son(name) for name in ("son-1", "son-2", "son-3")}
    set_btc_rate("1")
    user_key = new_key()
    mapping, _ = mapping_set_bitcoin(
        user=user_carol,
        deposit_public_key=user_key.public_key.format().hex(),
        withdraw_address=regtest_p2wpkh(),
    )
    processes = {}
    yield sons, mapping, processes
    for process in processes.values():
        process.stop()


# Long because it is the whole rotation, step by step, with what each step must show.
def test_a_rotation_moves_every_coin_away_from_the_leaving_sons_key(
    world, live_server, chain, tmp_path, client
):
    sons, mapping, processes = world
    son_3 = sons["son-3"][0]
    rpc = chain.rpc
    start = rpc.get_block_count()
    v1 = federation_current()
    timelock = mapping.deposit_timelock
    wallet_coins(chain, bytes(v1.wallet_script), COINS)
    deposit_on_chain(chain, mapping, 300_000)  # a deposit coin under version 1

    # son-3 leaves (witnesses' proposal, executed); son-4 joins with keys from `signer keygen`.
    with transaction.atomic():
        son_services.son_deregister(son=son_3, reason="deregistered by the witnesses")
    son_4_keys = tmp_path / "son-4.key"
    son_4, t4 = register_son_4(json.loads(cli("keygen", "--out", str(son_4_keys))))
    assert proposals.proposals_tick()["rotations"] == 1
    proposal = Proposal.objects.rotations().get()
    alice, bob = make_witnesses(1, 1)
    proposals.proposal_approve(proposal=proposal, witness=alice)
    proposals.proposal_approve(proposal=proposal, witness=bob)
    v2 = FederationVersion.objects.get(fingerprint=proposal.payload["to"]["fingerprint"])
    assert v2.status == VS.ACCEPTED
    assert son_3.public_key("bitcoin") not in v2.keys

    # The signers: son-1 and son-2 configured for version 1, son-4 for version 2.
    for name in ("son-1", "son-2"):
        keys_file = tmp_path / f"{name}.key"
        keys = Keys(fixtures.son_key(name), fixtures.son_key(name, "hive"))
        save(keys_file, keys, PASSPHRASE, n=2**10)
        processes[name] = signer_process(
            live_server, tmp_path, name, sons[name][1], keys_file, v1.keys, timelock
        )
    processes["son-4"] = signer_process(
        live_server, tmp_path, "son-4", t4, son_4_keys, v2.keys, timelock
    )
    stale = tmp_path / "son-2-before-add.json"
    shutil.copy(config_path(processes["son-2"]), stale)
    for process in processes.values():
        process.start()

    # Only son-4's signer accepts it so far (its own config): fewer than m, nothing moves.
    wait_for(lambda: reports("son-4", v2), processes, 30, "son-4's heartbeat")
    wait_for(lambda: reports("son-1", v1) and reports("son-2", v1), processes, 30, "heartbeats")
    assert rotation_process(rpc=rpc) == 0
    # son-1 and son-2's operators add version 2 (`signer federation add`) and restart.
    for name in ("son-1", "son-2"):
        assert v2.short_fingerprint() in accept(processes[name], v2)
    wait_for(lambda: reports("son-1", v2) and reports("son-2", v2), processes, 30, "heartbeats")

    # The test spend: the smallest coin to the new wallet, then back by the new set.
    assert rotation_process(rpc=rpc) == 1
    fund = SidechainTransaction.objects.get(kind="rotation_test")
    assert signing_request_for(fund)["federation"] == {"keys": v2.keys, "threshold": 2}
    assert rotation_process(rpc=rpc) == 0  # idempotent: one test spend at a time
    settle(chain, processes, fund)
    processes["son-2"].stop()  # the return is signed by son-4, the new member, and son-1
    assert rotation_process(rpc=rpc) == 1
    back = SidechainTransaction.objects.filter(kind="rotation_test").latest("pk")
    assert back.pk != fund.pk
    settle(chain, processes, back)
    assert back.signatures.filter(son=son_4).exists()
    processes["son-2"].start()
    assert federation_current().pk == v1.pk
    assert rotation_process(rpc=rpc) >= 1
    v1.refresh_from_db(), v2.refresh_from_db()
    assert (v1.status, v2.status) == (VS.RETIRING, VS.ACTIVE)
    # The database's count of version 1's coins is the one read from every held coin's script.
    expected = [c.amount for c in Coin.objects.held() if version_of(c) == sorted(v1.keys)]
    assert len(expected) >= 40
    assert version_holdings(v1) == (len(expected), sum(expected))

    # The user's deposit address follows: a new one under version 2, the old one retired.
    current = SidechainAddress.objects.get(user=mapping.user, expires=None)
    assert (current.federation_version_id, mapping.federation_version_id) == (v2.pk, v1.pk)
    assert current.deposit_address != mapping.deposit_address
    assert current.withdraw_address == mapping.withdraw_address
    client.force_login(mapping.user)
    page = client.get(reverse("mappings-bitcoin-deposit")).content.decode()
    assert current.deposit_address in page
    assert f'{mapping.deposit_address}</span> <strong data-testid="retired-address">' in page

    # The first sweep, of BATCH coins. son-2's signer as configured before `federation add`
    # would have refused it, saying why (its own policy on the request the portal serves).
    sweep = SidechainTransaction.objects.get(kind="rotation_sweep")
    assert sweep.inputs.count() == BATCH
    loaded = signer_config.load(stale, fixtures.son_key("son-2"))
    journal = Journal(tmp_path / "son-2-before-add.sqlite")
    try:
        request = signing_request_for(sweep)
        refused = sign_request(request, loaded.signer, journal, datetime.now(UTC))
    finally:
        journal.close()
    assert refused["refused"] and VERSION_NOT_ACCEPTED in refused["reasons"]

    # A withdrawal requested during the sweep: it completes, once.
    credit(mapping.user, 250_000)
    withdrawal = withdrawal_request(user=mapping.user, amount_pegged=250_000, request_id="r1")
    batch = withdrawals_batch(rpc=rpc)
    assert batch is not None
    for stx in (batch, sweep):
        wait_for(lambda s=stx: _status(s) == STX.BROADCAST, processes, 30, f"{stx.kind} sent")
    chain.mine(2)
    withdrawals_track(rpc=rpc)
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SETTLED
    assert withdrawals_batch(rpc=rpc) is None

    # A late deposit to the version-1 address: credited, then swept with the rest.
    late = deposit_on_chain(chain, mapping, 400_000)
    assert late.deposit.status == "credited"
    drive(chain, processes, lambda: FederationVersion.objects.get(pk=v1.pk).status == VS.RETIRED)
    v1.refresh_from_db()
    assert version_holdings(v1) == (0, 0)
    sweeps = SidechainTransaction.objects.filter(kind="rotation_sweep")
    assert sweeps.count() >= 3  # 40 wallet coins, 2 deposit coins, minus the withdrawal's, by 15
    assert set(sweeps.values_list("status", flat=True)) == {STX.CONFIRMED}
    assert all(s.inputs.count() <= BATCH for s in sweeps)
    assert RotationStep.objects.filter(version=v1, step="sweep").count() == sweeps.count()
    late.refresh_from_db()
    assert late.status == Coin.Status.SPENT
    # Both deposits, credited once each.
    assert balances_of(mapping.user)["pBTC"] == credit_for(300_000) + credit_for(400_000)

    # Even once version 1 is retired, a deposit to its address is credited and swept.
    later = deposit_on_chain(chain, mapping, 500_000)
    assert rotation_process(rpc=rpc) == 1
    last = SidechainTransaction.objects.filter(kind="rotation_sweep").latest("pk")
    settle(chain, processes, last)
    later.refresh_from_db()
    assert later.status == Coin.Status.SPENT
    assert balances_of(mapping.user)["pBTC"] == sum(map(credit_for, (300_000, 400_000, 500_000)))
    v1.refresh_from_db()
    assert v1.status == VS.RETIRED

    # On chain: no output under a script with son-3's key is left unspent.
    v1_keys = [bytes.fromhex(k) for k in v1.keys]
    user_key = bytes.fromhex(mapping.deposit_public_key)
    son_3_scripts = {
        p2wsh_script_pubkey(federation_witness_script(v1_keys)),
        p2wsh_script_pubkey(deposit_witness_script(v1_keys, user_key, timelock)),
    }
    assert bytes(mapping.deposit_script_pubkey) in son_3_scripts
    assert son_3_outputs_unspent(chain, start + 1, son_3_scripts) == []
    # The withdrawal was paid once on chain, whatever the sweeps around it did.
    payee = script_pubkey(mapping.withdraw_address)
    assert payments_to(chain, start + 1, payee) == [250_000 - withdrawal.fee_share]
    # Signed by the processes alone: son-1, son-2 and son-4; never by son-3, which left.
    signers = set(TxSignature.objects.values_list("son__name", flat=True))
    assert signers == {"son-1", "son-2", "son-4"}
