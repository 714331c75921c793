"""Signing requests for the signer's tests, built the way the portal builds them.

Scripts and addresses come from the portal's mappings.chains, transactions (the one to sign and
each coin's previous transaction) from python-bitcoinlib: neither is the signer's own code, so
the tests check the signer against independent implementations. A Draft is a valid withdrawal by
default; tests change one thing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import coincurve
from bitcoin.core import CMutableTransaction, CMutableTxIn, COutPoint, CTxOut, Hash, b2lx, lx
from bitcoin.core.script import CScript

from chains.bitcoin.addresses import base58_address, decode_address, hash160, segwit_address
from chains.bitcoin.federation import (
    deposit_witness_script,
    federation_witness_script,
    p2wsh_script_pubkey,
)
from signer.policy import SignerConfig

NETWORK = "regtest"
TIMELOCK = 144
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
RBF_SEQUENCE = 0xFFFFFFFD


def secret(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def pubkey(secret_bytes: bytes) -> bytes:
    return coincurve.PrivateKey(secret_bytes).public_key.format(compressed=True)


SON_SECRETS = [secret(f"son-{i}") for i in (1, 2, 3)]
SON_KEYS = [pubkey(s) for s in SON_SECRETS]
STRANGER_KEY = pubkey(secret("stranger"))
USER_KEY = pubkey(secret("user_carol"))
WALLET_SCRIPT = federation_witness_script(SON_KEYS)
DEPOSIT_SCRIPT = deposit_witness_script(SON_KEYS, USER_KEY, TIMELOCK)
WALLET_SPK = p2wsh_script_pubkey(WALLET_SCRIPT)

CAROL = segwit_address(0, hash160(pubkey(secret("carol payout"))), NETWORK)  # P2WPKH
DAVE = base58_address("p2pkh", hash160(pubkey(secret("dave payout"))), NETWORK)  # P2PKH
ERIN = segwit_address(1, pubkey(secret("erin payout"))[1:], NETWORK)  # P2TR
MALLORY = segwit_address(0, hash160(pubkey(secret("mallory"))), NETWORK)
STRANGER_SPK = bytes([0, 20]) + hash160(STRANGER_KEY)


def config(son: int = 0, **overrides) -> SignerConfig:
    """SON number `son` (0-based) of the three; limits generous unless overridden."""
    values = {
        "network": NETWORK,
        "federation_keys": tuple(SON_KEYS),
        "private_key": coincurve.PrivateKey(SON_SECRETS[son]),
        "deposit_timelock": TIMELOCK,
        "max_feerate": 50,
        "max_fee": 100_000,
        "daily_cap": 10 * 100_000_000,
        "dust_limit": 546,
    }
    return SignerConfig(**{**values, **overrides})


def script_pubkey(address: str, network: str = NETWORK) -> bytes:
    return decode_address(address, network).script_pubkey


@dataclass(frozen=True)
class Coin:
    """Output `vout` of `prev_tx` (serialized without witnesses), of `amount` satoshi, spent
    with `witness_script`."""

    prev_tx: bytes
    vout: int
    amount: int
    witness_script: bytes

    @property
    def txid(self) -> str:
        return b2lx(Hash(self.prev_tx))

    def claim(self) -> dict:
        return {"txid": self.txid, "vout": self.vout, "witness_script": self.witness_script.hex()}


def coin(
    label: str,
    amount: int,
    witness_script: bytes = WALLET_SCRIPT,
    vout: int = 0,
    script_pubkey: bytes | None = None,
) -> Coin:
    """A coin in a made-up transaction (spending an outpoint named by `label`) whose output
    `vout` pays `amount` to P2WSH(witness_script), or to `script_pubkey`; outputs before it pay
    a stranger."""
    paid = script_pubkey if script_pubkey is not None else p2wsh_script_pubkey(witness_script)
    outputs = [CTxOut(10_000 + n, CScript(STRANGER_SPK)) for n in range(vout)]
    prev = CMutableTransaction(
        [CMutableTxIn(COutPoint(hashlib.sha256(label.encode()).digest(), 0))],
        [*outputs, CTxOut(amount, CScript(paid))],
        nVersion=2,
    )
    return Coin(prev.serialize(), vout, amount, witness_script)


@dataclass(frozen=True)
class Output:
    script_pubkey: bytes
    amount: int


def pays(address: str, amount: int) -> Output:
    return Output(script_pubkey(address), amount)


@dataclass(frozen=True)
class Draft:
    """A withdrawal transaction and its request. outputs=None: one output per withdrawal, in
    order, then the change (what the inputs leave after the fee) to the wallet."""

    id: str = "stx-1"
    coins: tuple[Coin, ...] = (
        coin("wallet utxo", 100_000_000),
        coin("deposit utxo", 50_000_000, DEPOSIT_SCRIPT),
    )
    withdrawals: tuple[tuple[str, str, int], ...] = (
        ("w-1", CAROL, 30_000_000),
        ("w-2", DAVE, 20_000_000),
    )
    fee: int = 5_000
    outputs: tuple[Output, ...] | None = None
    fee_bump_of: str | None = None
    version: int = 2
    locktime: int = 0
    sequence: int = RBF_SEQUENCE
    extra: dict = field(default_factory=dict)  # request fields to override

    @property
    def change(self) -> int:
        paid = sum(amount for _, _, amount in self.withdrawals)
        return sum(c.amount for c in self.coins) - paid - self.fee

    def tx_outputs(self) -> tuple[Output, ...]:
        if self.outputs is not None:
            return self.outputs
        payouts = tuple(pays(address, amount) for _, address, amount in self.withdrawals)
        return (*payouts, Output(WALLET_SPK, self.change))

    def tx(self) -> CMutableTransaction:
        return CMutableTransaction(
            [
                CMutableTxIn(COutPoint(lx(c.txid), c.vout), nSequence=self.sequence)
                for c in self.coins
            ],
            [CTxOut(o.amount, CScript(o.script_pubkey)) for o in self.tx_outputs()],
            nLockTime=self.locktime,
            nVersion=self.version,
        )

    def request(self) -> dict:
        document = {
            "id": self.id,
            "version": 2,
            "chain": "bitcoin",
            "network": NETWORK,
            "tx": self.tx().serialize().hex(),
            "inputs": [c.claim() for c in self.coins],
            "prev_txs": {c.txid: c.prev_tx.hex() for c in self.coins},
            "withdrawals": [
                {"id": wid, "address": address, "amount": amount}
                for wid, address, amount in self.withdrawals
            ],
            "fee_bump_of": self.fee_bump_of,
        }
        return {**document, **self.extra}

    def but(self, **changes) -> Draft:
        return replace(self, **changes)


class History:
    """An in-memory PayoutHistory, for evaluate() without a journal: every payout given was
    recorded within the window."""

    def __init__(self, payouts=()):
        self.payouts = set(payouts)

    def paid_since(self, since):
        return sum(payout.amount for payout in self.payouts)

    def recorded(self, payouts):
        return self.payouts & set(payouts)
