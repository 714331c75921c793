"""The signer's journal: its own SQLite file, idempotence, the bindings of txids to content and of
outpoints to amounts and scripts, the one-spend-per-outpoint rule and its fee-bump exception,
the daily window, every lookup by index, restarts (reopened files, a killed process) and two
processes racing for one outpoint."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chains.bitcoin.federation import p2wsh_script_pubkey
from signer.journal import Journal, JournalError, Spend
from signer.policy import Payout, review
from signer.signing import sign_request
from tests.signer.withdrawals import (
    CAROL,
    ERIN,
    NOW,
    Draft,
    History,
    coin,
    config,
    script_pubkey,
)

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
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
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
    earlier = tmp_path / "earlier.sqlite"
    with sqlite3.connect(earlier) as db:
        db.execute("PRAGMA user_version = 1")  # the format that took amounts on trust
    with pytest.raises(JournalError, match="earlier signer .* configure a new journal file"):
        Journal(earlier)
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


# --- the bindings ---------------------------------------------------------------------------


def test_it_binds_each_outpoint_to_its_amount_script_and_spending_family(journal, path):
    sign(journal, BASE)
    bump = BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-1")
    sign(journal, bump)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT outpoint, amount, script_pubkey, family FROM outpoints")
        bound = sorted((o, a, bytes(spk), f) for o, a, spk, f in rows)
    family = spend(BASE).txid  # the first transaction of the family, for its bump too
    expected = sorted(
        (f"{c.txid}:{c.vout}", c.amount, p2wsh_script_pubkey(c.witness_script), family)
        for c in BASE.coins
    )
    assert bound == expected
    with sqlite3.connect(path) as db:
        contents = dict(db.execute("SELECT txid, content FROM transactions"))
    assert contents == {
        spend(BASE).txid: spend(BASE).content,
        spend(bump).txid: spend(bump).content,
    }


def test_it_refuses_an_outpoint_with_another_amount_or_script(journal):
    """Unreachable through a request (the previous transaction's hash binds both), so the
    spend is altered here: the journal's own guard against a signer bug."""
    sign(journal, BASE)
    bump = spend(BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-1"))
    first, *rest = bump.outpoints
    for lie in (first._replace(amount=first.amount - 1), first._replace(script_pubkey=b"\x51")):
        altered = dataclasses.replace(bump, outpoints=(lie, *rest))
        assert journal.conflicts(altered) == "OUTPOINT_MISMATCH"
        assert journal.record_intent(altered, NOW) == "OUTPOINT_MISMATCH"
    assert journal.conflicts(bump) is None


def test_it_refuses_a_signed_txid_with_any_other_content(journal):
    sign(journal, BASE)
    again = spend(BASE.but(id="stx-2"))
    assert journal.conflicts(again) is None  # the same content: answered with the same bytes
    changed = dataclasses.replace(again, content="00" * 32)
    assert journal.conflicts(changed) == "TX_CONTENT_MISMATCH"
    assert journal.record_intent(changed, NOW) == "TX_CONTENT_MISMATCH"
    # under its own id too: the stored signatures are not the answer to other content
    assert journal.already_signed(dataclasses.replace(spend(BASE), content="00" * 32)) is None
    assert journal.conflicts(dataclasses.replace(spend(BASE), content="00" * 32)) == (
        "TX_CONTENT_MISMATCH"
    )


# --- the daily window -------------------------------------------------------------------------


def test_it_sums_the_payouts_signed_after_a_time(journal):
    old = BASE.but(id="stx-old", coins=OTHER_COINS, withdrawals=(("w-0", ERIN, 7_000_000),))
    sign(journal, old, when=NOW - timedelta(hours=30))
    sign(journal, BASE, when=NOW)
    assert journal.paid_since(NOW - timedelta(hours=24)) == 50_000_000
    assert journal.paid_since(NOW - timedelta(hours=31)) == 57_000_000
    assert journal.paid_since(NOW) == 0
    paid = {
        Payout(wid, script_pubkey(address), amount) for wid, address, amount in BASE.withdrawals
    }
    other = Payout("w-1", script_pubkey(ERIN), 30_000_000)  # the id, but not the payout
    assert journal.recorded([*paid, other]) == paid


def test_it_counts_a_fee_bumps_payouts_once(journal):
    sign(journal, BASE, when=NOW - timedelta(hours=2))
    sign(journal, BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-1"), when=NOW)
    assert journal.paid_since(NOW - timedelta(hours=3)) == 50_000_000
    assert journal.paid_since(NOW - timedelta(hours=1)) == 0  # first recorded two hours ago


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(0, 3 * 3600), min_size=1, max_size=12),
    cutoff=st.integers(-60, 3 * 3600 + 60),
)
def test_its_window_sum_is_exactly_the_payouts_after_the_cutoff(tmp_path_factory, offsets, cutoff):
    """Whole minutes come from running sums and the cutoff's own minute from its payouts:
    the total is exact at every second, across minute boundaries."""
    path = tmp_path_factory.mktemp("window") / "journal.sqlite"
    start = NOW - timedelta(hours=3)
    with Journal(path) as journal:
        for n, offset in enumerate(offsets):
            draft = Draft(
                id=f"stx-{n}",
                coins=(coin(f"coin {n}", 1_000_000),),
                withdrawals=((f"w-{n}", CAROL, 10_000 + n),),
            )
            sign(journal, draft, when=start + timedelta(seconds=offset))
        since = start + timedelta(seconds=cutoff, microseconds=500_000)
        expected = sum(10_000 + n for n, offset in enumerate(offsets) if offset > cutoff + 0.5)
        assert journal.paid_since(since) == expected


# --- no scans ---------------------------------------------------------------------------------


def test_it_answers_every_question_from_an_index(journal, path):
    """What sign_request asks the journal, through SQLite's own query plans: every table is
    searched by a key, none is scanned, however many requests it holds."""
    sign(journal, BASE)
    statements = []
    journal._db.set_trace_callback(statements.append)
    bump = BASE.but(id="stx-2", fee=8_000, fee_bump_of="stx-1")
    assert "signatures" in sign_request(bump.request(), config(), journal, NOW)
    journal._db.set_trace_callback(None)
    queries = [q for q in statements if q.lstrip().upper().startswith(("SELECT", "UPDATE"))]
    assert len(queries) >= 8
    with sqlite3.connect(path) as db:
        for query in queries:
            plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {query}")]
            assert plan and all(step.startswith("SEARCH") for step in plan), (query, plan)


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
        assert db.execute("SELECT request_id FROM requests").fetchall() == [("stx-1",)]


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
