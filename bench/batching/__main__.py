"""python -m bench.batching: vbytes and fee per withdrawal by batch size, and withdrawals
completed per minute with three signers. See bench/README.md and bench/batching/__init__.py."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass

from bench.batching.world import World, configure_django, fresh_database
from tests.bitcoin_node import start_bcoin

TARGET_RATIO_AT_50 = 0.3
AMOUNT = 100_000  # sat per withdrawal


@dataclass
class Sized:
    batch: int
    txs: int
    inputs: int
    outputs: int
    vsize: int  # actual, of the broadcast transactions, summed
    estimate: int  # the builder's estimate, summed
    fee: int  # actual (inputs - outputs), summed

    @property
    def withdrawals(self) -> int:
        return self.batch * self.txs

    @property
    def vbytes_each(self) -> float:
        return self.vsize / self.withdrawals

    @property
    def fee_each(self) -> float:
        return self.fee / self.withdrawals


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.batching", description=__doc__)
    parser.add_argument("--batches", default="1,10,50,200", help="batch sizes to measure")
    parser.add_argument("--singles", type=int, default=10, help="transactions of one withdrawal")
    parser.add_argument("--throughput", type=int, default=500, help="withdrawals in the backlog")
    parser.add_argument("--throughput-batch", type=int, default=50, help="batch size for it")
    parser.add_argument("--database", default="sonportal_bench_batching")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if "SECRET_KEY" not in os.environ and "SECRET_KEY_FILE" not in os.environ:
        sys.exit("Load the test stack's settings first: set -a; . .stack/test/env; set +a")
    started = time.perf_counter()
    fresh_database(args.database)
    node = start_bcoin()
    try:
        configure_django(node, args.database)
        Benchmark(args, World(node)).run()
    finally:
        node.stop()
    print(f"\n(run: {time.perf_counter() - started:.0f} s)")


class Benchmark:
    def __init__(self, args: argparse.Namespace, world: World) -> None:
        self.args, self.world = args, world
        self.sizes = [int(n) for n in args.batches.split(",")]

    def run(self) -> None:
        from django.conf import settings

        tx_count = sum(self.args.singles if n == 1 else 1 for n in self.sizes)
        self.world.fund(tx_count + math.ceil(self.args.throughput / self.args.throughput_batch))
        rows = [self.measure(n) for n in self.sizes]
        self.settle()
        print_sizes(rows, settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR)
        print_sweeps(self.sizes)
        self.throughput()

    # Size and fee

    def measure(self, batch: int) -> Sized:
        """`batch` withdrawals per transaction (the batch of 1: `--singles` transactions),
        batched by the portal's builder, signed through the API, broadcast; their sizes."""
        from django.conf import settings

        from sidechains.bitcoin.withdrawals.builder import withdrawals_batch

        txs = self.args.singles if batch == 1 else 1
        settings.BITCOIN_WITHDRAWAL_BATCH_SIZE = batch  # the bench process's override
        label = f"size-{batch}"
        self.world.request(self.world.users_with_funds(batch * txs, AMOUNT, label), AMOUNT, label)
        built = [withdrawals_batch(rpc=self.world.rpc) for _ in range(txs)]
        if None in built or withdrawals_batch(rpc=self.world.rpc) is not None:
            raise RuntimeError(f"batch of {batch}: the builder did not make {txs} transactions")
        self.world.sign()
        row = Sized(batch, txs, 0, 0, 0, 0, 0)
        for stx in built:
            self._add(row, stx.pk)
        return row

    def _add(self, row: Sized, pk: int) -> None:
        from bitcoin.core import CTransaction

        from sidechains.models import SidechainTransaction

        stx = SidechainTransaction.objects.get(pk=pk)
        if stx.status != SidechainTransaction.Status.BROADCAST:
            raise RuntimeError(f"transaction {pk} is {stx.status}: {stx.last_error}")
        raw = self.world.rpc.get_raw_transaction(stx.txid)  # what the node holds
        tx = CTransaction.deserialize(raw)
        spent = sum(stx.reserved_coins.values_list("amount", flat=True))
        row.inputs += len(tx.vin)
        row.outputs += len(tx.vout)
        row.vsize += math.ceil(tx.calc_weight() / 4)
        row.estimate += stx.vsize
        row.fee += spent - sum(out.nValue for out in tx.vout)

    def settle(self) -> None:
        """Mine the measured transactions and settle them (the node accepted them in blocks)."""
        from django.conf import settings

        from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
        from sidechains.models import Withdrawal

        self.world.wallet.mine(settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS)
        withdrawals_track(rpc=self.world.rpc)
        open_ = Withdrawal.objects.exclude(status=Withdrawal.Status.SETTLED).count()
        if open_:
            raise RuntimeError(f"{open_} measured withdrawals did not settle")

    # Throughput

    def throughput(self) -> None:
        """A backlog of requests, then the portal's cycle until every one is settled: batch
        (withdrawals_batch until nothing is left), the three signers fetch and answer through
        the API (the completing answer broadcasts), one block mined, withdrawals_track."""
        from django.conf import settings

        from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
        from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
        from sidechains.models import Withdrawal

        count, world = self.args.throughput, self.world
        settings.BITCOIN_WITHDRAWAL_BATCH_SIZE = self.args.throughput_batch
        clock = {"request": 0.0, "batch": 0.0, "sign": 0.0, "mine": 0.0, "track": 0.0}
        users = world.users_with_funds(count, AMOUNT, "throughput")  # not timed
        started = time.perf_counter()
        withdrawals = self._timed(clock, "request", world.request, users, AMOUNT, "throughput")
        pks = [w.pk for w in withdrawals]
        blocks = 0
        while Withdrawal.objects.filter(pk__in=pks, status="settled").count() < count:
            while self._timed(clock, "batch", withdrawals_batch, rpc=world.rpc) is not None:
                pass
            self._timed(clock, "sign", world.sign)
            self._timed(clock, "mine", world.wallet.mine, 1)
            blocks += 1
            self._timed(clock, "track", withdrawals_track, rpc=world.rpc)
            if blocks > 50:
                raise RuntimeError("the backlog did not settle within 50 blocks")
        seconds = time.perf_counter() - started
        print_throughput(count, self.args.throughput_batch, seconds, blocks, clock, settings)

    @staticmethod
    def _timed(clock: dict, phase: str, function, *args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            clock[phase] += time.perf_counter() - started


def print_sizes(rows: list[Sized], feerate: int) -> None:
    single = rows[0] if rows[0].batch == 1 else None
    print(
        "\nWithdrawal batching: signed, broadcast transactions (bcoin regtest, 2-of-3 federation,"
        f"\none P2WSH wallet-script input of 1 BTC each, P2WPKH payouts; {feerate} sat/vB, the"
        " floor:\nbcoin has no fee estimate)\n"
    )
    header = (
        f"{'batch':>5} {'txs':>4} {'in':>4} {'out':>5} {'vbytes':>8} {'est.':>8} "
        f"{'vB/withdrawal':>14} {'fee/withdrawal':>15} {'N txs of 1':>11} {'vs 1 tx each':>13}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row.vbytes_each / single.vbytes_each:.3f}x" if single else "-"
        singles = f"{round(single.vbytes_each * row.withdrawals):,}" if single else "-"
        print(
            f"{row.batch:>5} {row.txs:>4} {row.inputs:>4} {row.outputs:>5} {row.vsize:>8,} "
            f"{row.estimate:>8,} {row.vbytes_each:>14.1f} {row.fee_each:>11.1f} sat "
            f"{singles:>11} {ratio:>13}"
        )
    if single is None:
        return
    print(
        "\nvbytes: actual vsize of the broadcast transactions; est.: the builder's estimate"
        "\n(73-byte signatures); N txs of 1: the vbytes of one transaction per withdrawal for"
        f"\nas many withdrawals ({single.vbytes_each:.1f} vB and {single.fee_each:.1f} sat each)."
    )
    for row in rows:
        if row.batch == 50:
            ratio = row.vbytes_each / single.vbytes_each
            verdict = "met" if ratio <= TARGET_RATIO_AT_50 else "NOT met"
            print(
                f"Target at batch 50: <= {TARGET_RATIO_AT_50}x the vbytes per withdrawal of one"
                f" transaction each: {ratio:.3f}x ({row.vbytes_each:.1f} / "
                f"{single.vbytes_each:.1f} vB), {verdict}"
            )


def print_sweeps(sizes: list[int]) -> None:
    """vbytes per swept deposit: the portal's sweep transaction (sweeps.sweep_transaction) over
    `n` deposit-script coins of distinct users into one wallet output, signed size as the
    builder estimates it (m signatures of 73 bytes, the IF branch byte)."""
    import coincurve

    from chains.bitcoin.federation import (
        deposit_witness_script,
        federation_witness_script,
        p2wsh_script_pubkey,
    )
    from sidechains.bitcoin.sweeps import sweep_transaction
    from sidechains.models import Coin

    keys = sorted(coincurve.PrivateKey().public_key.format() for _ in range(3))
    wallet = p2wsh_script_pubkey(federation_witness_script(keys))
    print(
        "\nSweeps: n credited deposits (each its own user's deposit script) into one wallet output"
    )
    print(f"{'batch':>5} {'vbytes':>8} {'vB/swept deposit':>17}")
    for n in sizes:
        coins = [
            Coin(
                txid=f"{i:064x}",
                vout=0,
                amount=1_000_000,
                witness_script=deposit_witness_script(
                    keys, coincurve.PrivateKey().public_key.format(), 4320
                ),
            )
            for i in range(n)
        ]
        _, _, vsize = sweep_transaction(coins, wallet, 1)
        print(f"{n:>5} {vsize:>8,} {vsize / n:>17.1f}")


def print_throughput(count, batch, seconds, blocks, clock, settings) -> None:
    print(
        f"\nThroughput: {count} withdrawals requested at once (each its own user), batch size "
        f"{batch},\nthree signers (sign_request in process, fetching and answering through the "
        "API),\nconfirmations to settle: "
        f"{settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS}, blocks mined at once (no block interval)\n"
    )
    print(f"  first request -> last settled     {seconds:.1f} s, {blocks} blocks mined")
    print("  (users, mappings and balances made beforehand, not timed)")
    print(f"  withdrawals completed per minute  {count / seconds * 60:,.0f}")
    phases = ", ".join(f"{name} {value:.1f} s" for name, value in clock.items())
    print(f"  time by phase                     {phases}")


if __name__ == "__main__":
    main()
