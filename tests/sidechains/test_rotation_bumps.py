"""A rotation's test spend that sits unmined holds only wallet coins (no deposit deadline to
raise its rate): BITCOIN_ROTATION_BUMP_AFTER_BLOCKS blocks after it was sent it is fee-bumped
through the withdrawals' machinery, the signers sign the bump, and it settles in its place
(docs/rotation.md). On bcoin and the SONs' signers (their own policy and journal)."""

import pytest
from django.db import transaction

from proposals import services as proposals
from proposals.models import Proposal
from sidechains.bitcoin.rotation import rotation_bump_stale, rotation_process
from sidechains.bitcoin.withdrawals.signatures import signing_request_for
from sidechains.bitcoin.withdrawals.tracker import in_mempool, withdrawals_track
from sidechains.models import Coin, RotationStep, SidechainTransaction
from sons import services as son_services
from sons.federation import federation_current
from sons.models import FederationVersion
from tests import fixtures
from tests.proposals.helpers import make_witnesses
from tests.sidechains.rotation_helpers import signer_for, wallet_coins

pytestmark = pytest.mark.django_db

STX = SidechainTransaction.Status
TIMELOCK = 144


@pytest.fixture
def accepted(chain, tmp_path, settings):
    """son-1..3's version 1 holds two wallet coins; son-3 left, son-4 joined; the witnesses
    accepted version 2 and son-1 and son-2's signers accept it too."""
    settings.BITCOIN_ROTATION_BUMP_AFTER_BLOCKS = 3
    # The tracker's own time-based rebroadcast and bump stay out of the way.
    settings.BITCOIN_WITHDRAWAL_REBROADCAST_AFTER = 10**6
    settings.BITCOIN_WITHDRAWAL_BUMP_AFTER = 10**6
    (son_1, t1), (son_2, t2), (son_3, _) = [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]
    v1 = federation_current()
    wallet_coins(chain, bytes(v1.wallet_script), 2)
    with transaction.atomic():
        son_services.son_deregister(son=son_3, reason="deregistered by the witnesses")
    fixtures.make_son("son-4")
    proposals.proposals_tick()
    proposal = Proposal.objects.rotations().get(payload__sidechain="bitcoin")
    for witness in make_witnesses(1, 1):
        proposals.proposal_approve(proposal=proposal, witness=witness)
    v2 = FederationVersion.objects.get(fingerprint=proposal.payload["to"]["fingerprint"])
    signers = [
        signer_for(son, token, tmp_path, TIMELOCK, keys=v1.keys, accepted=[v2.keys])
        for son, token in ((son_1, t1), (son_2, t2))
    ]
    return v2, signers, {"son-1": t1, "son-2": t2}


def sent_but_lost(chain, settings, signers) -> SidechainTransaction:
    """The test fund signed and recorded as sent at the tip, but the node never got it (sent to
    a node that restarted with an empty mempool): bcoin's regtest launcher runs without
    replace-by-fee, so only then can the bump take its place in the mempool."""
    assert rotation_process(rpc=chain.rpc) == 1
    fund = SidechainTransaction.objects.get(kind="rotation_test")
    url, settings.BITCOIN_RPC_URL = settings.BITCOIN_RPC_URL, "http://127.0.0.1:9/"
    for signer in signers:
        signer.sign_all()
    settings.BITCOIN_RPC_URL = url
    SidechainTransaction.objects.filter(pk=fund.pk).update(
        status=STX.BROADCAST, broadcast_height=chain.rpc.get_block_count()
    )
    fund.refresh_from_db()
    assert fund.signed_tx is not None and not in_mempool(chain.rpc, fund.txid)
    return fund


def test_an_unmined_test_spend_is_fee_bumped_after_the_setting_s_blocks(
    chain, accepted, settings, tmp_path
):
    v2, signers, _tokens = accepted
    fund = sent_but_lost(chain, settings, signers)
    chain.mine(2)
    assert rotation_bump_stale(rpc=chain.rpc) == 0  # 2 blocks: not yet
    chain.mine(1)
    assert rotation_process(rpc=chain.rpc) == 1  # the beat's step: the bump
    assert rotation_bump_stale(rpc=chain.rpc) == 0  # once: the bump is the one to wait for now

    bump = SidechainTransaction.objects.get(fee_bump_of=fund)
    assert (bump.kind, bump.federation_version_id) == ("rotation_test", v2.pk)
    assert bump.fee > fund.fee and bump.feerate > fund.feerate
    assert bump.change_amount == fund.change_amount - (bump.fee - fund.fee)
    request = signing_request_for(bump)
    assert request["fee_bump_of"] == str(fund.pk)
    assert request["federation"] == {"keys": v2.keys, "threshold": 2}
    for signer in signers:
        assert [r.status_code for r in signer.sign_all()] == [200]
    bump.refresh_from_db()
    assert bump.status == STX.BROADCAST, bump.last_error
    assert bump.broadcast_height == chain.rpc.get_block_count()
    assert in_mempool(chain.rpc, bump.txid)

    chain.mine(2)
    withdrawals_track(rpc=chain.rpc)
    fund.refresh_from_db()
    bump.refresh_from_db()
    assert (fund.status, bump.status) == (STX.REPLACED, STX.CONFIRMED)
    test_coin = Coin.objects.get(txid=bump.txid)
    assert (test_coin.amount, test_coin.status) == (bump.change_amount, "available")
    # The move goes on from the bump: the new set's test return is the next step.
    assert rotation_process(rpc=chain.rpc) == 1
    back = RotationStep.objects.get(version=v2, step=RotationStep.Step.TEST_RETURN)
    assert back.sidechain_tx.inputs.get().coin_id == test_coin.pk
