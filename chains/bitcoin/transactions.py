"""Building the federation's unsigned transactions (python-bitcoinlib objects)."""

from __future__ import annotations

from collections.abc import Sequence

from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CTransaction,
    CTxOut,
    b2lx,
    lx,
)
from bitcoin.core.script import CScript

# Replaceable (BIP125), so that a stuck transaction can get a fee bump; and final (no BIP68
# relative lock): the signers refuse anything that could wait.
RBF_SEQUENCE = 0xFFFFFFFD
TX_VERSION = 2


def unsigned_transaction(
    inputs: Sequence[tuple[str, int]], outputs: Sequence[tuple[bytes, int]]
) -> CMutableTransaction:
    """Spending the outpoints `inputs` ((txid, vout)), paying `outputs` ((scriptPubKey,
    satoshi)), in that order."""
    return CMutableTransaction(
        [CMutableTxIn(COutPoint(lx(txid), vout), nSequence=RBF_SEQUENCE) for txid, vout in inputs],
        [CTxOut(amount, CScript(script)) for script, amount in outputs],
        nLockTime=0,
        nVersion=TX_VERSION,
    )


def txid_of(tx: CTransaction) -> str:
    txid: str = b2lx(tx.GetTxid())
    return txid


def output_count(unsigned: bytes) -> int:
    return len(CTransaction.deserialize(unsigned).vout)
