"""The bcoin regtest node and the portal's Bitcoin JSON-RPC client, against each other.

Plain pytest: no Django, no database. One fresh in-memory node for the module; every test mines
its own blocks and reads heights relative to the tip it found.
"""

import hashlib
import time
from decimal import Decimal

import bitcoin
import pytest
from bitcoin.core import (
    CBlock,
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CTransaction,
    CTxOut,
    Hash160,
    b2lx,
    lx,
)
from bitcoin.core.script import OP_0, SIGHASH_ALL, CScript, SignatureHash
from bitcoin.wallet import CBitcoinSecret, P2PKHBitcoinAddress, P2WPKHBitcoinAddress

from chains.bitcoin.rpc import (
    BitcoinRPC,
    BitcoinRPCAuthError,
    BitcoinRPCError,
    BitcoinRPCUnavailable,
    fee_rate_from_estimate,
)
from tests.bitcoin_node import free_port, start_bcoin

bitcoin.SelectParams("regtest")

KEY = CBitcoinSecret.from_secret_bytes(hashlib.sha256(b"test_bitcoin_node").digest())
P2PKH = P2PKHBitcoinAddress.from_pubkey(KEY.pub)
P2WPKH = P2WPKHBitcoinAddress.from_scriptPubKey(CScript([OP_0, Hash160(KEY.pub)]))
COINBASE_MATURITY = 100


@pytest.fixture(scope="module")
def node():
    node = start_bcoin()
    yield node
    node.stop()


@pytest.fixture
def rpc(node):
    client = node.rpc()
    yield client
    client.close()


def read_block(rpc: BitcoinRPC, block_hash: str) -> CBlock:
    return CBlock.deserialize(rpc.get_block_raw(block_hash))


def mature_coinbase(rpc: BitcoinRPC) -> CTransaction:
    """A coinbase paying P2PKH that the next block may spend."""
    [block_hash] = rpc.generate_to_address(1, str(P2PKH))
    rpc.generate_to_address(COINBASE_MATURITY - 1, str(P2WPKH))
    return read_block(rpc, block_hash).vtx[0]


def spend_to_self(coinbase: CTransaction, *, fee: int) -> CTransaction:
    """Spend the coinbase's P2PKH output back to P2PKH, signed with KEY."""
    prevout = coinbase.vout[0]
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(coinbase.GetTxid(), 0))],
        [CTxOut(prevout.nValue - fee, P2PKH.to_scriptPubKey())],
    )
    sighash = SignatureHash(prevout.scriptPubKey, tx, 0, SIGHASH_ALL)
    tx.vin[0].scriptSig = CScript([KEY.sign(sighash) + bytes([SIGHASH_ALL]), KEY.pub])
    return CTransaction.from_tx(tx)


@pytest.mark.parametrize("address", [P2WPKH, P2PKH], ids=["p2wpkh", "p2pkh"])
def test_it_mines_blocks_that_read_back_through_the_client(rpc, address):
    start = rpc.get_block_count()

    hashes = rpc.generate_to_address(3, str(address))

    assert rpc.get_block_count() == start + 3
    for height, block_hash in enumerate(hashes, start=start + 1):
        assert rpc.get_block_hash(height) == block_hash
        block = read_block(rpc, block_hash)
        assert b2lx(block.GetHash()) == block_hash
        assert block.vtx[0].is_coinbase()
        assert block.vtx[0].vout[0].scriptPubKey == address.to_scriptPubKey()
        assert block.hashPrevBlock == lx(rpc.get_block_hash(height - 1))


def test_it_reports_the_chain_in_blockchain_info(rpc):
    [block_hash] = rpc.generate_to_address(1, str(P2WPKH))

    info = rpc.get_blockchain_info()

    assert info["chain"] == "regtest"
    assert info["bestblockhash"] == block_hash
    assert info["blocks"] == rpc.get_block_count()


def test_it_sends_a_raw_transaction_and_reads_it_back(rpc):
    tx = spend_to_self(mature_coinbase(rpc), fee=10_000)

    txid = rpc.send_raw_transaction(tx.serialize())

    assert txid == b2lx(tx.GetTxid())
    assert txid in rpc.call("getrawmempool")
    assert rpc.call("getmempoolentry", txid)["fee"] == Decimal("0.0001")
    assert rpc.get_raw_transaction(txid) == tx.serialize()
    assert rpc.send_raw_transaction(tx.serialize()) == txid  # already in the mempool
    [block_hash] = rpc.generate_to_address(1, str(P2WPKH))
    assert txid in [b2lx(t.GetTxid()) for t in read_block(rpc, block_hash).vtx]


