"""An administrator abandons a rotation transaction that signer refusals stranded: it fails
with the reason typed (audit-logged), its coins are released, and the next beat offers the same
transaction again, which the signer that had signed it signs again and the one that refused
signs now (docs/rotation.md). On bcoin and the SONs' signers (their own policy and journal)."""

import pytest

from audit.models import AuditRecord
from sidechains.bitcoin.rotation import rotation_process
from sidechains.bitcoin.rotation_abandon import AbandonError, rotation_tx_abandon
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Coin, RotationStep, SidechainTransaction
from sidechains.transitions import sidechain_tx_transition
from signer.policy import VERSION_NOT_ACCEPTED
from sons.federation import federation_current
from sons.models import SON
from tests import fixtures
from tests.sidechains.rotation_helpers import signer_for
from tests.sidechains.test_rotation_bumps import TIMELOCK, accepted  # noqa: F401  a fixture

pytestmark = pytest.mark.django_db

STX = SidechainTransaction.Status


def stranded(chain, accepted, tmp_path):  # noqa: F811  the fixture's value
    """The test fund signed by son-1 and refused by son-2, whose signer's configuration lacks
    version 2 although its heartbeat said otherwise: 1 signature of the 2 needed, for good."""
    v2, (s1, s2), tokens = accepted
    (tmp_path / "stale").mkdir()
    v1 = federation_current()
    son_2 = SON.objects.get(name="son-2")
    stale = signer_for(son_2, tokens["son-2"], tmp_path / "stale", TIMELOCK, keys=v1.keys)
    SON.objects.filter(pk=son_2.pk).update(accepted_federations=s2.config.version_fingerprints)
    assert rotation_process(rpc=chain.rpc) == 1
    fund = SidechainTransaction.objects.get(kind="rotation_test")
    assert [r.status_code for r in s1.sign_all()] == [200]
    assert [r.status_code for r in stale.sign_all()] == [200]
    assert VERSION_NOT_ACCEPTED in fund.refusals.get().reasons
    fund.refresh_from_db()
    assert fund.status == STX.AWAITING_SIGNATURES and fund.signed_tx is None
    return fund, s1, s2


def test_an_abandoned_test_spend_is_offered_again_and_signed(chain, accepted, tmp_path):  # noqa: F811
    fund, s1, s2 = stranded(chain, accepted, tmp_path)
    admin = fixtures.make_administrator()
    [coin] = Coin.objects.filter(reserved_by=fund)

    rotation_tx_abandon(sidechain_tx=fund, by=admin, reason="son-2 refused: config fixed now")

    fund.refresh_from_db()
    coin.refresh_from_db()
    assert (fund.status, fund.abandoned_reason) == (STX.FAILED, "son-2 refused: config fixed now")
    assert (coin.status, coin.reserved_by_id) == ("available", None)
    record = AuditRecord.objects.get(action="sidechain_tx.abandoned")
    assert (record.actor, record.reason) == (admin, "son-2 refused: config fixed now")
    with pytest.raises(AbandonError, match="not awaiting"):
        rotation_tx_abandon(sidechain_tx=fund, by=admin, reason="twice")

    # The next beat offers the very same transaction again; son-2's operator fixed its config.
    assert rotation_process(rpc=chain.rpc) == 1
    again = SidechainTransaction.objects.get(kind="rotation_test", status=STX.AWAITING_SIGNATURES)
    assert again.pk != fund.pk and again.txid == fund.txid
    assert list(again.inputs.values_list("coin", flat=True)) == [coin.pk]
    assert RotationStep.objects.filter(sidechain_tx=again, step="test_fund").exists()
    assert rotation_process(rpc=chain.rpc) == 0  # once
    # son-1 signed the abandoned one: its journal knows the transaction and signs it again.
    assert [r.status_code for r in s1.sign_all()] == [200]
    assert [r.status_code for r in s2.sign_all()] == [200]
    again.refresh_from_db()
    assert again.status == STX.BROADCAST, again.last_error
    chain.mine(2)
    withdrawals_track(rpc=chain.rpc)
    again.refresh_from_db()
    assert again.status == STX.CONFIRMED
    assert rotation_process(rpc=chain.rpc) == 1  # and the move goes on: the test return


def test_only_a_stranded_rotation_transaction_may_be_abandoned(chain, accepted, tmp_path):  # noqa: F811
    fund, _s1, _s2 = stranded(chain, accepted, tmp_path)
    admin = fixtures.make_administrator()
    with pytest.raises(AbandonError, match="Say why"):
        rotation_tx_abandon(sidechain_tx=fund, by=admin, reason="  ")
    SidechainTransaction.objects.filter(pk=fund.pk).update(kind="withdrawal")
    with pytest.raises(AbandonError, match="not a rotation"):
        rotation_tx_abandon(sidechain_tx=fund, by=admin, reason="r")
    SidechainTransaction.objects.filter(pk=fund.pk).update(kind="rotation_test", signed_tx=b"x")
    with pytest.raises(AbandonError, match="fully signed"):
        rotation_tx_abandon(sidechain_tx=fund, by=admin, reason="r")
    sidechain_tx_transition(fund.pk, STX.AWAITING_SIGNATURES, STX.BROADCAST, "sent")
    with pytest.raises(AbandonError, match="not awaiting"):
        rotation_tx_abandon(sidechain_tx=fund, by=admin, reason="r")
    assert not AuditRecord.objects.filter(action="sidechain_tx.abandoned").exists()
    assert Coin.objects.get(reserved_by=fund).status == "reserved"
