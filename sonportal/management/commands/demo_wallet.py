"""A regtest-only faucet for the demo: mines blocks to its own key and sends coins from them.

It plays the part of a user's own Bitcoin wallet, so the demo can show a deposit end to end.
Its key and coins live in the file named by DEMO_WALLET_FILE (bin/demo keeps it under
.stack/demo). It refuses to run on any network but regtest.
"""

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import time
from pathlib import Path

import bitcoin
import coincurve
from bitcoin.core import (
    COutPoint,
    CTransaction,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
    lx,
)
from bitcoin.core.script import CScript, CScriptWitness
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chains.bitcoin import addresses as chains_bitcoin
from chains.bitcoin.spend import sign_input
from mappings.models import SidechainAddress
from rates.assets import AmountError, Asset, amount_format, amount_parse
from sidechains.bitcoin.node import bitcoin_rpc
from sons.models import Sidechain

COINBASE_MATURITY = 100
FEE = 2_000  # satoshi; regtest relays it at once


class Command(BaseCommand):
    help = "Regtest faucet for the demo: mine blocks, send coins, make a user's deposit."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        mine = sub.add_parser("mine")
        mine.add_argument("--to-height", type=int, default=0)
        mine.add_argument("--every", type=float, default=0, help="seconds: mine one block each")
        deposit = sub.add_parser("deposit")
        deposit.add_argument("--user", required=True)
        deposit.add_argument("--btc", type=_satoshi, required=True, help="BTC, e.g. 0.5")

    def handle(self, *args, action, **options):
        if settings.BITCOIN_NETWORK != "regtest":
            raise CommandError("The demo wallet runs on regtest only.")
        bitcoin.SelectParams("regtest")
        self.wallet = Wallet(Path(os.environ.get("DEMO_WALLET_FILE", ".demo-wallet.json")))
        self.rpc = bitcoin_rpc()
        if action == "mine":
            self.mine(options["to_height"], options["every"])
        else:
            self.deposit(options["user"], options["btc"])

    def mine(self, to_height: int, every: float) -> None:
        missing = to_height - self.rpc.get_block_count()
        if missing > 0:
            self.wallet.mined(self.rpc, self.rpc.generate_to_address(missing, self.wallet.address))
        self.stdout.write(f"Bitcoin regtest height {self.rpc.get_block_count()}")
        while every:
            time.sleep(every)
            self.wallet.mined(self.rpc, self.rpc.generate_to_address(1, self.wallet.address))

    def deposit(self, username: str, amount: int) -> None:
        mapping = SidechainAddress.objects.filter(
            user__username=username, sidechain=Sidechain.BITCOIN, expires__isnull=True
        ).first()
        if mapping is None:
            raise CommandError(f"{username} has no Bitcoin mapping: register one first.")
        txid = self.wallet.send(self.rpc, mapping.deposit_address, amount)
        sent = amount_format(amount, Asset.BTC)
        self.stdout.write(f"sent {sent} to {mapping.deposit_address}: {txid}")


def _satoshi(text: str) -> int:
    try:
        return amount_parse(text, Asset.BTC)
    except AmountError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class Wallet:
    """One P2WPKH key and the coins it was paid, in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self.locked():
            if not path.exists():
                self.secret, self.coins = secrets.token_bytes(32), []
                self.save()
        self.pubkey = coincurve.PrivateKey(self.secret).public_key.format(compressed=True)
        self.program = chains_bitcoin.hash160(self.pubkey)
        self.address = chains_bitcoin.segwit_address(0, self.program, "regtest")

    @contextlib.contextmanager
    def locked(self):
        """The miner process and a deposit command share the file: one at a time."""
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                state = json.loads(self.path.read_text())
                self.secret, self.coins = bytes.fromhex(state["secret"]), state["coins"]
            yield

    def save(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"secret": self.secret.hex(), "coins": self.coins}, f)

    def mined(self, rpc, block_hashes: list[str]) -> None:
        with self.locked():
            self._add_coinbases(rpc, block_hashes)
            self.save()

    def _add_coinbases(self, rpc, block_hashes: list[str]) -> None:
        for block_hash in block_hashes:
            block = bitcoin.core.CBlock.deserialize(rpc.get_block_raw(block_hash))
            coinbase = block.vtx[0]
            height = rpc.call("getblock", block_hash, True)["height"]
            txid, amount = b2lx(coinbase.GetTxid()), coinbase.vout[0].nValue
            self.coins.append(
                {"txid": txid, "vout": 0, "amount": amount, "coinbase_height": height}
            )

    def spendable(self, tip: int, amount: int) -> dict:
        for coin in self.coins:
            mature = coin["coinbase_height"] is None or (
                tip - coin["coinbase_height"] + 1 >= COINBASE_MATURITY
            )
            if mature and coin["amount"] >= amount + FEE:
                return coin
        raise CommandError("The demo wallet has no mature coin large enough; mine more blocks.")

    def send(self, rpc, address: str, amount: int) -> str:
        with self.locked():
            txid = self._send(rpc, address, amount)
            self.save()
        return txid

    def _send(self, rpc, address: str, amount: int) -> str:
        coin = self.spendable(rpc.get_block_count(), amount)
        to = chains_bitcoin.validate_address(address, "regtest").script_pubkey
        change = coin["amount"] - amount - FEE
        outputs = [CTxOut(amount, CScript(to))]
        if change > 0:
            outputs.append(CTxOut(change, CScript(b"\x00\x14" + self.program)))
        tx = CTransaction([CTxIn(COutPoint(lx(coin["txid"]), coin["vout"]))], outputs, nVersion=2)
        script_code = b"\x76\xa9\x14" + self.program + b"\x88\xac"
        signature = sign_input(tx, 0, script_code, coin["amount"], self.secret)
        witness = CTxWitness([CTxInWitness(CScriptWitness([signature, self.pubkey]))])
        signed = CTransaction(tx.vin, tx.vout, nLockTime=0, nVersion=2, witness=witness)
        txid = rpc.send_raw_transaction(signed.serialize())
        self.coins.remove(coin)
        if change > 0:
            self.coins.append({"txid": txid, "vout": 1, "amount": change, "coinbase_height": None})
        return txid
