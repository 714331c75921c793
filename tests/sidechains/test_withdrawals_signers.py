"""Withdrawals signed by three real signer processes (`python -m signer serve --config ...`),
each with its own encrypted key file, configuration and journal, against the live portal on
real PostgreSQL and a real bcoin node: the portal batches, the signers poll and answer through
the API, the portal broadcasts when two of three have signed, and the tracker settles."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from bitcoin.core import CTransaction
from django.conf import settings as django_settings
from django.core.signals import request_started
from django.utils import timezone

from chains.bitcoin.addresses import validate_address
from ledger.models import Balance, Entry, LedgerAccount
from ledger.services import balances_of, ledger_check, ledger_supply
from proposals.models import Proposal
from proposals.services import proposal_approve, proposal_raise_deregistrations
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.models import SidechainTransaction, SignerRefusal, TxSignature, Withdrawal
from signer.client import SIGNING_REQUESTS_PATH
from signer.keystore import Keys, save
from sons.federation import federation_current
from sons.models import SON, Sidechain
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit, deposit_on_chain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_checked")]

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
NAMES = ("son-1", "son-2", "son-3")
EVERY = "0.5"  # heartbeat and poll interval of the signers, in seconds
STX = SidechainTransaction.Status


@pytest.fixture
def federation(transactional_db):
    return {name: fixtures.make_son(name) for name in NAMES}


@pytest.fixture
def mapping(user_carol, federation):
    set_btc_rate("1")
    return make_bitcoin_mapping(user_carol)


@dataclass
class SignerProcess:
    """One SON's signer, run as the operator runs it; its output goes to `log`."""

    name: str
    args: list[str]
    log: Path
    journal: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        assert self.process is None, f"{self.name} is running"
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signer", *self.args],
                cwd=ROOT,
                env=_signer_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, how: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _signer_env() -> dict[str, str]:
    """A separate trust domain: none of the portal's settings (DATABASE_*, SECRET_KEY*,
    REDIS_URL, ...), only PATH and the key file's passphrase."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SIGNER_PASSPHRASE": PASSPHRASE,
    }
    assert not [name for name in env if name.startswith(("DATABASE_", "SECRET", "DJANGO_"))]
    return env


@pytest.fixture
def signers(live_server, federation, mapping, chain, tmp_path):
    """The three SONs' signers, configured and not started; all stopped after the test."""
    federation_keys = [fixtures.son_key(name).public_key.format().hex() for name in NAMES]
    processes = {}
    for name, (_son, token) in federation.items():
        folder = tmp_path / name
        folder.mkdir()
        keys = Keys(bitcoin=fixtures.son_key(name), hive=fixtures.son_key(name, "hive"))
        save(folder / "son.key", keys, PASSPHRASE, n=2**10)
        (folder / "token").write_text(token + "\n")
        config = {
            "network": django_settings.BITCOIN_NETWORK,
            "federation_keys": federation_keys,
            "deposit_timelock": mapping.deposit_timelock,
            "max_feerate": 50,
            "max_fee": 10_000_000,
            "daily_cap": 100 * 100_000_000,
            "journal": "journal.sqlite",  # relative to the configuration file
        }
        (folder / "signer.json").write_text(json.dumps(config))
        args = ["serve", "--key", folder / "son.key", "--config", folder / "signer.json"]
        args += ["--portal-url", live_server.url, "--token-file", folder / "token"]
        args += ["--heartbeat-every", EVERY, "--poll-every", EVERY]
        processes[name] = SignerProcess(
            name, list(map(str, args)), folder / "signer.log", folder / "journal.sqlite"
        )
    yield processes
    for process in processes.values():
        process.stop()


@pytest.fixture
def polls():
    """How many times signers have fetched their signing requests from the live portal."""
    hits: Counter[str] = Counter()

    def record(sender, environ, **kwargs):
        if (environ["REQUEST_METHOD"], environ["PATH_INFO"]) == ("GET", SIGNING_REQUESTS_PATH):
            hits["polls"] += 1

    request_started.connect(record, dispatch_uid="withdrawal-signers-polls")
    yield hits
    request_started.disconnect(dispatch_uid="withdrawal-signers-polls")


