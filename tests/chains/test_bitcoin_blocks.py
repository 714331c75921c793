"""The lean block parser against python-bitcoinlib's CBlock.deserialize, the reference.

Plain pytest, no database: generated blocks (hypothesis) with segwit and legacy transactions,
varint edge sizes, and real blocks from a bcoin regtest node.
"""

import hashlib

import bitcoin
import pytest
from bitcoin.core import (
    CBlock,
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CScriptWitness,
    CTransaction,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
)
from bitcoin.core.script import CScript
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.bitcoin.blocks import (
    BlockParseError,
    outpoint_key,
    parse_block,
    parse_header,
    parse_transaction,
)

bitcoin.SelectParams("regtest")

# Sizes around the varint boundary (253 = 0xfd) come up often enough with max_size=300.
byte_strings = st.binary(max_size=300)


@st.composite
def transactions(draw) -> CTransaction:
    n_inputs = draw(st.integers(1, 4))
    vin = [
        CTxIn(
            COutPoint(draw(st.binary(min_size=32, max_size=32)), draw(st.integers(0, 2**32 - 1))),
            CScript(draw(byte_strings)),
            draw(st.integers(0, 2**32 - 1)),
        )
        for _ in range(n_inputs)
    ]
    values = st.integers(0, 21 * 10**14)
    outputs = st.builds(lambda v, s: CTxOut(v, CScript(s)), values, byte_strings)
    vout = draw(st.lists(outputs, max_size=4))
    witness = CTxWitness()
    if draw(st.booleans()):
        stacks = [draw(st.lists(byte_strings, max_size=3)) for _ in range(n_inputs)]
        witness = CTxWitness([CTxInWitness(CScriptWitness(stack)) for stack in stacks])
    version = draw(st.integers(-(2**31), 2**31 - 1))
    locktime = draw(st.integers(0, 2**32 - 1))
    return CTransaction(vin, vout, locktime, version, witness)


def reference_outputs(block: CBlock) -> list[tuple[str, int, int, bytes]]:
    return [
        (b2lx(tx.GetTxid()), n, out.nValue, bytes(out.scriptPubKey))
        for tx in block.vtx
        for n, out in enumerate(tx.vout)
    ]


def assert_parses_like_bitcoinlib(raw: bytes) -> None:
    reference = CBlock.deserialize(raw)
    parsed = parse_block(raw)
    assert parsed.hash == b2lx(reference.GetHash())
    assert parsed.prev_hash == b2lx(reference.hashPrevBlock)
    assert parsed.tx_count == len(reference.vtx)
    assert [tuple(o) for o in parsed.outputs] == reference_outputs(reference)
    assert parse_header(raw) == (parsed.hash, parsed.prev_hash)
    # Each transaction holding an output, as its txid hashes it: a coin's previous transaction.
    for tx in (tx for tx in reference.vtx if tx.vout):
        stripped = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
        assert parsed.tx_bytes(b2lx(tx.GetTxid())) == stripped


@settings(max_examples=300, deadline=None)
@given(
    st.lists(transactions(), min_size=1, max_size=6),
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**32 - 1),
)
def test_it_parses_generated_blocks_like_bitcoinlib(txs, prev_hash, nonce):
    block = CBlock(hashPrevBlock=prev_hash, nNonce=nonce, vtx=txs)

    assert_parses_like_bitcoinlib(block.serialize())


@settings(max_examples=100, deadline=None)
@given(st.lists(transactions(), min_size=1, max_size=6), st.integers(0, 3))
def test_it_keeps_only_the_outputs_asked_for(txs, modulus):
    raw = CBlock(vtx=txs).serialize()

    def keep(script: bytes) -> bool:
        return len(script) % 4 == modulus

    kept = parse_block(raw, keep=keep)

    assert kept.outputs == [o for o in parse_block(raw).outputs if keep(o.script_pubkey)]
    assert (kept.hash, kept.tx_count) == (parse_block(raw).hash, len(txs))
    # Only the transactions holding a kept output are remembered, not every one.
    assert set(kept.spans) == {output.txid for output in kept.outputs}