def test_it_rejects_a_double_spend_like_bitcoin_core(rpc):
    coinbase = mature_coinbase(rpc)
    rpc.send_raw_transaction(spend_to_self(coinbase, fee=10_000).serialize())

    with pytest.raises(BitcoinRPCError) as raised:
        rpc.send_raw_transaction(spend_to_self(coinbase, fee=20_000).serialize())

    assert raised.value.code == -26
    assert "sendrawtransaction" in str(raised.value)


def test_it_rejects_a_transaction_already_in_the_chain(rpc):
    tx = spend_to_self(mature_coinbase(rpc), fee=10_000)
    rpc.send_raw_transaction(tx.serialize())
    rpc.generate_to_address(1, str(P2WPKH))

    with pytest.raises(BitcoinRPCError) as raised:
        rpc.send_raw_transaction(tx.serialize())

    assert raised.value.code == -27


def test_it_replaces_the_tip_after_invalidateblock(rpc):
    start = rpc.get_block_count()
    old = rpc.generate_to_address(2, str(P2WPKH))

    rpc.call("invalidateblock", old[0])
    assert rpc.get_block_count() == start
    new = rpc.generate_to_address(3, str(P2PKH))

    assert rpc.get_block_count() == start + 3
    assert rpc.get_block_hash(start + 1) == new[0] != old[0]
    assert read_block(rpc, new[0]).hashPrevBlock == lx(rpc.get_block_hash(start))


def test_it_raises_the_node_error_for_an_unknown_method(rpc):
    with pytest.raises(BitcoinRPCError) as raised:
        rpc.call("nosuchmethod")

    assert not isinstance(raised.value, BitcoinRPCUnavailable)
    assert raised.value.code == -32601
    assert "nosuchmethod" in str(raised.value)


def test_it_raises_for_a_height_above_the_tip(rpc):
    with pytest.raises(BitcoinRPCError) as raised:
        rpc.get_block_hash(rpc.get_block_count() + 1)

    assert not isinstance(raised.value, BitcoinRPCUnavailable)
    assert raised.value.code == -8
    assert str(raised.value).startswith("getblockhash: ")


def test_it_answers_none_for_a_best_block_hash_outside_the_chain(rpc):
    tip = rpc.get_block_count()
    assert rpc.best_block_hash(tip) == rpc.get_block_hash(tip)
    assert rpc.best_block_hash(tip + 1) is None
    assert rpc.best_block_hash(-1) is None


def test_it_raises_unavailable_quickly_for_a_closed_port():
    client = BitcoinRPC(f"http://127.0.0.1:{free_port()}/", password="secret", timeout=0.5)
    started = time.monotonic()

    with pytest.raises(BitcoinRPCUnavailable) as raised:
        client.get_block_count()

    assert time.monotonic() - started < 2
    assert raised.value.code is None
    assert str(raised.value).startswith("getblockcount: no answer from http://127.0.0.1:")


def test_it_raises_an_auth_error_for_a_wrong_api_key(node):
    client = BitcoinRPC(node.url, user="sonportal", password="wrong-key", timeout=2)

    with pytest.raises(BitcoinRPCAuthError) as raised:
        client.get_block_count()

    assert isinstance(raised.value, BitcoinRPCUnavailable)
    assert "401" in str(raised.value)
    assert "wrong-key" not in str(raised.value) + repr(client)


def test_it_returns_none_or_an_int_from_estimate_smart_fee(rpc):
    rate = rpc.estimate_smart_fee(6)

    assert rate is None or (type(rate) is int and rate > 0)


@pytest.mark.parametrize(
    ("answer", "sat_per_kvb"),
    [
        ({"feerate": Decimal("0.00012345"), "blocks": 2}, 12_345),  # Bitcoin Core
        ({"errors": ["Insufficient data or no feerate found"], "blocks": 0}, None),  # Core
        ({"fee": Decimal("0.0002"), "blocks": 6}, 20_000),  # bcoin 1.0.2
        ({"fee": -1, "blocks": 6}, None),  # bcoin 1.0.2 without an estimate
        ({"feerate": 0.00001, "blocks": 2}, 1_000),  # a float still converts exactly
        ({"feerate": Decimal("0.000012345"), "blocks": 2}, 1_235),  # rounds up
    ],
)
def test_it_reads_fee_rates_in_both_node_dialects(answer, sat_per_kvb):
    assert fee_rate_from_estimate(answer) == sat_per_kvb
