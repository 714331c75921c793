"""The signer's journal: its own SQLite file, idempotence, the one-spend-per-outpoint rule and
its fee-bump exception, the daily window, restarts (reopened files, a killed process) and two
processes racing for one outpoint."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from signer.journal import Journal, JournalError, Spend
from signer.policy import Payout, review
from signer.signing import sign_request
from tests.signer.withdrawals import ERIN, NOW, Draft, History, coin, config, script_pubkey

REPO = Path(__file__).resolve().parents[2]
BASE = Draft()
OTHER_COINS = (coin("another wallet utxo", 100_000_000), coin("another deposit", 50_000_000))
SIGNATURES = [{"input": 0, "pubkey": "02" + "11" * 32, "signature": "3006020101020101" + "01"}]


def spend(draft: Draft) -> Spend:
    verdict, reviewed = review(draft.request(), config(), History(), NOW)
    assert reviewed is not None, verdict
    return Spend.of(reviewed)


def sign(journal: Journal, draft: Draft, when=NOW) -> None:
    """Record `draft` as signed, through the journal's two steps."""
    assert journal.conflicts(spend(draft)) is None
    assert journal.record_intent(spend(draft), when) is None
    journal.record_signatures(spend(draft), SIGNATURES, when)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(path):
    with Journal(path) as journal:
        yield journal


# --- the file ---------------------------------------------------------------------------------


def test_it_creates_a_private_wal_database_that_syncs_every_commit(journal, path):
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
    assert journal._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_it_refuses_a_file_that_is_not_its_journal(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(JournalError, match="cannot use the journal"):
        Journal(garbage)
    future = tmp_path / "future.sqlite"
    with sqlite3.connect(future) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError, match="unknown journal schema version 99"):
        Journal(future)
    with pytest.raises(JournalError, match="cannot open"):
        Journal(tmp_path / "missing-folder" / "journal.sqlite")


# --- idempotence and restarts -----------------------------------------------------------------


def test_it_returns_the_stored_signatures_after_a_reopen(path):
    with Journal(path) as journal:
        sign(journal, BASE)
    with Journal(path) as reopened:
        assert reopened.already_signed(spend(BASE)) == SIGNATURES
        # the same id with another transaction is not "already signed"
        assert reopened.already_signed(spend(BASE.but(fee=6_000))) is None


def test_it_has_no_signatures_for_a_request_with_only_an_intent(journal):
    assert journal.record_intent(spend(BASE), NOW) is None
    assert journal.already_signed(spend(BASE)) is None
    assert journal.conflicts(spend(BASE)) is None  # its own intent is no conflict
    assert journal.record_intent(spend(BASE), NOW) is None  # and recording it again is a no-op
    journal.record_signatures(spend(BASE), SIGNATURES, NOW)
    assert journal.already_signed(spend(BASE)) == SIGNATURES


def test_it_refuses_signatures_without_an_intent(journal):
    with pytest.raises(JournalError, match="no intent"):
        journal.record_signatures(spend(BASE), SIGNATURES, NOW)