@settings(max_examples=100, deadline=None)
@given(st.lists(transactions(), min_size=1, max_size=6), st.integers(0, 1))
def test_it_returns_the_inputs_spending_watched_outpoints(txs, parity):
    raw = CBlock(vtx=txs).serialize()
    reference = [
        (b2lx(tx.GetTxid()), b2lx(txin.prevout.hash), txin.prevout.n)
        for tx in txs
        for txin in tx.vin
    ]
    watched = [spend for n, spend in enumerate(reference) if n % 2 == parity]
    watch = {outpoint_key(prev_txid, prev_vout) for _, prev_txid, prev_vout in watched}

    parsed = parse_block(raw, keep=lambda script: False, watch=watch)

    assert [tuple(s) for s in parsed.spends] == [
        s for s in reference if s[1:] in {w[1:] for w in watched}
    ]
    assert parsed.outputs == [] and parse_block(raw).spends == []


def test_it_reads_large_counts_and_scripts():
    outputs = [CTxOut(n, CScript(bytes([n % 256]) * (n % 70_000))) for n in range(300)]
    witness = CTxWitness([CTxInWitness(CScriptWitness([b"\x01" * 70_000, b""]))])
    tx = CTransaction([CTxIn(COutPoint(b"\x11" * 32, 0))], outputs, 0, 2, witness)
    legacy = CTransaction([CTxIn(COutPoint(b"\x22" * 32, 1), CScript(b"\x02" * 300))], outputs)

    assert_parses_like_bitcoinlib(CBlock(vtx=[tx, legacy] * 130).serialize())


def test_it_computes_txids_without_the_witness():
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(b"\x33" * 32, 7))], [CTxOut(5000, CScript(b"\x51"))]
    )
    legacy_txid = hashlib.sha256(hashlib.sha256(tx.serialize()).digest()).digest()[::-1].hex()
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness([b"signature", b"key"]))])

    [output] = parse_block(CBlock(vtx=[tx]).serialize()).outputs

    assert output.txid == legacy_txid


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1],
        lambda raw: raw + b"\x00",
        lambda raw: raw[:80],
        lambda raw: raw[:80] + b"\xfe\xff\xff\xff\x7f" + raw[81:],
        lambda raw: raw[:85] + b"\x00\x02" + raw[87:],
    ],
    ids=["truncated", "trailing-byte", "header-only", "absurd-count", "bad-segwit-flag"],
)
def test_it_refuses_malformed_blocks(mangle):
    witness = CTxWitness([CTxInWitness(CScriptWitness([b"sig"]))])
    tx = CTransaction([CTxIn(COutPoint(b"\x44" * 32, 0))], [CTxOut(1, CScript(b"\x51"))], 0, 2)
    raw = CBlock(vtx=[CTransaction(tx.vin, tx.vout, 0, 2, witness)]).serialize()
    assert parse_block(raw)  # the unmangled block is fine

    with pytest.raises(BlockParseError):
        parse_block(mangle(raw))


def test_it_parses_bcoin_blocks_like_bitcoinlib(wallet):
    p2wsh = b"\x00\x20" + hashlib.sha256(b"deposit").digest()
    segwit = wallet.send([(p2wsh, 150_000), (p2wsh, 250_000)])
    legacy = wallet.send([(p2wsh, 90_000)], legacy=True)
    [block_hash] = wallet.mine()

    raw = wallet.rpc.get_block_raw(block_hash)

    assert_parses_like_bitcoinlib(raw)
    parsed = parse_block(raw)
    assert parsed.hash == block_hash
    txids = {output.txid for output in parsed.outputs}
    assert {b2lx(segwit.GetTxid()), b2lx(legacy.GetTxid())} <= txids
    assert segwit.has_witness() and not legacy.has_witness()
    for height in range(1, 4):  # early blocks: coinbase only, before segwit
        assert_parses_like_bitcoinlib(wallet.rpc.get_block_raw(wallet.rpc.get_block_hash(height)))


@given(transactions())
@settings(max_examples=150, deadline=None)
def test_it_reads_one_transaction_like_python_bitcoinlib(tx):
    raw = tx.serialize()
    outputs = parse_transaction(raw)
    txid = b2lx(tx.GetTxid())
    expected = [(txid, n, o.nValue, bytes(o.scriptPubKey)) for n, o in enumerate(tx.vout)]
    assert [tuple(o) for o in outputs] == expected
    with pytest.raises(BlockParseError):
        parse_transaction(raw[:-1])
    with pytest.raises(BlockParseError):
        parse_transaction(raw + b"\x00")
