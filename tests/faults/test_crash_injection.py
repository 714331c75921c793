"""Crash injection across the money path (docs/testing.md, "Fault runs"): deposits, crediting,
sweeps, withdrawals, batching, signing, broadcast and settlement on bcoin, with two web
processes, two Celery workers, beat and three signer processes, while processes are SIGKILLed at
random moments and PostgreSQL and Redis restart; then the invariants, checked from the chain and
the database.

`bin/test` runs the short form (FAULT_KILLS=30); `bin/test --faults --long` runs 300 kills.
FAULT_SEED replays a run's schedule.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field

import pytest
from django.db import connection, connections

from tests import fixtures
from tests.faults import invariants, processes
from tests.faults.run import Run
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sidechains.regtest_wallet import RegtestWallet

pytestmark = pytest.mark.django_db(transaction=True)

KILLS = int(os.environ.get("FAULT_KILLS", "30"))
KILL_EVERY = float(os.environ.get("FAULT_KILL_EVERY", "2.0"))  # seconds, on average
USERS = 6
SONS = ("son-1", "son-2", "son-3")


@dataclass
class World:
    wallet: RegtestWallet
    users: list
    deposit_scripts: dict[int, bytes]
    withdraw_scripts: dict[int, bytes]
    start_height: int
    witnesses: list = field(default_factory=list)


@pytest.fixture
def node(tmp_path):
    node = processes.Node(tmp_path / "bcoin")
    node.folder.mkdir()
    node.start()
    yield node
    node.stop()


@pytest.fixture
def world(node, transactional_db) -> World:
    from chains.bitcoin.addresses import validate_address

    wallet = RegtestWallet.funded(node.node.rpc(timeout=10))
    federation = {name: fixtures.make_son(name)[1] for name in SONS}
    set_btc_rate("1")
    users = [fixtures.make_user(f"fault_user_{i}") for i in range(USERS)]
    mappings = {user.pk: make_bitcoin_mapping(user) for user in users}
    world = World(
        wallet=wallet,
        users=users,
        deposit_scripts={pk: bytes(m.deposit_script_pubkey) for pk, m in mappings.items()},
        withdraw_scripts={
            pk: bytes(validate_address(m.withdraw_address, "regtest").script_pubkey)
            for pk, m in mappings.items()
        },
        start_height=wallet.rpc.get_block_count(),
    )
    world.federation = federation  # type: ignore[attr-defined]
    world.timelock = next(iter(mappings.values())).deposit_timelock  # type: ignore[attr-defined]
    # Two witnesses: a refund proposal passes on the second approval (> 50 % of the weight).
    world.witnesses = [fixtures.make_witness(f"fault_witness_{i}") for i in range(2)]
    return world


@pytest.fixture
def supervised(node, world, tmp_path):
    env = processes.portal_env(node, connection.settings_dict["NAME"], world.start_height)
    portal, webs = processes.portal_processes(env, tmp_path)
    signers = processes.signer_processes(world.federation, webs, tmp_path, world.timelock)
    everything = portal | signers
    for process in everything.values():
        process.start()
    yield everything
    for process in everything.values():
        process.stop()
    connections.close_all()


def test_money_survives_random_kills(node, world, supervised, settings, capsys):
    settings.BITCOIN_RPC_URL = node.url
    settings.BITCOIN_RPC_USER = "sonportal"
    settings.BITCOIN_RPC_PASSWORD = node.api_key
    seed = int(os.environ.get("FAULT_SEED") or secrets.randbelow(2**32))
    with capsys.disabled():
        print(f"\nFault run seed {seed}: {KILLS} kills, one every ~{KILL_EVERY} s")
    run = Run(seed=seed, kills=KILLS, world=world, supervised=supervised, node=node)
    started = time.monotonic()

    run.chaos(KILL_EVERY)
    # Generous: a loaded machine once left the listener a block short at 120 s + KILLS; a run
    # that settles returns as soon as it has.
    settled = run.settle(timeout=300 + 2 * KILLS)

    violations = [] if settled else ["the pipelines did not finish within the timeout"]
    with capsys.disabled():  # the report is printed whether the run passes or not
        violations += check(run, world)
        run.report.print(violations, time.monotonic() - started)
    assert sum(run.report.kills.values()) >= KILLS
    assert run.report.deposits > 0 and run.report.withdrawals > 0
    assert violations == []


def check(run: Run, world: World) -> list[str]:
    rpc = world.wallet.rpc
    outputs, mined, spends = invariants.chain_outputs(rpc, world.start_height)
    fees = invariants.sweep_fees(mined)
    problems, reserves, supply = invariants.reserves_cover_supply(rpc)
    problems += invariants.sweep_fees_in_the_ledger(fees)
    funded, received, pool = invariants.fee_pool_funded()
    problems += funded
    print(f"  reserves {reserves} sat on chain, supply {supply} pBTC base units,")
    print(f"  sweep fees {fees} sat paid by the fee pool, {received} received from deposits,")
    print(f"  fee pool {pool}")
    unswept, run.report.sweeps = invariants.deposits_swept_by_deadline(
        rpc, processes.SWEEP_DEADLINE, mined
    )
    if not run.report.sweeps:
        unswept.append("no sweep was mined: the run did not drive sweeps")
    refunds, run.report.refund_pending, run.report.refunds = invariants.deposits_refunded_once(
        run.sent, spends, world.withdraw_scripts
    )
    if not run.report.refunds:
        refunds.append("no refund was confirmed: the run did not drive refunds")
    return (
        unswept
        + refunds
        + invariants.deposits_credited_once(run.sent, mined, rpc)
        + invariants.withdrawals_paid_once(outputs, world.withdraw_scripts)
        + invariants.withdrawals_not_lost()
        + invariants.ledger_balanced()
        + problems
        + invariants.coins_reserved_once()
    )
