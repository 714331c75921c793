"""The minimal BIP-174 serializer and parser (chains/bitcoin/psbt.py), against the BIP's own
test vectors; its use on a real node is tests/sidechains/test_self_refund_kit.py."""

import base64

import coincurve
import pytest
from bitcoin.core import CMutableTransaction, CMutableTxIn, COutPoint, CTxOut, lx
from bitcoin.core.script import CScript

from chains.bitcoin.federation import deposit_witness_script, p2wsh_script_pubkey
from chains.bitcoin.psbt import (
    MAGIC,
    PsbtError,
    PsbtInput,
    psbt_base64,
    psbt_parse,
    psbt_serialize,
    reclaim_psbt,
)

# BIP-174, "Test Vectors", the Creator: a transaction with two inputs and two outputs, and
# the PSBT with nothing but it (empty input and output maps).
CREATOR_B64 = (
    "cHNidP8BAJoCAAAAAljoeiG1ba8MI76OcHBFbDNvfLqlyHV5JPVFiHuyq911AAAAAAD/////g40EJ9DsZQpoqka7"
    "CwmK6kQiwHGyyng1Kgd5WdB86h0BAAAAAP////8CcKrwCAAAAAAWABTYXCtx0AYLCcmIauuBXlCZHdoSTQDh9QUA"
    "AAAAFgAUAK6pouXw+HaliN9VRuh0LR2HAI8AAAAAAAAAAAA="
)
# BIP-174, "Invalid PSBTs": a network transaction, not a PSBT.
NOT_A_PSBT_B64 = (
    "AgAAAAEmgXE3Ht/yhek3re6ks3t4AAwFZsuzrWRkFxPKQhcb9gAAAABqRzBEAiBwsiRRI+a/R01gxbUMBD1MaRpdJD"
    "XwmjSnZiqdwlF5CgIgATKcqdrPKAvfMHQOwDkEIkIsgctFg5RXrrdvwS7dlbMBIQJlfRGNM1e44PTCzUbbezn22cON"
    "mnCry5st5dyNv+TOMf7///8C09/1BQAAAAAZdqkU0MWZA8W6woaHYOkP1SGkZlqnZSCIrADh9QUAAAAAF6kUNUXm4z"
    "uDLEcFDyTT7rk8nAOUi8eHsy4TAA=="
)


def creator_tx() -> CMutableTransaction:
    txids = [
        ("75ddabb27b8845f5247975c8a5ba7c6f336c4570708ebe230caf6db5217ae858", 0),
        ("1dea7cd05979072a3578cab271c02244ea8a090bbb46aa680a65ecd027048d83", 1),
    ]
    outputs = [
        (149_990_000, "0014d85c2b71d0060b09c9886aeb815e50991dda124d"),
        (100_000_000, "001400aea9a2e5f0f876a588df5546e8742d1d87008f"),
    ]
    return CMutableTransaction(
        [CMutableTxIn(COutPoint(lx(txid), vout), nSequence=0xFFFFFFFF) for txid, vout in txids],
        [CTxOut(amount, CScript(bytes.fromhex(spk))) for amount, spk in outputs],
        nLockTime=0,
        nVersion=2,
    )


def test_it_serializes_the_bips_creator_vector_byte_for_byte():
    data = psbt_serialize(creator_tx(), [PsbtInput(), PsbtInput()])

    assert psbt_base64(data) == CREATOR_B64


def test_it_parses_the_creator_vector_back():
    psbt = psbt_parse(base64.b64decode(CREATOR_B64))

    assert psbt.unsigned_tx.serialize() == creator_tx().serialize()
    assert psbt.inputs == [{}, {}] and psbt.outputs == [{}, {}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (base64.b64decode(NOT_A_PSBT_B64), "magic"),
        (base64.b64decode(CREATOR_B64)[:-3], "Unexpected end"),
        (base64.b64decode(CREATOR_B64) + b"\x00", "after the last map"),
        (MAGIC + b"\x00", "no unsigned transaction"),
        (MAGIC + b"\x01\x00" + b"\xff" * 9, "Unexpected end"),
        (MAGIC + b"\x00" * (1_000_001 - len(MAGIC)), "more than"),
    ],
)
def test_it_refuses_what_is_not_a_psbt(data, message):
    with pytest.raises(PsbtError, match=message):
        psbt_parse(data)


def test_it_refuses_a_duplicate_key():
    tx = creator_tx().serialize()
    pair = b"\x01\x00" + bytes([len(tx)]) + tx
    with pytest.raises(PsbtError, match="Duplicate key 00"):
        psbt_parse(MAGIC + pair + pair + b"\x00")


def test_a_reclaim_psbt_carries_what_a_wallet_needs_to_sign():
    key, *sons = (coincurve.PrivateKey(bytes([i]) * 32).public_key.format() for i in (1, 2, 3, 4))
    script = deposit_witness_script(sons, key, 10)
    pay_to = bytes.fromhex("0014" + "55" * 20)

    kit = reclaim_psbt(
        outpoint=("aa" * 32, 1),
        amount=100_000,
        prev_tx=b"\x02\x00\x00\x00",
        witness_script=script,
        pay_to=pay_to,
        feerate=2,
    )

    psbt = psbt_parse(kit.psbt)
    tx = psbt.unsigned_tx
    assert (tx.nVersion, tx.vin[0].nSequence, tx.vin[0].prevout.n) == (2, 10, 1)
    assert [(o.nValue, bytes(o.scriptPubKey)) for o in tx.vout] == [(kit.amount, pay_to)]
    assert kit.amount + kit.fee == 100_000 and kit.fee > 0
    assert psbt.witness_utxo(0) == (100_000, p2wsh_script_pubkey(script))
    assert psbt.witness_script(0) == script
    assert psbt.inputs[0][b"\x03"] == (1).to_bytes(4, "little")  # SIGHASH_ALL
    assert psbt.inputs[0][b"\x00"] == b"\x02\x00\x00\x00"
    with pytest.raises(PsbtError, match="cannot pay a fee"):
        reclaim_psbt(
            outpoint=("aa" * 32, 1), amount=300, prev_tx=None, witness_script=script,
            pay_to=pay_to, feerate=2,
        )  # fmt: skip
