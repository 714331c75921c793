"""A tiny wallet of mature coinbase outputs on a test's own bcoin node, to make payments fast.

Coinbases of the first blocks pay P2PKH (for legacy, non-witness transactions), the rest
P2WPKH; each payment spends one whole coinbase and returns the change to P2WPKH. Signed with
python-bitcoinlib's sighash code and coincurve, not with the portal's code under test.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

import bitcoin
import coincurve
from bitcoin.core import (
    CBlock,
    CMutableTransaction,
    CMutableTxIn,
    CMutableTxOut,
    COutPoint,
    CScriptWitness,
    CTransaction,
    CTxInWitness,
    CTxWitness,
    Hash160,
)
from bitcoin.core.script import OP_0, SIGHASH_ALL, CScript, SignatureHash
from bitcoin.wallet import P2PKHBitcoinAddress, P2WPKHBitcoinAddress

from chains.bitcoin.rpc import BitcoinRPC
from chains.bitcoin.spend import sign_input

bitcoin.SelectParams("regtest")

COINBASE_MATURITY = 100
LEGACY_BLOCKS = 40  # coinbases 1..40 pay P2PKH
SEGWIT_HEIGHT = 600  # bcoin's regtest activates segwit by version bits after ~432 blocks
FEE = 10_000


@dataclass
class Coin:
    outpoint: COutPoint
    value: int
    legacy: bool


@dataclass
class RegtestWallet:
    rpc: BitcoinRPC
    secret: bytes = field(default_factory=lambda: hashlib.sha256(b"regtest wallet").digest())
    _next_height: int = 1
    _coins: dict[bool, deque[Coin]] = field(default_factory=lambda: {True: deque(), False: deque()})
    _spent: dict[COutPoint, Coin] = field(default_factory=dict)

    @classmethod
    def funded(cls, rpc: BitcoinRPC) -> RegtestWallet:
        """A wallet on a fresh node, mined past segwit's activation."""
        wallet = cls(rpc)
        if rpc.get_block_count() != 0:
            raise RuntimeError("RegtestWallet.funded wants a fresh node")
        rpc.generate_to_address(LEGACY_BLOCKS, str(wallet.p2pkh))
        wallet.mine(SEGWIT_HEIGHT - LEGACY_BLOCKS)
        return wallet

    @property
    def public_key(self) -> bytes:
        return coincurve.PrivateKey(self.secret).public_key.format()

    @property
    def p2pkh(self) -> P2PKHBitcoinAddress:
        return P2PKHBitcoinAddress.from_pubkey(self.public_key)

    @property
    def p2wpkh(self) -> P2WPKHBitcoinAddress:
        return P2WPKHBitcoinAddress.from_scriptPubKey(CScript([OP_0, Hash160(self.public_key)]))

    def mine(self, n: int = 1, *, address: str | None = None) -> list[str]:
        return self.rpc.generate_to_address(n, address or str(self.p2wpkh))

    def transaction(
        self, payments: list[tuple[bytes, int]], *, legacy: bool = False, fee: int = FEE
    ) -> CTransaction:
        """A signed transaction paying (script_pubkey, amount) pairs, with change to us."""
        coin = self._coin(legacy)
        self._spent[coin.outpoint] = coin
        outputs = [CMutableTxOut(amount, CScript(script)) for script, amount in payments]
        change = coin.value - sum(amount for _, amount in payments) - fee
        outputs.append(CMutableTxOut(change, self.p2wpkh.to_scriptPubKey()))
        tx = CMutableTransaction([CMutableTxIn(coin.outpoint)], outputs, nVersion=2)
        return self._signed(tx, coin)

    def double_spend(self, tx: CTransaction) -> CTransaction:
        """A transaction spending the same coin as `tx` (one of ours) back to us: its conflict."""
        coin = self._spent[tx.vin[0].prevout]
        out = CMutableTxOut(coin.value - 2 * FEE, self.p2wpkh.to_scriptPubKey())
        conflict = CMutableTransaction([CMutableTxIn(coin.outpoint)], [out], nVersion=2)
        return self._signed(conflict, coin)

    def send(
        self, payments: list[tuple[bytes, int]], *, legacy: bool = False, fee: int = FEE
    ) -> CTransaction:
        tx = self.transaction(payments, legacy=legacy, fee=fee)
        self.rpc.send_raw_transaction(tx.serialize())
        return tx

    def _signed(self, tx: CMutableTransaction, coin: Coin) -> CTransaction:
        p2pkh_script = self.p2pkh.to_scriptPubKey()
        if coin.legacy:
            digest = SignatureHash(p2pkh_script, tx, 0, SIGHASH_ALL)
            signature = coincurve.PrivateKey(self.secret).sign(digest, hasher=None)
            tx.vin[0].scriptSig = CScript([signature + bytes([SIGHASH_ALL]), self.public_key])
        else:
            signature = sign_input(tx, 0, bytes(p2pkh_script), coin.value, self.secret)
            stack = CScriptWitness([signature, self.public_key])
            tx.wit = CTxWitness([CTxInWitness(stack)])
        return CTransaction.from_tx(tx)

    def _coin(self, legacy: bool) -> Coin:
        mature = self.rpc.get_block_count() - COINBASE_MATURITY
        while not self._coins[legacy] and self._next_height <= mature:
            self._read_coinbase(self._next_height)
            self._next_height += 1
        if not self._coins[legacy]:
            raise RuntimeError("The wallet has no mature coinbase of that kind left.")
        return self._coins[legacy].popleft()

    def _read_coinbase(self, height: int) -> None:
        raw = self.rpc.get_block_raw(self.rpc.get_block_hash(height))
        coinbase = CBlock.deserialize(raw).vtx[0]
        out = coinbase.vout[0]
        ours = {self.p2pkh.to_scriptPubKey(): True, self.p2wpkh.to_scriptPubKey(): False}
        if out.scriptPubKey in ours:
            coin = Coin(COutPoint(coinbase.GetTxid(), 0), out.nValue, ours[out.scriptPubKey])
            self._coins[coin.legacy].append(coin)
