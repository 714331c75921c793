"""Previous transactions on the portal's side: every coin spent carries the transaction that made
it, signing requests carry each once, and coin selection keeps requests within the signers'
limits; the SONs' real signers (signer.signing) answer through the API."""

import secrets

import pytest
from bitcoin.core import CMutableTransaction, CMutableTxIn, COutPoint, CTransaction, CTxOut, b2lx
from bitcoin.core.script import CScript

from chains.bitcoin.federation import federation_witness_script, p2wsh_script_pubkey
from sidechains.bitcoin.withdrawals import signatures
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_fail, withdrawal_request
from sidechains.bitcoin.withdrawals.signatures import signing_request_for
from sidechains.models import Coin, Withdrawal
from signer import request as signer_request
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]


@pytest.fixture
def federation(db):
    return [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]


@pytest.fixture
def mapping(user_carol, federation):
    set_btc_rate("1")
    return make_bitcoin_mapping(user_carol)


@pytest.fixture
def signers(federation, mapping, tmp_path):
    return make_signers(tmp_path, federation, mapping.deposit_timelock)


FEE = 10_000


def wallet_script() -> bytes:
    keys = [fixtures.son_key(f"son-{i}").public_key.format() for i in (1, 2, 3)]
    return federation_witness_script(keys)


def coins_in_one_tx(
    amounts: list[int], *, padding: int = 0, prev_tx: bool = True, wallet=None
) -> list[Coin]:
    """Federation coins, one per amount, all outputs of one transaction with an output of
    `padding` bytes of script: sent and mined by `wallet` (coin selection checks the node's
    UTXO set), or, without one, made up (python-bitcoinlib, never sent) for coins the builder
    must skip before it asks the node."""
    script = wallet_script()
    payments = [(p2wsh_script_pubkey(script), amount) for amount in amounts]
    if padding:
        payments.append((b"\x6a" + bytes(padding), 0))
    if wallet is not None:
        tx = wallet.send(payments, fee=FEE + 2 * padding)  # above the minimum relay fee
        wallet.mine(1)
        tx = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion)  # without witnesses
    else:
        outputs = [CTxOut(amount, CScript(spk)) for spk, amount in payments]
        tx = CMutableTransaction(
            [CMutableTxIn(COutPoint(secrets.token_bytes(32), 0))], outputs, nVersion=2
        )
    return [
        Coin.objects.create(
            txid=b2lx(tx.GetTxid()),
            vout=vout,
            amount=amount,
            witness_script=script,
            prev_tx=tx.serialize() if prev_tx else None,
            kind=Coin.Kind.CHANGE,
        )
        for vout, amount in enumerate(amounts)
    ]


def test_the_portal_keeps_the_signers_limits():
    assert signatures.REQUEST_VERSION == signer_request.VERSION
    assert signatures.MAX_PREV_TX_BYTES == signer_request.MAX_PREV_TX_BYTES
    assert signatures.MAX_REQUEST_BYTES == signer_request.MAX_REQUEST_BYTES


def test_it_never_spends_a_coin_without_its_previous_transaction(mapping, user_carol, chain):
    bitcoin = chain.rpc
    [bare] = coins_in_one_tx([5_000_000], prev_tx=False)
    credit(user_carol, 1_000_000)
    withdrawal_request(user=user_carol, amount_pegged=1_000_000, request_id="w1")

    assert withdrawals_batch(rpc=bitcoin) is None  # the only coin cannot be verified

    [kept] = coins_in_one_tx([2_000_000], wallet=chain)
    stx = withdrawals_batch(rpc=bitcoin)
    assert list(stx.inputs.values_list("coin", flat=True)) == [kept.pk]
    bare.refresh_from_db()
    assert bare.status == Coin.Status.AVAILABLE


def test_it_never_spends_a_coin_whose_previous_transaction_is_over_the_limit(
    mapping, user_carol, bitcoin
):
    [big] = coins_in_one_tx([5_000_000], padding=signatures.MAX_PREV_TX_BYTES)
    assert len(big.prev_tx) > signatures.MAX_PREV_TX_BYTES
    credit(user_carol, 1_000_000)
    withdrawal_request(user=user_carol, amount_pegged=1_000_000, request_id="w1")

    assert withdrawals_batch(rpc=bitcoin) is None


def test_it_carries_a_transaction_spent_twice_once(mapping, user_carol, chain, signers):
    bitcoin = chain.rpc
    coins = coins_in_one_tx([600_000, 500_000], wallet=chain)
    credit(user_carol, 1_000_000)
    withdrawal_request(user=user_carol, amount_pegged=1_000_000, request_id="w1")
    stx = withdrawals_batch(rpc=bitcoin)

    [request] = signers[0].pending()

    assert request == signing_request_for(stx)
    assert [(i["txid"], i["vout"]) for i in request["inputs"]] == [
        (coin.txid, coin.vout) for coin in coins
    ]
    assert request["prev_txs"] == {coins[0].txid: bytes(coins[0].prev_tx).hex()}
    assert "amount" not in request["inputs"][0]
    assert [r.status_code for r in signers[0].sign_all()] == [200]


def test_it_keeps_a_request_within_the_signers_size_limit(mapping, user_carol, chain, signers):
    bitcoin = chain.rpc
    # Coins whose previous transactions hold 99 kB each: 49 fit in one request, not 50.
    coins = [coins_in_one_tx([30_000], padding=99_000, wallet=chain)[0] for _ in range(50)]
    per_coin = len(coins[0].prev_tx)
    assert 49 * per_coin <= signatures.PREV_TXS_BUDGET < 50 * per_coin
    credit(user_carol, 3_000_000)
    too_big = withdrawal_request(user=user_carol, amount_pegged=1_500_000, request_id="w1")

    assert withdrawals_batch(rpc=bitcoin) is None  # it needs all 50
    assert "coins cannot pay it now" in Withdrawal.objects.get(pk=too_big.pk).note

    withdrawal_fail(withdrawal=too_big, reason="too large for one transaction")
    withdrawal_request(user=user_carol, amount_pegged=900_000, request_id="w2")
    stx = withdrawals_batch(rpc=bitcoin)
    [request] = signers[0].pending()
    assert stx.inputs.count() == len(request["prev_txs"]) == 30
    size = len(request["tx"]) // 2 + sum(len(raw) // 2 for raw in request["prev_txs"].values())
    assert size <= signer_request.MAX_REQUEST_BYTES
    assert "signatures" in signers[0].answer(request)
