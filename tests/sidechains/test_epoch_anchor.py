"""Each epoch's root anchored on Bitcoin (docs/proofs.md, "The anchor"): the first withdrawal
batch or sweep built after the epoch carries one OP_RETURN of the prefix and the root, value 0,
before its wallet output; the SONs' real signers sign it, bcoin mines it, and once confirmed the
epoch records the transaction, which its page links. On real PostgreSQL, bcoin and signers."""

import pytest
from bitcoin.core import CTransaction
from django.urls import reverse

from sidechains.bitcoin.anchor import ANCHOR_PREFIX, ANCHOR_VBYTES, anchor_due
from sidechains.bitcoin.reserves import reserves_check
from sidechains.bitcoin.sweeps import sweeps_process
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import SidechainTransaction
from solvency.epochs import epoch_create
from tests.sidechains.test_sweeps import (
    DEADLINE,
    chain,
    federation,
    mapping,
    signers,
    user_key,
    wallet_spk,
)
from tests.sidechains.withdrawal_helpers import deposit_on_chain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]
__all__ = ["chain", "federation", "mapping", "signers", "user_key"]
STX = SidechainTransaction.Status


def mined_outputs(rpc, txid: str) -> list[tuple[bytes, int]]:
    tx = CTransaction.deserialize(rpc.get_raw_transaction(txid))
    return [(bytes(out.scriptPubKey), out.nValue) for out in tx.vout]


def anchor_of(root: str) -> bytes:
    return b"\x6a\x28" + ANCHOR_PREFIX + bytes.fromhex(root)


def sign_and_confirm(chain, signers, stx) -> None:
    for signer in signers[:2]:
        signer.sign_all()
    stx.refresh_from_db()
    assert stx.status == STX.BROADCAST, stx.last_error
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1
    stx.refresh_from_db()
    assert stx.status == STX.CONFIRMED


def test_the_next_withdrawal_batch_carries_the_root_and_the_epoch_records_it(
    chain, mapping, user_carol, signers, client
):
    rpc = chain.rpc
    deposit_on_chain(chain, mapping, 3_000_000)
    epoch = epoch_create()
    withdrawal_request(user=user_carol, amount_pegged=400_000, request_id="c1")
    stx = withdrawals_batch(rpc=rpc)
    assert anchor_due() is None  # the open batch carries it: no second anchor

    sign_and_confirm(chain, signers, stx)

    outputs = mined_outputs(rpc, stx.txid)
    assert [o for o in outputs if o[0][:1] == b"\x6a"] == [(anchor_of(epoch.root), 0)]
    assert outputs[-2] == (anchor_of(epoch.root), 0) and outputs[-1][0] == wallet_spk()
    assert stx.vsize > ANCHOR_VBYTES and stx.change_amount == outputs[-1][1]
    epoch.refresh_from_db()
    assert (epoch.anchor_txid, epoch.anchor_height) == (stx.txid, stx.confirmed_height)
    page = client.get(reverse("solvency-epoch", args=[epoch.number])).content.decode()
    assert stx.txid in page
    listed = client.get(reverse("api-epochs")).json()[0]
    assert listed["anchor_txid"] == stx.txid
    reserves = client.get(reverse("api-reserves")).json()["epoch"]
    assert reserves["anchor_txid"] == stx.txid

    # Anchored: the next batch carries no OP_RETURN; the reserves still cover what is owed.
    withdrawal_request(user=user_carol, amount_pegged=300_000, request_id="c2")
    later = withdrawals_batch(rpc=rpc)
    assert all(o[0][:1] != b"\x6a" for o in built_outputs(later))
    assert reserves_check(rpc=rpc).margin >= -ANCHOR_VBYTES * stx.feerate


def built_outputs(stx) -> list[tuple[bytes, int]]:
    tx = CTransaction.deserialize(bytes(stx.unsigned_tx))
    return [(bytes(out.scriptPubKey), out.nValue) for out in tx.vout]


def test_a_sweep_after_an_epoch_carries_its_root(chain, mapping, signers):
    rpc = chain.rpc
    coin = deposit_on_chain(chain, mapping, 2_000_000)
    epoch_create()
    epoch = epoch_create()  # only the newest epoch is anchored
    chain.mine(coin.deposit.block_height + DEADLINE // 2 - rpc.get_block_count())
    assert sweeps_process(rpc=rpc) == 1
    sweep = SidechainTransaction.objects.get(kind=SidechainTransaction.Kind.SWEEP)

    sign_and_confirm(chain, signers, sweep)

    assert mined_outputs(rpc, sweep.txid) == [
        (anchor_of(epoch.root), 0),
        (wallet_spk(), 2_000_000 - sweep.fee),
    ]
    epoch.refresh_from_db()
    assert epoch.anchor_txid == sweep.txid
