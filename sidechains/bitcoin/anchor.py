"""The liabilities epoch's root, anchored on Bitcoin (docs/proofs.md, "The anchor").

The first withdrawal batch or sweep built after an epoch is published carries one OP_RETURN
output, of value 0, right before its wallet output (the change or the sweep's output, which
stays last): OP_RETURN, a push of 40 bytes, ANCHOR_PREFIX then the epoch's 32-byte root. Its
fee (ANCHOR_VBYTES at the transaction's rate) comes out of that wallet output. A transaction
without a wallet output, or whose wallet output could not pay it above dust, carries none: the
next one does. An epoch is due while it is the newest, not anchored yet, and no open or
confirmed transaction carries it. When the transaction confirms, the epoch records its txid
(settlement calls epoch_anchor_confirmed); the signers accept exactly this shape and no other
OP_RETURN (signer/policy.py)."""

from __future__ import annotations

from bitcoin.core import CMutableTransaction, CTransaction, CTxOut
from bitcoin.core.script import CScript

from chains.bitcoin.fees import DUST_LIMIT
from sidechains.models import SidechainTransaction
from solvency.models import Epoch

ANCHOR_PREFIX = b"SONROOT1"
OP_RETURN = 0x6A
ROOT_BYTES = 32
# value (8) + script length (1) + OP_RETURN, push length, prefix and root (42): no witness.
ANCHOR_VBYTES = 8 + 1 + 2 + len(ANCHOR_PREFIX) + ROOT_BYTES
STX = SidechainTransaction.Status
# Transactions that carry an epoch for good or may still: not failed, not replaced.
CARRYING = (STX.AWAITING_SIGNATURES, STX.BROADCAST, STX.CONFIRMED)


def anchor_script(root: bytes) -> bytes:
    data = ANCHOR_PREFIX + root
    return bytes([OP_RETURN, len(data)]) + data


def anchor_root(script_pubkey: bytes) -> bytes | None:
    """The root an anchor output carries, or None if it is not one."""
    if len(script_pubkey) != ANCHOR_VBYTES - 9 or script_pubkey[:2] != bytes([OP_RETURN, 40]):
        return None
    if script_pubkey[2 : 2 + len(ANCHOR_PREFIX)] != ANCHOR_PREFIX:
        return None
    return script_pubkey[2 + len(ANCHOR_PREFIX) :]


def anchor_due() -> Epoch | None:
    """The newest epoch, if it is not anchored and no live transaction carries it."""
    epoch = Epoch.objects.defer("chunk_tops").first()
    if epoch is None or epoch.anchor_txid:
        return None
    carrying = SidechainTransaction.objects.for_chain("bitcoin").filter(
        status__in=CARRYING, created_at__gte=epoch.created_at
    )
    for unsigned in carrying.values_list("unsigned_tx", flat=True)[:100]:
        if bytes.fromhex(epoch.root) in _roots(bytes(unsigned)):
            return None
    return epoch


def _roots(unsigned: bytes) -> list[bytes]:
    outputs = CTransaction.deserialize(unsigned).vout
    return [root for out in outputs if (root := anchor_root(bytes(out.scriptPubKey)))]


def anchor_add(
    tx: CMutableTransaction, *, fee: int, vsize: int, change: int, feerate: int
) -> tuple[CMutableTransaction, int, int, int]:
    """(tx, fee, vsize, change) with the due epoch's anchor before the wallet output, which is
    the last output and holds `change`; unchanged when nothing is due or it cannot pay."""
    cost = ANCHOR_VBYTES * feerate
    if change <= 0 or change - cost < DUST_LIMIT:
        return tx, fee, vsize, change
    epoch = anchor_due()
    if epoch is None:
        return tx, fee, vsize, change
    anchored = CMutableTransaction.from_tx(tx)
    anchored.vout[-1].nValue = change - cost
    anchored.vout.insert(-1, CTxOut(0, CScript(anchor_script(bytes.fromhex(epoch.root)))))
    return anchored, fee + cost, vsize + ANCHOR_VBYTES, change - cost


def epoch_anchor_confirmed(stx: SidechainTransaction) -> bool:
    """A confirmed transaction's anchor, recorded on its epoch (once); False if it has none."""
    roots = [root.hex() for root in _roots(bytes(stx.unsigned_tx))]
    if not roots:
        return False
    n = Epoch.objects.filter(root__in=roots, anchor_txid="").update(
        anchor_txid=stx.txid, anchor_height=stx.confirmed_height
    )
    return n > 0
