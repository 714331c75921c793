"""Reserves against liabilities and the circuit breaker (docs/deposits.md, "Reserves and the
circuit breaker"): a reorg with a conflicting spend after credit claws back and trips the
breaker, an honest user's withdrawal waits until an administrator resumes; on real PostgreSQL,
bcoin and the SONs' signers."""

import pytest
from bitcoin.core import b2lx
from django.urls import reverse

from audit.models import AuditRecord
from ledger.services import balances_of
from sidechains.bitcoin.deposits import deposits_process
from sidechains.bitcoin.listener import listener_scan
from sidechains.bitcoin.reserves import reserves_check
from sidechains.bitcoin.withdrawals.builder import BREAKER_TRIPPED, withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_fail, withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import Alert, CircuitBreaker, Deposit, ReservesCheck, Withdrawal
from sonportal import health
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, sweep_fee
from tests.sidechains.test_clawbacks import WINDOW, chain, federation, mapping, step, user_key
from tests.sidechains.withdrawal_helpers import credit, deposit_on_chain, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]
__all__ = ["chain", "federation", "mapping", "user_key"]  # fixtures shared with test_clawbacks


def reserves_of(name: str) -> dict:
    return {c.name: c for c in health.run_checks() if c.name == name}[name].__dict__


def test_a_clawback_after_a_withdrawal_trips_the_breaker_until_an_administrator_resumes(
    chain, mapping, user_carol, federation, admin_user, client, tmp_path, settings
):
    settings.HEALTH_BROKER_TIMEOUT = 1
    rpc = chain.rpc
    dave = fixtures.make_user("user_dave")
    deposit_on_chain(chain, make_bitcoin_mapping(dave), 3_000_000)
    tx = chain.send([(bytes(mapping.deposit_script_pubkey), 1_000_000)])
    [block_hash] = chain.mine(1)
    listener_scan(rpc=rpc)
    deposits_process(rpc=rpc)
    carols = withdrawal_request(user=user_carol, amount_pegged=900_000, request_id="c1")
    check = reserves_check(rpc=rpc)
    # Each credit kept its sweep fee for the fee pool, the federation's own money.
    fee = sweep_fee()
    assert (check.reserves, check.liabilities) == (4_000_000, 4_000_000 - 2 * fee)
    assert check.margin == check.fee_pool == 2 * fee
    assert reserves_of("reserves")["ok"]

    # A deeper branch holds a conflicting spend of carol's deposit: clawed back after the window.
    rpc.call("invalidateblock", block_hash)
    rpc.send_raw_transaction(chain.double_spend(tx).serialize())
    step(rpc, WINDOW + 1)
    deposit = Deposit.objects.get(txid=b2lx(tx.GetTxid()))
    assert deposit.status == Deposit.Status.CLAWED_BACK
    assert balances_of(user_carol)["pBTC"] == -900_000

    check = reserves_check(rpc=rpc)

    # Dave's 3,000,000 less his sweep fee and carol's unsent 900,000 escrow are owed; carol's
    # debt is not netted; the pool gave back carol's sweep fee.
    assert (check.reserves, check.liabilities, check.receivables, check.fee_pool) == (
        3_000_000,
        3_900_000 - fee,
        900_000,
        fee,
    )
    breaker = CircuitBreaker.objects.get(chain="bitcoin")
    assert breaker.tripped
    short = 900_000 - fee
    assert f"deposit {deposit.pk}" in breaker.reason and f"short {short} sat" in breaker.reason
    alert = Alert.objects.get(kind=Alert.Kind.RESERVES_SHORTFALL)
    assert deposit.txid in alert.message
    down = reserves_of("reserves")
    assert not down["ok"] and "circuit breaker tripped" in down["error"]
    assert f"margin -{short} sat" in down["error"]

    # The honest user's withdrawal waits for the breaker.
    daves = withdrawal_request(user=dave, amount_pegged=500_000, request_id="d1")
    assert withdrawals_batch(rpc=rpc) is None
    daves.refresh_from_db()
    assert (daves.status, daves.note) == (Withdrawal.Status.REQUESTED, BREAKER_TRIPPED)
    assert reserves_check(rpc=rpc).margin == -short  # dave's escrow moved from his balance

    # An administrator fails carol's unbacked withdrawal and resumes, saying why.
    withdrawal_fail(withdrawal=carols, reason="its deposit was clawed back", by=admin_user)
    client.force_login(admin_user)
    changelist = reverse("admin:sidechains_circuitbreaker_changelist")
    action = {"action": "resume", "_selected_action": [breaker.pk]}
    client.post(changelist, action | {"confirm_with_reason": "yes", "reason": "carol's failed"})

    breaker.refresh_from_db()
    assert not breaker.tripped and breaker.resumed_by == admin_user
    record = AuditRecord.objects.get(action="circuit_breaker.resume")
    assert (record.actor, record.reason) == (admin_user, "carol's failed")
    stx = withdrawals_batch(rpc=rpc)
    assert list(stx.withdrawals.values_list("pk", flat=True)) == [daves.pk]
    for signer in make_signers(tmp_path, federation, mapping.deposit_timelock)[:2]:
        signer.sign_all()
    chain.mine(2)
    assert withdrawals_track(rpc=rpc) == 1
    daves.refresh_from_db()
    assert daves.status == Withdrawal.Status.SETTLED
    check = reserves_check(rpc=rpc)
    assert check.margin >= 0 and not CircuitBreaker.is_tripped("bitcoin")
    assert ReservesCheck.objects.count() == 4


def test_a_shortfall_within_the_tolerance_or_accepted_does_not_trip(chain, user_carol, settings):
    settings.BITCOIN_RESERVES_TOLERANCE = 1_000
    credit(user_carol, 1_000)  # pBTC with no coin behind it: 1,000 short

    assert reserves_check(rpc=chain.rpc).margin == -1_000
    assert not CircuitBreaker.is_tripped("bitcoin")

    credit(user_carol, 1, label="more")
    reserves_check(rpc=chain.rpc)
    assert CircuitBreaker.is_tripped("bitcoin")
    CircuitBreaker.objects.filter(chain="bitcoin").update(tripped=False, accepted_shortfall=1_001)
    reserves_check(rpc=chain.rpc)
    assert not CircuitBreaker.is_tripped("bitcoin")  # only a larger shortfall trips it again
