"""A fault run: users deposit and withdraw while a seeded random schedule SIGKILLs one of the
processes (web, worker, beat, signer, node) every few seconds and starts it again, and
restarts PostgreSQL and Redis; during outages two SONs are down, so that deposits are refunded
(tests/faults/refunds.py); then everything is left to finish and the invariants are
checked (tests/faults/invariants.py). The seed, printed, replays the same schedule of kills
and actions (timings on a loaded machine still vary)."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, connections

from chains.bitcoin.rpc import BitcoinRPCError
from ledger.services import balances_of
from rates.assets import Asset
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from tests.faults import processes
from tests.faults.invariants import SentDeposit
from tests.faults.refunds import Outage, refunds_approve

# How often each process is picked for a kill.
WEIGHTS = {
    "web-a": 2,
    "web-b": 2,
    "worker-1": 3,
    "worker-2": 3,
    "beat": 2,
    "signer-1": 1,
    "signer-2": 1,
    "signer-3": 1,
    "bitcoin": 1,
}
STAGES = ("crediting", "batching", "signing", "broadcast", "settlement", "refunding")


@dataclass
class Report:
    seed: int
    kills: Counter = field(default_factory=Counter)  # by process
    steps: Counter = field(default_factory=Counter)  # (process, stage in flight)
    restarts: Counter = field(default_factory=Counter)  # postgres, redis, exits restarted
    driver_errors: Counter = field(default_factory=Counter)
    deposits: int = 0
    withdrawals: int = 0
    sweeps: int = 0  # sweep transactions mined (counted by the invariants)
    outages: int = 0  # times two SONs were taken down
    outage_seconds: float = 0.0
    refund_pending: int = 0  # deposits that went refund_pending (counted by the invariants)
    refunds: int = 0  # refund transactions confirmed in a block (counted by the invariants)
    approvals: int = 0  # witnesses' approvals of refund proposals
    settle_seconds: float = 0.0  # the end: everything up until the pipelines are idle
    settle_waits: Counter = field(default_factory=Counter)  # seconds (~) a stage kept it going

    def print(self, violations: list[str], elapsed: float) -> None:
        print(
            f"\nFault run: seed {self.seed} (replay: FAULT_SEED={self.seed}), {elapsed:.0f} s"
            f" ({self.settle_seconds:.0f} s of it settling)"
        )
        print(f"  kills: {sum(self.kills.values())}  " + _pairs(self.kills))
        print(f"  restarts: {_pairs(self.restarts)}")
        print(
            f"  deposits sent {self.deposits}, withdrawals requested {self.withdrawals},"
            f" sweeps mined {self.sweeps}"
        )
        print(
            f"  outages (2 of 3 SONs down): {self.outages}, {self.outage_seconds:.0f} s;"
            f" deposits refund pending {self.refund_pending}, approvals {self.approvals},"
            f" refunds confirmed {self.refunds}"
        )
        print(f"  settling waited on: {_pairs(self.settle_waits) or 'nothing'}")
        print(f"  driver retries: {_pairs(self.driver_errors) or 'none'}")
        print("  kills by process and pipeline step in flight:")
        for name in WEIGHTS:
            row = "  ".join(f"{s} {self.steps[(name, s)]}" for s in (*STAGES, "idle"))
            print(f"    {name:<9} {self.kills[name]:>3}  {row}")
        print(f"  violations: {len(violations)}")
        for violation in violations[:50]:
            print(f"    {violation}")


def _pairs(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def stages_in_flight() -> list[str]:
    """Which pipeline steps have work in progress, read from the database."""
    with connections["default"].cursor() as c:
        c.execute(
            """SELECT
                 (SELECT count(*) FROM sidechains_deposit
                  WHERE status IN ('detected', 'confirmed')),
                 (SELECT count(*) FROM sidechains_withdrawal WHERE status = 'requested'),
                 (SELECT count(*) FROM sidechains_sidechaintransaction
                  WHERE status = 'awaiting_signatures'),
                 (SELECT count(*) FROM sidechains_sidechaintransaction
                  WHERE status = 'broadcast' AND mined_height IS NULL),
                 (SELECT count(*) FROM sidechains_sidechaintransaction
                  WHERE status = 'broadcast' AND mined_height IS NOT NULL),
                 (SELECT count(*) FROM sidechains_deposit WHERE status = 'refund_pending')"""
        )
        counts = c.fetchone()
    return [stage for stage, n in zip(STAGES, counts, strict=True) if n] or ["idle"]


class Run:
    def __init__(self, *, seed: int, kills: int, world, supervised: dict, node) -> None:
        self.rng = random.Random(seed)
        self.report = Report(seed)
        self.target = kills
        self.world, self.supervised, self.node = world, supervised, node
        self.sent: list[SentDeposit] = []
        self.pg_at, self.redis_at = self._service_restarts(kills)
        # Outages at a quarter of the kills and every 100 more; their own random stream, so the
        # kills and the users' actions stay those of the seed without outages.
        self.outage = Outage(random.Random(f"{seed}-outage"), supervised)
        self.outage_at = {kills // 4 + k for k in range(0, kills, 100)}

    def _service_restarts(self, kills: int) -> tuple[set[int], set[int]]:
        """PostgreSQL at a third of the kills, Redis at two thirds (and every 100 more)."""
        pg = {kills // 3 + k for k in range(0, kills, 100)}
        return pg, {2 * kills // 3 + k for k in range(0, kills, 100)}

    # -- the chaos phase ----------------------------------------------------------------------

    def chaos(self, every: float) -> None:
        next_kill = time.monotonic() + every
        killed = 0
        while killed < self.target:
            self.act()
            if time.monotonic() >= next_kill:
                killed += 1
                self.kill_one()
                if killed in self.pg_at:
                    self.report.restarts["postgres"] += 1
                    processes.restart_postgres()
                    connections.close_all()
                if killed in self.redis_at:
                    self.report.restarts["redis"] += 1
                    processes.restart_redis()
                next_kill = time.monotonic() + every * self.rng.uniform(0.5, 1.5)
                if killed in self.outage_at and not self.outage.parked:
                    self.outage.begin()
            self.refunds_step()
            self.supervise()
            time.sleep(0.2)
        if self.outage.parked:
            self.outage.end()  # the SONs come back for the end of the run

    def refunds_step(self) -> None:
        """The outage's progress and the witnesses' approvals; the database may be down."""
        try:
            self.outage.step()
            self.report.approvals += refunds_approve(self.world.witnesses)
        except DatabaseError:
            connections.close_all()
        self.report.outages = self.outage.count
        self.report.outage_seconds = self.outage.seconds

    def kill_one(self) -> None:
        names = [n for n in WEIGHTS if n not in self.outage.parked]
        name = self.rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
        try:
            stages = stages_in_flight()
        except DatabaseError:
            connections.close_all()
            stages = ["unknown"]
        target = self.node if name == "bitcoin" else self.supervised[name]
        target.kill()
        self.report.kills[name] += 1
        for stage in stages:
            self.report.steps[(name, stage)] += 1
        time.sleep(self.rng.uniform(0, 1.0))
        target.start()

    def supervise(self) -> None:
        """As systemd's Restart=always: a process that exited by itself starts again."""
        for name, process in self.supervised.items():
            if not process.running() and name not in self.outage.parked:
                self.report.restarts[f"{name} exited"] += 1
                process.start()
        if not self.node.running():
            self.report.restarts["bitcoin exited"] += 1
            self.node.start()

    def act(self) -> None:
        """One step of the users and the chain, chosen by the seed; errors from a component
        that is down are counted and the step is skipped."""
        action = self.rng.choices(["deposit", "withdraw", "mine", "wait"], [3, 3, 2, 2])[0]
        amount_seed = self.rng.randrange(1_000_000)
        user = self.rng.choice(self.world.users)
        try:
            if action == "deposit":
                self.deposit(user, 200_000 + amount_seed)
            elif action == "withdraw":
                self.withdraw(user, 20_000 + amount_seed % 50_000)
            elif action == "mine":
                self.world.wallet.mine(1)
        except BitcoinRPCError:
            self.report.driver_errors[f"{action}: node down"] += 1
        except DatabaseError:
            self.report.driver_errors[f"{action}: database down"] += 1
            connections.close_all()

    def deposit(self, user, amount: int) -> None:
        script = self.world.deposit_scripts[user.pk]
        tx = self.world.wallet.send([(script, amount)])
        self.sent.append(SentDeposit(tx.GetTxid()[::-1].hex(), 0, amount, user.pk))
        self.report.deposits += 1

    def withdraw(self, user, amount: int) -> None:
        if balances_of(user)[Asset.PBTC] < amount:
            return
        request_id = f"fault-{self.report.withdrawals}-{self.rng.randrange(10**9)}"
        try:
            withdrawal_request(user=user, amount_pegged=amount, request_id=request_id)
        except WithdrawalError:
            return
        self.report.withdrawals += 1

    # -- the end --------------------------------------------------------------------------------

    def settle(self, timeout: float) -> bool:
        """Everything up, a block a second, until every deposit is credited or refunded and
        every withdrawal settled or failed."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            self.report.settle_seconds = time.monotonic() - started
            self.supervise()
            self.refunds_step()
            try:
                self.world.wallet.mine(1)
                stages = stages_in_flight()
                if stages == ["idle"] and self.deposits_seen():
                    return True
                self.report.settle_waits.update(stages)
            except (BitcoinRPCError, DatabaseError):
                connections.close_all()
            time.sleep(1)
        return False

    def deposits_seen(self) -> bool:
        """Every mined deposit is recorded (the listener has caught up)."""
        rpc = self.world.wallet.rpc
        with connections["default"].cursor() as c:
            c.execute(
                "SELECT count(*) FROM sidechains_deposit"
                " WHERE status IN ('credited', 'refund_pending', 'refunded')"
            )
            (credited,) = c.fetchone()
        mined = 0
        for deposit in self.sent:
            try:
                info = rpc.call("getrawtransaction", deposit.txid, 1)
            except BitcoinRPCError:
                continue  # lost with a killed node's mempool
            if info.get("confirmations", 0) >= 1 or info.get("blockhash"):
                mined += 1
            else:
                return False  # still in the mempool: mine on
        return credited >= mined
