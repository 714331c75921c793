"""The signers accept exactly one shape of OP_RETURN output, an epoch's anchor (docs/proofs.md,
"The anchor"): OP_RETURN, a 40-byte push of the prefix and a 32-byte root, value 0, at most
once; anything else is refused with its reason code and nothing is signed."""

from __future__ import annotations

import pytest

from signer import policy
from signer.journal import Journal
from signer.policy import evaluate
from signer.signing import sign_request
from tests.signer.withdrawals import (
    DEPOSIT_SCRIPT,
    NOW,
    WALLET_SPK,
    Draft,
    History,
    Output,
    coin,
    config,
)

ROOT = bytes(range(32))
BASE = Draft()
SWEEP = Draft(
    id="sweep-1",
    coins=(coin("a deposit", 20_000_000, DEPOSIT_SCRIPT),),
    withdrawals=(),
    fee=3_000,
)


def script(data: bytes) -> bytes:
    return bytes([0x6A, len(data)]) + data


ANCHOR = Output(script(b"SONROOT1" + ROOT), 0)


def with_outputs(draft: Draft, *extra: Output, change_delta: int = 0) -> Draft:
    """The draft's payouts, then `extra`, then its wallet output (last) less their value."""
    *payouts, wallet = draft.tx_outputs()
    taken = sum(out.amount for out in extra) + change_delta
    return draft.but(outputs=(*payouts, *extra, Output(WALLET_SPK, wallet.amount - taken)))


def verdict(draft: Draft) -> tuple[str, ...]:
    return evaluate(draft.request(), config(), History(), NOW).reasons


def test_it_signs_a_withdrawal_and_a_sweep_carrying_an_anchor(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    for draft in (with_outputs(BASE, ANCHOR), with_outputs(SWEEP, ANCHOR)):
        assert verdict(draft) == ()
        assert "signatures" in sign_request(draft.request(), config(), journal, NOW)


@pytest.mark.parametrize(
    ("outputs", "reasons"),
    [
        pytest.param((ANCHOR, ANCHOR), ("ANCHOR_DUPLICATE",), id="two anchors"),
        pytest.param(
            (ANCHOR, Output(script(b"SONROOT1" + bytes(32)), 0)),
            ("ANCHOR_DUPLICATE",),
            id="two anchors of different roots",
        ),
        pytest.param(
            (Output(script(b"SONROOT2" + ROOT), 0),), ("ANCHOR_MALFORMED",), id="wrong prefix"
        ),
        pytest.param(
            (Output(script(b"sonroot1" + ROOT), 0),), ("ANCHOR_MALFORMED",), id="prefix case"
        ),
        pytest.param(
            (Output(script(b"SONROOT1" + ROOT[:31]), 0),),
            ("ANCHOR_MALFORMED",),
            id="a 31-byte root",
        ),
        pytest.param(
            (Output(script(b"SONROOT1" + ROOT + b"\x00"), 0),),
            ("ANCHOR_MALFORMED",),
            id="a 33-byte root",
        ),
        pytest.param(
            (Output(ANCHOR.script_pubkey + b"\x00", 0),),
            ("ANCHOR_MALFORMED",),
            id="a byte after the push",
        ),
        pytest.param(
            (Output(b"\x6a\x4c\x28" + b"SONROOT1" + ROOT, 0),),
            ("ANCHOR_MALFORMED",),
            id="PUSHDATA1 instead of a direct push",
        ),
        pytest.param((Output(b"\x6a", 0),), ("ANCHOR_MALFORMED",), id="a bare OP_RETURN"),
        pytest.param(
            (Output(ANCHOR.script_pubkey, 1),), ("ANCHOR_NOT_ZERO",), id="one satoshi in it"
        ),
        pytest.param(
            (Output(ANCHOR.script_pubkey, 10_000),),
            ("ANCHOR_NOT_ZERO",),
            id="a non-zero value above dust",
        ),
    ],
)
@pytest.mark.parametrize("draft", [BASE, SWEEP], ids=["withdrawal", "sweep"])
def test_it_refuses_any_other_op_return(tmp_path, draft, outputs, reasons):
    bad = with_outputs(draft, *outputs)
    assert verdict(bad) == reasons
    journal = Journal(tmp_path / "journal.sqlite")
    answer = sign_request(bad.request(), config(), journal, NOW)
    assert "signatures" not in answer and tuple(answer["reasons"]) == reasons


def test_an_anchor_does_not_stand_in_for_a_sweeps_wallet_output():
    assert policy.NO_WALLET_OUTPUT in verdict(SWEEP.but(outputs=(ANCHOR,)))