def test_a_killed_signer_keeps_what_it_signed(path):
    """A signer process signs, then dies without closing anything; a new one finds it all."""
    program = (
        "import json, os, sys\n"
        "from signer.journal import Journal\n"
        "from signer.signing import sign_request\n"
        "from tests.signer.withdrawals import NOW, Draft, config\n"
        "answer = sign_request(Draft().request(), config(), Journal(sys.argv[1]), NOW)\n"
        "print(json.dumps(answer), flush=True)\n"
        "os._exit(0)  # no close, no checkpoint, no atexit\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert len(answer["signatures"]) == 2
    with Journal(path) as journal:
        assert sign_request(BASE.request(), config(), journal, NOW) == answer
        assert journal.already_signed(spend(BASE)) == answer["signatures"]


# --- one transaction per outpoint, except fee bumps -------------------------------------------


def test_it_allows_the_same_transaction_under_another_id(journal):
    sign(journal, BASE)
    assert journal.conflicts(spend(BASE.but(id="stx-resent"))) is None


def test_it_refuses_another_transaction_under_a_used_id(journal):
    sign(journal, BASE)
    other = BASE.but(coins=OTHER_COINS, withdrawals=(("w-3", ERIN, 1_000_000),))
    assert journal.conflicts(spend(other)) == "REQUEST_ID_REUSED"


def test_it_refuses_a_second_transaction_spending_a_signed_outpoint(journal):
    sign(journal, BASE)
    for coins in [(BASE.coins[1],), (OTHER_COINS[0], BASE.coins[0])]:
        other = BASE.but(id="stx-2", coins=coins, withdrawals=(("w-3", ERIN, 1_000_000),))
        assert journal.conflicts(spend(other)) == "CONFLICTING_SPEND"


def test_it_refuses_to_pay_a_withdrawal_in_two_transactions(journal):
    sign(journal, BASE)
    other = BASE.but(id="stx-2", coins=OTHER_COINS, withdrawals=BASE.withdrawals[1:])
    assert journal.conflicts(spend(other)) == "DUPLICATE_PAYOUT"


def test_it_allows_a_chain_of_fee_bumps(journal):
    sign(journal, BASE)
    first = BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-1")
    assert journal.conflicts(spend(first)) is None
    sign(journal, first)
    second = BASE.but(id="stx-3", fee=12_000, fee_bump_of="stx-2")
    assert journal.conflicts(spend(second)) is None
    sign(journal, second)
    # naming the original instead of the latest bump is still one family
    assert journal.conflicts(spend(BASE.but(id="stx-4", fee=15_000, fee_bump_of="stx-1"))) is None


@pytest.mark.parametrize(
    "bump",
    [
        BASE.but(id="stx-2", fee=5_000, fee_bump_of="stx-1"),  # the same fee
        BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-9"),  # nothing signed by that id
        BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-1", coins=BASE.coins[:1]),
        BASE.but(
            id="stx-2",
            fee=8_000,
            fee_bump_of="stx-1",
            withdrawals=(BASE.withdrawals[0], ("w-2", ERIN, 20_000_000)),
        ),
    ],
    ids=["same fee", "unknown target", "fewer outpoints", "payout redirected"],
)
def test_it_refuses_what_is_not_a_fee_bump(journal, bump):
    sign(journal, BASE)
    assert journal.conflicts(spend(bump)) == "NOT_A_FEE_BUMP"


def test_a_fee_bump_cannot_reach_an_outpoint_of_another_family(journal):
    sign(journal, BASE)
    unrelated = BASE.but(id="stx-2", coins=OTHER_COINS[:1], withdrawals=(("w-3", ERIN, 1_000_000),))
    sign(journal, unrelated)
    # A bump of stx-2 that also spends stx-1's coin: same payouts as stx-2 but not its outpoints.
    sneaky = unrelated.but(
        id="stx-3", fee=9_000, fee_bump_of="stx-2", coins=(*OTHER_COINS[:1], BASE.coins[0])
    )
    assert journal.conflicts(spend(sneaky)) == "NOT_A_FEE_BUMP"


# --- the daily window -------------------------------------------------------------------------


def test_it_lists_the_payouts_signed_after_a_time(journal):
    old = BASE.but(id="stx-old", coins=OTHER_COINS, withdrawals=(("w-0", ERIN, 7_000_000),))
    sign(journal, old, when=NOW - timedelta(hours=30))
    sign(journal, BASE, when=NOW)
    expected = {
        Payout(wid, script_pubkey(address), amount) for wid, address, amount in BASE.withdrawals
    }
    assert set(journal.payouts_since(NOW - timedelta(hours=24))) == expected
    assert len(journal.payouts_since(NOW - timedelta(hours=31))) == 3


# --- a race between two processes sharing one journal -----------------------------------------


def test_two_signers_racing_for_one_outpoint_sign_only_one_transaction(path):
    first, second = Journal(path), Journal(path)
    mine = BASE
    theirs = BASE.but(id="stx-2", coins=BASE.coins[:1], withdrawals=(("w-3", ERIN, 1_000_000),))
    try:
        # Both pass the check before either records: the race the write lock closes.
        assert first.conflicts(spend(mine)) is None
        assert second.conflicts(spend(theirs)) is None
        assert first.record_intent(spend(mine), NOW) is None
        assert second.record_intent(spend(theirs), NOW) == "CONFLICTING_SPEND"
        assert sign_request(theirs.request(), config(), second, NOW)["reasons"] == [
            "CONFLICTING_SPEND"
        ]
    finally:
        first.close()
        second.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT request_id FROM signed_requests").fetchall() == [("stx-1",)]


def test_the_signer_package_imports_nothing_from_the_portal():
    program = (
        "import sys\n"
        "import signer.signing, signer.policy, signer.journal, signer.bitcoin, signer.cli\n"
        "portal = {'django', 'mappings', 'sidechains', 'sonportal', 'rates', 'proposals',\n"
        "          'bitcoin'}  # python-bitcoinlib: the tests' reference, not the signer's\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in portal))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.stdout.strip() == "[]"
