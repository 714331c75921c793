"""Regtest blocks for the benchmark: coinbases fanned out, then blocks of many small payments.

Every coin the benchmark spends is P2WSH of the script OP_TRUE, so a spend needs no signature
(its witness is the one-byte script) and 100,000 transactions are built in a second or two; the
node still runs its full mempool and block checks on each. Transactions are serialized by hand.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from dataclasses import dataclass, field

from bench.listener.bcoin import BenchNode, BenchNodeError
from chains.bitcoin.addresses import segwit_address
from chains.bitcoin.blocks import parse_block

OP_TRUE = b"\x51"
ANYONE = b"\x00\x20" + hashlib.sha256(OP_TRUE).digest()
ANYONE_ADDRESS = segwit_address(0, hashlib.sha256(OP_TRUE).digest(), "regtest")
WITNESS = b"\x01\x01" + OP_TRUE  # one stack item: the witness script
FANOUT = 2000  # outputs per fan-out transaction (~86 kB, under the 400k weight standard limit)
FAN_FEE = 200_000
FEE = 1_000
SEGWIT_HEIGHT = 600
BATCH = 500  # sendrawtransaction calls per JSON-RPC request


@dataclass
class Coin:
    txid_le: bytes
    vout: int
    value: int


@dataclass
class Timings:
    broadcast_seconds: float = 0.0
    broadcast_count: int = 0
    mine_seconds: float = 0.0
    mined_blocks: int = 0


@dataclass
class Chain:
    node: BenchNode
    seed: int = 1
    coins: deque[Coin] = field(default_factory=deque)
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def mature(self) -> None:
        """Mine past segwit's activation; coinbases pay ANYONE."""
        height = self.node.call("getblockcount")
        if height < SEGWIT_HEIGHT:
            self.node.call("generatetoaddress", SEGWIT_HEIGHT - height, ANYONE_ADDRESS)

    def fan_out(self, needed: int) -> None:
        """Turn the earliest coinbases into at least `needed` coins, confirmed."""
        transactions = []
        for height in range(1, -(-needed // FANOUT) + 1):
            coinbase = self._coinbase(height)
            value = (coinbase.value - FAN_FEE) // FANOUT
            raw, txid = spend(coinbase, [(value, ANYONE)] * FANOUT)
            transactions.append(raw)
            txid_le = bytes.fromhex(txid)[::-1]
            self.coins.extend(Coin(txid_le, n, value) for n in range(FANOUT))
        self.broadcast(transactions)
        while self.node.call("getmempoolinfo")["size"]:
            self.mine()

    def payments(self, count: int, deposit_scripts: list[bytes], share: float):
        """`count` signed-free transactions; returns (raw list, [(txid, script)] of deposits)."""
        raws, deposits = [], []
        for _ in range(count):
            coin = self.coins.popleft()
            amount = self.rng.randrange(10_000, 500_000)
            is_deposit = self.rng.random() < share
            payee = self.rng.choice(deposit_scripts) if is_deposit else self._random_script()
            change = (coin.value - amount - FEE, b"\x00\x14" + self.rng.randbytes(20))
            raw, txid = spend(coin, [(amount, payee), change])
            raws.append(raw)
            if is_deposit:
                deposits.append((txid, payee))
        return raws, deposits

    def broadcast(self, raws: list[bytes]) -> None:
        started = time.perf_counter()
        for i in range(0, len(raws), BATCH):
            self.node.batch("sendrawtransaction", [[raw.hex()] for raw in raws[i : i + BATCH]])
        self.timings.broadcast_seconds += time.perf_counter() - started
        self.timings.broadcast_count += len(raws)

    def mine(self) -> str:
        started = time.perf_counter()
        [block_hash] = self.node.call("generatetoaddress", 1, ANYONE_ADDRESS)
        self.timings.mine_seconds += time.perf_counter() - started
        self.timings.mined_blocks += 1
        return block_hash

    def mine_all(self) -> str:
        """Mine one block and check that it took the whole mempool."""
        block_hash = self.mine()
        left = self.node.call("getmempoolinfo")["size"]
        if left:
            raise BenchNodeError(f"block {block_hash} left {left} transactions in the mempool")
        return block_hash

    def _coinbase(self, height: int) -> Coin:
        raw = bytes.fromhex(
            self.node.call("getblock", self.node.call("getblockhash", height), False)
        )
        output = parse_block(raw).outputs[0]
        if output.script_pubkey != ANYONE:
            raise BenchNodeError(f"the coinbase at height {height} is not the benchmark's")
        return Coin(bytes.fromhex(output.txid)[::-1], 0, output.value)

    def _random_script(self) -> bytes:
        if self.rng.random() < 0.5:
            return b"\x00\x14" + self.rng.randbytes(20)
        return b"\x00\x20" + self.rng.randbytes(32)


def spend(coin: Coin, outputs: list[tuple[int, bytes]]) -> tuple[bytes, str]:
    """A version-2 segwit transaction spending an ANYONE coin: (raw, txid)."""
    version = (2).to_bytes(4, "little")
    inputs = b"\x01" + coin.txid_le + coin.vout.to_bytes(4, "little") + b"\x00\xff\xff\xff\xff"
    outs = _varint(len(outputs)) + b"".join(
        value.to_bytes(8, "little") + _varint(len(script)) + script for value, script in outputs
    )
    locktime = bytes(4)
    txid = hashlib.sha256(hashlib.sha256(version + inputs + outs + locktime).digest()).digest()
    return version + b"\x00\x01" + inputs + outs + WITNESS + locktime, txid[::-1].hex()


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")
