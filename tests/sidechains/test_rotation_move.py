"""A federation rotation on Bitcoin, end to end on real PostgreSQL, bcoin and the SONs' signers
(the signer's own policy and journal, with each SON's own configuration): son-3 leaves, son-4
(keys from `signer keygen`) joins, the witnesses approve, the signers accept version 2, the
test spend proves the new set signs, the coins of version 1 are swept in batches while a
withdrawal completes once, a late deposit to a version-1 address is credited and swept, and
afterwards no coin on chain is under a script holding son-3's key (docs/rotation.md)."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from bitcoin.core import CBlock, CTransaction, b2lx
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
from sidechains.bitcoin.rotation import rotation_process, version_holdings
from sidechains.bitcoin.withdrawals.builder import script_pubkey, withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.signatures import signing_request_for
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Coin, RotationStep, SidechainTransaction, Withdrawal
from signer import keystore
from signer.policy import VERSION_NOT_ACCEPTED
from sons import services as son_services
from sons.federation import federation_current
from sons.models import SON, FederationVersion, SONPublicKey, SONStatistics
from tests import fixtures
from tests.mappings.helpers import new_key, regtest_p2wpkh
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import credit_for, set_btc_rate
from tests.sidechains.withdrawal_helpers import Signer, credit, deposit_on_chain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

STX = SidechainTransaction.Status
VS = FederationVersion.Status
COINS = 40  # the issue's count: the whole test stays well under a minute
BATCH = 15
COIN = 100_000
PASSPHRASE = "rotation test passphrase"


def keygen(tmp_path) -> keystore.Keys:
    """son-4's keys, made by the signer's own command, as its operator would."""
    path = tmp_path / "son-4.key"
    env = os.environ | {keystore.PASSPHRASE_ENV: PASSPHRASE}
    out = subprocess.run(
        [sys.executable, "-m", "signer", "keygen", "--out", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    keys = keystore.load(path, PASSPHRASE)
    assert json.loads(out.stdout) == keys.public()
    return keys


def register_son_4(public_keys: dict[str, str]) -> tuple[SON, str]:
    """What an administrator does: a SON with the public keys its operator sent."""
    son = SON.objects.create(name="son-4", owner=fixtures.make_user("operator_son_4"))
    for sidechain, public in public_keys.items():
        SONPublicKey.objects.create(son=son, sidechain=sidechain, public_key=public)
        SONStatistics.objects.create(son=son, sidechain=sidechain)
    token = son_services.son_issue_token(
        son=son, by=None, reason="test", via=son_services.TokenIssuer.COMMAND
    )
    SON.objects.filter(pk=son.pk).update(status=SON.Status.ACTIVE)
    son.refresh_from_db()
    return son, token


def signer_for(son, token, tmp_path, timelock, *, keys, private=None, accepted=()) -> Signer:
    signer = Signer(son, token, tmp_path, timelock)
    signer.config = replace(
        signer.config,
        federation_keys=tuple(bytes.fromhex(k) for k in keys),
        private_key=private or signer.config.private_key,
        accepted_federations=tuple(tuple(bytes.fromhex(k) for k in v) for v in accepted),
    )
    # What the signer's heartbeats report (sons/api: SON.accepted_federations).
    SON.objects.filter(pk=son.pk).update(accepted_federations=signer.config.version_fingerprints)
    return signer


def wallet_coins(chain, script: bytes, count: int) -> list[Coin]:
    """`count` coins of COIN sat under the script, in one transaction, mined."""
    spk = p2wsh_script_pubkey(script)
    tx = chain.send([(spk, COIN)] * count)
    chain.mine(1)
    prev = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    return [
        Coin.objects.create(
            txid=b2lx(tx.GetTxid()),
            vout=i,
            amount=COIN,
            witness_script=script,
            prev_tx=prev,
            kind=Coin.Kind.CHANGE,
        )
        for i in range(count)
    ]


def settle(chain, *signers) -> SidechainTransaction:
    """The open rotation or withdrawal transaction signed, sent, mined and settled."""
    for signer in signers:
        signer.sign_all()
    stx = SidechainTransaction.objects.filter(status=STX.BROADCAST).get()
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) >= 1
    stx.refresh_from_db()
    assert stx.status == STX.CONFIRMED
    return stx


def son_3_outputs_unspent(chain, from_height: int, scripts: set[bytes]) -> list[str]:
    """Every output paying one of `scripts` in the blocks since `from_height` that the node
    still shows unspent (gettxout, mempool included)."""
    rpc, left = chain.rpc, []
    for height in range(from_height, rpc.get_block_count() + 1):
        block = CBlock.deserialize(rpc.get_block_raw(rpc.get_block_hash(height)))
        for tx in block.vtx:
            for vout, out in enumerate(tx.vout):
                if bytes(out.scriptPubKey) not in scripts:
                    continue
                txid = b2lx(tx.GetTxid())
                if rpc.get_tx_out(txid, vout, include_mempool=True) is not None:
                    left.append(f"{txid}:{vout}")
    return left


def payments_to(chain, from_height: int, spk: bytes) -> list[int]:
    """The amounts of every output paying `spk` in the blocks since `from_height`."""
    rpc, paid = chain.rpc, []
    for height in range(from_height, rpc.get_block_count() + 1):
        block = CBlock.deserialize(rpc.get_block_raw(rpc.get_block_hash(height)))
        paid += [o.nValue for tx in block.vtx for o in tx.vout if bytes(o.scriptPubKey) == spk]
    return paid


@pytest.fixture
def world(chain, user_carol, tmp_path, settings):
    settings.BITCOIN_ROTATION_BATCH_SIZE = BATCH
    sons = [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]
    set_btc_rate("1")
    user_key = new_key()
    mapping, _ = mapping_set_bitcoin(
        user=user_carol,
        deposit_public_key=user_key.public_key.format().hex(),
        withdraw_address=regtest_p2wpkh(),
    )
    return sons, mapping


# Long because it is the whole rotation, step by step, with what each step must show.
def test_a_rotation_moves_every_coin_away_from_the_leaving_sons_key(world, chain, tmp_path, client):
    (son_1, t1), (son_2, t2), (son_3, _) = world[0]
    mapping, rpc = world[1], chain.rpc
    start = rpc.get_block_count()
    v1 = federation_current()
    timelock = mapping.deposit_timelock
    wallet_coins(chain, bytes(v1.wallet_script), COINS)
    deposit_on_chain(chain, mapping, 300_000)  # a deposit coin under version 1

    # son-3 leaves (witnesses' proposal, executed); son-4 joins with keys from `signer keygen`.
    with transaction.atomic():
        son_services.son_deregister(son=son_3, reason="deregistered by the witnesses")
    keys_4 = keygen(tmp_path)
    son_4, t4 = register_son_4(keys_4.public())
    assert proposals.proposals_tick()["rotations"] == 1
    proposal = Proposal.objects.rotations().get()
    alice, bob = make_witnesses(1, 1)
    proposals.proposal_approve(proposal=proposal, witness=alice)
    proposals.proposal_approve(proposal=proposal, witness=bob)
    v2 = FederationVersion.objects.get(fingerprint=proposal.payload["to"]["fingerprint"])
    assert v2.status == VS.ACCEPTED
    assert son_3.public_key("bitcoin") not in v2.keys

    # Only son-4's signer accepts it so far (its own config): fewer than m, nothing moves.
    s4 = signer_for(son_4, t4, tmp_path, timelock, keys=v2.keys, private=keys_4.bitcoin)
    assert rotation_process(rpc=rpc) == 0
    # son-1 and son-2's operators add version 2 (`signer federation add`).
    s1 = signer_for(son_1, t1, tmp_path, timelock, keys=v1.keys, accepted=[v2.keys])
    s2 = signer_for(son_2, t2, tmp_path, timelock, keys=v1.keys, accepted=[v2.keys])

    # The test spend: the smallest coin to the new wallet, then back by the new set.
    assert rotation_process(rpc=rpc) == 1
    fund = SidechainTransaction.objects.get(kind="rotation_test")
    assert signing_request_for(fund)["federation"] == {"keys": v2.keys, "threshold": 2}
    assert rotation_process(rpc=rpc) == 0  # idempotent: one test spend at a time
    settle(chain, s1, s2)
    assert rotation_process(rpc=rpc) == 1
    back = SidechainTransaction.objects.filter(kind="rotation_test").latest("pk")
    assert back.pk != fund.pk
    settle(chain, s4, s1)  # son-4 signs: the new member's key works
    assert back.signatures.filter(son=son_4).exists()
    assert federation_current().pk == v1.pk
    assert rotation_process(rpc=rpc) >= 1
    v1.refresh_from_db(), v2.refresh_from_db()
    assert (v1.status, v2.status) == (VS.RETIRING, VS.ACTIVE)

    # The user's deposit address follows: a new one under version 2, the old one retired.
    current = SidechainAddress.objects.get(user=mapping.user, expires=None)
    assert (current.federation_version_id, mapping.federation_version_id) == (v2.pk, v1.pk)
    assert current.deposit_address != mapping.deposit_address
    assert current.withdraw_address == mapping.withdraw_address
    client.force_login(mapping.user)
    page = client.get(reverse("mappings-bitcoin-deposit")).content.decode()
    assert current.deposit_address in page
    assert f'{mapping.deposit_address}</span> <strong data-testid="retired-address">' in page

    # A signer whose config lacks version 2 refuses the sweep, saying why.
    sweep = SidechainTransaction.objects.get(kind="rotation_sweep", status=STX.AWAITING_SIGNATURES)
    assert sweep.inputs.count() == BATCH
    (tmp_path / "other").mkdir()
    no_v2 = signer_for(son_2, t2, tmp_path / "other", timelock, keys=v1.keys)
    refused = no_v2.answer(signing_request_for(sweep))
    assert refused["refused"] and VERSION_NOT_ACCEPTED in refused["reasons"]
    SON.objects.filter(pk=son_2.pk).update(accepted_federations=s2.config.version_fingerprints)

    # A withdrawal requested during the sweep: it completes, once.
    credit(mapping.user, 250_000)
    withdrawal = withdrawal_request(user=mapping.user, amount_pegged=250_000, request_id="r1")
    batch = withdrawals_batch(rpc=rpc)
    assert batch is not None
    for signer in (s1, s2):
        signer.sign_all()
    batch.refresh_from_db()
    assert batch.status == STX.BROADCAST, batch.last_error
    sweep.refresh_from_db()
    assert sweep.status == STX.BROADCAST, sweep.last_error
    chain.mine(2)
    withdrawals_track(rpc=rpc)
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SETTLED
    assert withdrawals_batch(rpc=rpc) is None

    # A late deposit to the version-1 address: credited, then swept with the rest.
    late = deposit_on_chain(chain, mapping, 400_000)
    assert late.deposit.status == "credited"
    sweeps = 1
    while rotation_process(rpc=rpc):
        if SidechainTransaction.objects.filter(
            kind="rotation_sweep", status=STX.AWAITING_SIGNATURES
        ).exists():
            settle(chain, s1, s2)
            sweeps += 1
    v1.refresh_from_db()
    assert v1.status == VS.RETIRED
    assert version_holdings(v1) == (0, 0)
    assert sweeps >= 3  # 40 wallet coins, 2 deposit coins, minus the withdrawal's, by 15
    assert RotationStep.objects.filter(version=v1, step="sweep").count() == sweeps
    late.refresh_from_db()
    assert late.status == Coin.Status.SPENT
    # Both deposits, credited once each.
    assert balances_of(mapping.user)["pBTC"] == credit_for(300_000) + credit_for(400_000)

    # Even once version 1 is retired, a deposit to its address is credited and swept.
    later = deposit_on_chain(chain, mapping, 500_000)
    assert rotation_process(rpc=rpc) == 1
    settle(chain, s1, s2)
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