def wait_for(condition, signers, timeout=15.0, what="the condition"):
    """The first truthy value of condition(), polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {s.name}\n{s.output()}" for s in signers.values())
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.1)
    return value


def status_of(stx: SidechainTransaction) -> str:
    stx.refresh_from_db(fields=["status"])
    return stx.status


def signed_by(stx: SidechainTransaction, name: str) -> list[tuple[int, bytes]]:
    rows = TxSignature.objects.filter(sidechain_tx=stx, son__name=name).order_by("input_index")
    return [(row.input_index, bytes(row.signature)) for row in rows]


def batched(chain, mapping, user, amount=500_000) -> tuple[SidechainTransaction, Withdrawal]:
    """A credited deposit of 0.02 BTC, a withdrawal of `amount`, batched: awaiting signatures."""
    deposit_on_chain(chain, mapping, 2_000_000)
    withdrawal = withdrawal_request(user=user, amount_pegged=amount, request_id="w1")
    stx = withdrawals_batch(rpc=chain.rpc)
    assert stx is not None and stx.status == STX.AWAITING_SIGNATURES
    return stx, withdrawal


def settle(chain, stx: SidechainTransaction, withdrawal: Withdrawal) -> None:
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.SETTLED
    assert status_of(stx) == STX.CONFIRMED


def broadcast(stx, signers, timeout=15.0) -> None:
    wait_for(lambda: status_of(stx) == STX.BROADCAST, signers, timeout, "the broadcast")


def no_errors(signers) -> None:
    for process in signers.values():
        text = process.output()
        assert " ERROR " not in text and "Traceback" not in text, text
        assert "refused request" not in text, text
    assert not SignerRefusal.objects.exists()


def test_three_signers_pay_a_withdrawal(chain, mapping, user_carol, signers):
    stx, withdrawal = batched(chain, mapping, user_carol)
    for process in signers.values():
        process.start()

    broadcast(stx, signers)

    stx.refresh_from_db()
    assert len(stx.signers) == 2
    assert chain.rpc.call("getrawtransaction", stx.txid, 1)["txid"] == stx.txid  # in the mempool
    settle(chain, stx, withdrawal)
    no_errors(signers)
    for process in signers.values():
        assert "signing on regtest for a federation of 3 keys (threshold 2)" in process.output()


def test_two_of_three_signers_are_enough(chain, mapping, user_carol, signers, federation):
    stx, withdrawal = batched(chain, mapping, user_carol)
    signers["son-1"].start()
    signers["son-3"].start()

    broadcast(stx, signers)

    stx.refresh_from_db()
    assert sorted(stx.signers) == sorted(federation[name][0].pk for name in ("son-1", "son-3"))
    settle(chain, stx, withdrawal)
    no_errors(signers)


def test_with_two_signers_down_the_transaction_waits_for_a_second(
    chain, mapping, user_carol, signers, polls
):
    stx, withdrawal = batched(chain, mapping, user_carol)
    signers["son-2"].start()
    wait_for(lambda: signed_by(stx, "son-2"), signers, what="son-2's signatures")
    seen = polls["polls"]

    wait_for(lambda: polls["polls"] >= seen + 4, signers, what="four more polls")

    assert status_of(stx) == STX.AWAITING_SIGNATURES
    stx.refresh_from_db()
    assert stx.signed_tx is None
    signers["son-3"].start()
    broadcast(stx, signers)
    settle(chain, stx, withdrawal)
    no_errors(signers)


def test_a_restarted_signer_answers_the_same_signatures_from_its_journal(
    chain, mapping, user_carol, signers
):
    stx, withdrawal = batched(chain, mapping, user_carol)
    first = signers["son-1"]
    first.start()
    signatures = wait_for(lambda: signed_by(stx, "son-1"), signers, what="son-1's signatures")
    first.stop(signal.SIGKILL)  # a crash
    # The portal never got the answer (lost between the signer's journal and the portal).
    TxSignature.objects.filter(sidechain_tx=stx, son__name="son-1").delete()
    before = len(first.output())

    first.start()  # the same key, configuration and journal

    again = wait_for(lambda: signed_by(stx, "son-1"), signers, what="son-1's second answer")
    assert again == signatures
    posted = f"request {stx.pk}: signatures posted"
    wait_for(lambda: posted in first.output()[before:], signers, what="the restarted answer")
    # the second answer came from the journal: signed once, across both runs
    assert first.output().count(f"signed request {stx.pk} ") == 1
    with sqlite3.connect(first.journal) as journal:
        assert journal.execute("SELECT request_id FROM requests").fetchall() == [(str(stx.pk),)]
    assert status_of(stx) == STX.AWAITING_SIGNATURES
    signers["son-2"].start()
    broadcast(stx, signers)
    settle(chain, stx, withdrawal)
    no_errors(signers)


def test_three_signers_pay_thirty_withdrawals_in_one_transaction(chain, mapping, signers):
    deposit_on_chain(chain, mapping, 5_000_000)  # the federation's coin (carol's deposit)
    users = [fixtures.make_user(f"payee_{i}") for i in range(30)]
    addresses = {}
    for user in users:
        addresses[user.pk] = make_bitcoin_mapping(user).withdraw_address
        credit(user, 100_000)
    assert len(set(addresses.values())) == 30  # thirty distinct withdraw addresses
    supply = ledger_supply()["pBTC"]
    withdrawals = [
        withdrawal_request(user=user, amount_pegged=20_000 + 1_000 * i, request_id=f"w{i}")
        for i, user in enumerate(users)
    ]
    escrowed = sum(w.amount_pegged for w in withdrawals)

    stx = withdrawals_batch(rpc=chain.rpc)

    assert stx is not None and stx.status == STX.AWAITING_SIGNATURES
    assert stx.withdrawals.count() == 30
    assert withdrawals_batch(rpc=chain.rpc) is None  # one transaction for all thirty
    for process in signers.values():
        process.start()
    broadcast(stx, signers)
    stx.refresh_from_db()
    assert len(stx.signers) == 2
    chain.mine(2)
    assert withdrawals_track(rpc=chain.rpc) == 1

    assert status_of(stx) == STX.CONFIRMED
    assert set(Withdrawal.objects.values_list("status", flat=True)) == {"settled"}
    tx = CTransaction.deserialize(chain.rpc.get_raw_transaction(stx.txid))
    outputs = Counter((bytes(out.scriptPubKey), out.nValue) for out in tx.vout)
    assert len(tx.vout) == 31  # thirty payouts and the change
    stx.refresh_from_db()
    fees = 0
    for withdrawal in Withdrawal.objects.filter(pk__in=[w.pk for w in withdrawals]):
        assert withdrawal.sidechain_tx_id == stx.pk
        assert withdrawal.address == addresses[withdrawal.user_id]
        script = bytes(validate_address(addresses[withdrawal.user_id], "regtest").script_pubkey)
        payout = withdrawal.amount - withdrawal.fee_share
        assert payout > 0 and outputs[(script, payout)] == 1, withdrawal
        assert sum(1 for out in tx.vout if bytes(out.scriptPubKey) == script) == 1
        fees += withdrawal.fee_share
    assert stx.fee == fees
    assert sum(out.nValue for out in tx.vout) == 5_000_000 - stx.fee
    # each escrow burned, once, for its amount; the SON account holds nothing
    burns = Entry.objects.filter(reason=Entry.Reason.WITHDRAWAL_BURN)
    assert sorted(burns.values_list("amount", flat=True)) == sorted(
        w.amount_pegged for w in withdrawals
    )
    son_account = Balance.objects.filter(
        account__system=LedgerAccount.System.SON_ACCOUNT, asset="pBTC"
    )
    assert sum(son_account.values_list("amount", flat=True)) == 0
    assert ledger_supply()["pBTC"] == supply - escrowed
    for i, user in enumerate(users):
        assert balances_of(user)["pBTC"] == 100_000 - (20_000 + 1_000 * i)
    assert ledger_check() == []
    no_errors(signers)


def test_after_a_deregistration_the_two_others_still_pay_from_the_same_federation(
    chain, mapping, user_carol, signers, federation
):
    deposit_on_chain(chain, mapping, 2_000_000)  # the reserves: a coin under the 2-of-3 scripts
    version = federation_current(Sidechain.BITCOIN)
    son_3 = federation["son-3"][0]
    silent = timezone.now() - timedelta(hours=13)
    SON.objects.filter(pk=son_3.pk).update(
        status=SON.Status.IN_MAINTENANCE, last_heartbeat_at=silent, last_down_at=silent
    )
    alice, bob = (fixtures.make_witness(name) for name in ("witness_alice", "witness_bob"))
    [proposal] = proposal_raise_deregistrations()
    proposal_approve(proposal=proposal, witness=alice)
    assert proposal_approve(proposal=proposal, witness=bob).status == Proposal.Status.EXECUTED
    son_3.refresh_from_db()
    assert son_3.status == SON.Status.DEREGISTERED
    assert federation_current(Sidechain.BITCOIN).pk == version.pk  # no key changed by itself

    withdrawal = withdrawal_request(user=user_carol, amount_pegged=500_000, request_id="w1")
    stx = withdrawals_batch(rpc=chain.rpc)
    assert stx is not None, "the reserves must stay selectable"
    assert bytes(stx.change_witness_script) == bytes(version.wallet_script)  # signers accept it
    for process in signers.values():  # son-3's too: it is refused and idles
        process.start()
    broadcast(stx, signers)

    stx.refresh_from_db()
    assert sorted(stx.signers) == sorted(federation[n][0].pk for n in ("son-1", "son-2"))
    settle(chain, stx, withdrawal)
    no_errors(signers)
    said = signers["son-3"].output()
    assert said.count("the portal refuses this SON (son_deregistered)") == 1, said
    assert not TxSignature.objects.filter(son=son_3).exists()
