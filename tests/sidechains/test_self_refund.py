"""A user reclaims an uncredited deposit with their own key after T blocks (docs/deposits.md,
"Reclaiming a deposit yourself"), and the listener marks it reclaimed; on PostgreSQL and bcoin."""

import coincurve
import pytest
from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CScriptWitness,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
    lx,
)

from chains.bitcoin.rpc import BitcoinRPCError
from chains.bitcoin.spend import REFUND_TX_VERSION, refund_sequence, sign_input, user_witness
from ledger.models import Entry
from ledger.services import ledger_check
from mappings.services import mapping_set_bitcoin
from sidechains.bitcoin.deposits import deposits_process
from sidechains.bitcoin.listener import listener_scan
from sidechains.models import Deposit
from sons.models import SON
from tests import fixtures
from tests.mappings.helpers import new_key, regtest_p2wpkh
from tests.sidechains.deposit_helpers import set_btc_rate

pytestmark = pytest.mark.django_db

TIMELOCK = 10
FEE = 5_000


@pytest.fixture
def chain(chain, settings):
    settings.BITCOIN_DEPOSIT_TIMELOCK = TIMELOCK  # before the mapping is registered
    settings.BITCOIN_RECLAIM_MARGIN = 2
    return chain


def reclaim(deposit: Deposit, key: coincurve.PrivateKey, pay_to: bytes) -> CMutableTransaction:
    """The user's own spend of their deposit: the script's ELSE branch, nSequence = T."""
    script = bytes(deposit.mapping.deposit_witness_script)
    txin = CMutableTxIn(
        COutPoint(lx(deposit.txid), deposit.vout), nSequence=refund_sequence(script)
    )
    tx = CMutableTransaction(
        [txin], [CTxOut(deposit.amount - FEE, pay_to)], nVersion=REFUND_TX_VERSION
    )
    signature = sign_input(tx, 0, script, deposit.amount, key.secret)
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness(user_witness(script, signature)))])
    return tx


def test_a_user_reclaims_an_uncredited_deposit_after_the_timelock(chain, user_carol):
    rpc = chain.rpc
    [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]
    SON.objects.exclude(name="son-1").update(status=SON.Status.IN_MAINTENANCE)
    set_btc_rate("1")
    key = new_key()
    mapping, _ = mapping_set_bitcoin(
        user=user_carol,
        deposit_public_key=key.public_key.format().hex(),
        withdraw_address=regtest_p2wpkh(),
    )
    assert mapping.deposit_timelock == TIMELOCK
    listener_scan(rpc=rpc, max_blocks=1000)
    chain.send([(bytes(mapping.deposit_script_pubkey), 1_500_000)])
    chain.mine(1)
    listener_scan(rpc=rpc)
    deposits_process(rpc=rpc)
    deposit = Deposit.objects.get(mapping=mapping)
    assert deposit.status == "refund_pending", deposit.note  # not credited: 1 of 3 SONs active
    tx = reclaim(deposit, key, chain.p2wpkh.to_scriptPubKey())

    with pytest.raises(BitcoinRPCError):  # before T blocks: CHECKSEQUENCEVERIFY fails
        rpc.send_raw_transaction(tx.serialize())
    chain.mine(TIMELOCK - 2)
    with pytest.raises(BitcoinRPCError):  # one block short
        rpc.send_raw_transaction(tx.serialize())
    chain.mine(1)
    rpc.send_raw_transaction(tx.serialize())  # the deposit is T blocks deep: the user may spend
    chain.mine(1)
    listener_scan(rpc=rpc)

    deposit.refresh_from_db()
    assert deposit.status == "reclaimed"
    assert b2lx(tx.GetTxid()) in deposit.note
    assert [e.new_status for e in deposit.events.all()][-1] == "reclaimed"
    assert not Entry.objects.exists()
    assert ledger_check() == []
