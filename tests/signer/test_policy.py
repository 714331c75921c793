"""The signing policy against adversarial requests: each is refused with exactly the expected
reason codes, and the journal is left as it was (nothing signed, nothing recorded).

Requests are built with the portal's mappings.chains and python-bitcoinlib
(tests/signer/withdrawals.py); a Draft is a valid withdrawal unless a case changes it.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from bitcoin.core import CTxInWitness, CTxWitness
from bitcoin.core.script import OP_CHECKMULTISIG, OP_CHECKSIG, CScript, CScriptWitness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.chains.bitcoin import hash160, segwit_address, witness_script_pubkey
from mappings.chains.deposit import deposit_witness_script, federation_witness_script
from signer import policy
from signer.journal import Journal
from signer.policy import Payout, Verdict, evaluate
from signer.signing import sign_request
from tests.signer.withdrawals import (
    CAROL,
    DAVE,
    DEPOSIT_SCRIPT,
    ERIN,
    MALLORY,
    NOW,
    SON_KEYS,
    STRANGER_KEY,
    TIMELOCK,
    USER_KEY,
    WALLET_SCRIPT,
    WALLET_SPK,
    Draft,
    History,
    Output,
    coin,
    config,
    pays,
    pubkey,
    script_pubkey,
    secret,
)

BASE = Draft()
OTHER_COINS = (coin("another wallet utxo", 100_000_000), coin("another deposit", 50_000_000))
A, B, C = sorted(SON_KEYS)


def outputs(*extra: Output, change_delta: int = 0) -> tuple[Output, ...]:
    """The base payouts, then `extra`, then the change minus what `extra` and the delta take."""
    payouts = BASE.tx_outputs()[:-1]
    taken = sum(out.amount for out in extra) + change_delta
    return (*payouts, *extra, Output(WALLET_SPK, BASE.change - taken))


def with_coin(index: int, witness_script: bytes) -> Draft:
    coins = list(BASE.coins)
    coins[index] = coin(f"utxo {index}", coins[index].amount, witness_script)
    return BASE.but(coins=tuple(coins))


def edit(change: Callable[[dict], None], draft: Draft = BASE) -> Callable[[], object]:
    def document() -> dict:
        request = draft.request()
        change(request)
        return request

    return document


def replace_tx(raw_hex: str) -> Callable[[dict], None]:
    return lambda request: request.update(tx=raw_hex)


def set_path(*path, value) -> Callable[[dict], None]:
    def change(request: dict) -> None:
        target = request
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def delete(*path) -> Callable[[dict], None]:
    def change(request: dict) -> None:
        target = request
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


MAINNET_CAROL = segwit_address(0, hash160(pubkey(secret("carol payout"))), "mainnet")
NON_MINIMAL_T = DEPOSIT_SCRIPT.replace(b"\x02\x90\x00\xb2", b"\x4c\x02\x90\x00\xb2")
NON_MINIMAL_M = b"\x01\x02" + WALLET_SCRIPT[1:]  # m = 2 as a data push instead of OP_2
SIGNED_TX = BASE.tx()
SIGNED_TX.wit = CTxWitness(
    [CTxInWitness(CScriptWitness([b"", b"\x30" * 71, WALLET_SCRIPT])) for _ in BASE.coins]
)


@dataclass(frozen=True)
class Case:
    reasons: tuple[str, ...]
    document: Callable[[], object]
    before: tuple[Draft, ...] = ()  # signed first
    config: dict = field(default_factory=dict)
    journal: bool = False  # a journal rule, which evaluate() alone does not see


def case(reasons: str | tuple[str, ...], draft: Draft | Callable[[], object], **kwargs) -> Case:
    document = draft.request if isinstance(draft, Draft) else draft
    return Case(reasons if isinstance(reasons, tuple) else (reasons,), document, **kwargs)


CASES = {
    # --- outputs against the withdrawal list ---
    "foreign change": case(
        "FOREIGN_CHANGE", BASE.but(outputs=(*outputs()[:-1], pays(MALLORY, BASE.change)))
    ),
    "extra output to a stranger": case(
        "FOREIGN_CHANGE", BASE.but(outputs=outputs(pays(MALLORY, 1_000_000)))
    ),
    "extra output paying a withdrawal twice": case(
        "EXTRA_OUTPUT", BASE.but(outputs=outputs(pays(CAROL, 30_000_000)))
    ),
    "a second change output": case(
        "EXTRA_OUTPUT", BASE.but(outputs=outputs(Output(WALLET_SPK, 1_000_000)))
    ),
    "an OP_RETURN output": case(
        "FOREIGN_CHANGE", BASE.but(outputs=outputs(Output(b"\x6a\x04fake", 1_000)))
    ),
    "amounts swapped between two withdrawals": case(
        "PAYOUT_MISMATCH",
        BASE.but(outputs=(pays(CAROL, 20_000_000), pays(DAVE, 30_000_000), outputs()[-1])),
    ),
    "a payout to an address not in the list": case(
        "PAYOUT_MISMATCH",
        BASE.but(outputs=(pays(MALLORY, 30_000_000), *outputs()[1:])),
    ),
    "a payout short by one satoshi": case(
        "PAYOUT_MISMATCH",
        BASE.but(
            outputs=(pays(CAROL, 29_999_999), outputs()[1], Output(WALLET_SPK, BASE.change + 1))
        ),
    ),
    "a withdrawal list longer than the outputs": case(
        "PAYOUT_MISMATCH",
        BASE.but(outputs=outputs(), withdrawals=(*BASE.withdrawals, ("w-3", ERIN, 1_000_000))),
    ),
    "a withdrawal listed twice": case(
        "DUPLICATE_PAYOUT",
        BASE.but(withdrawals=(("w-1", CAROL, 30_000_000), ("w-1", CAROL, 30_000_000))),
    ),
    "a dust output": case(
        "DUST_OUTPUT", BASE.but(withdrawals=(*BASE.withdrawals, ("w-3", ERIN, 545)))
    ),
    # --- witness scripts ---
    "a 2-of-3 wallet with a foreign key": case(
        "NOT_FEDERATION_SCRIPT",
        with_coin(0, federation_witness_script([SON_KEYS[0], SON_KEYS[1], STRANGER_KEY])),
    ),
    "a deposit script with another timelock": case(
        "TIMELOCK_MISMATCH", with_coin(1, deposit_witness_script(SON_KEYS, USER_KEY, TIMELOCK + 1))
    ),
    "a script without this signer's key": case(
        "KEY_NOT_IN_SCRIPT",
        with_coin(0, federation_witness_script([SON_KEYS[1], SON_KEYS[2], STRANGER_KEY])),
    ),
    "a deposit timelock pushed non-minimally": case(
        "NOT_FEDERATION_SCRIPT", with_coin(1, NON_MINIMAL_T)
    ),
    "a threshold pushed non-minimally": case("NOT_FEDERATION_SCRIPT", with_coin(0, NON_MINIMAL_M)),
    "3-of-3, DESIGN.md's floor(2n/3)+1": case(
        "WRONG_THRESHOLD", with_coin(0, bytes(CScript([3, A, B, C, 3, OP_CHECKMULTISIG])))
    ),
    "1-of-3": case(
        "WRONG_THRESHOLD", with_coin(0, bytes(CScript([1, A, B, C, 3, OP_CHECKMULTISIG])))
    ),
    "unsorted keys": case(
        "NOT_FEDERATION_SCRIPT", with_coin(0, bytes(CScript([2, C, A, B, 3, OP_CHECKMULTISIG])))
    ),
    "a trailing byte after the script": case(
        "NOT_FEDERATION_SCRIPT", with_coin(0, WALLET_SCRIPT + b"\x00")
    ),
    "a plain single-key script": case(
        "NOT_FEDERATION_SCRIPT", with_coin(0, bytes(CScript([STRANGER_KEY, OP_CHECKSIG])))
    ),
    "a deposit script whose user key is a SON key": case(
        "NOT_FEDERATION_SCRIPT",
        with_coin(1, DEPOSIT_SCRIPT.replace(USER_KEY, SON_KEYS[1])),
    ),
    # --- fees and caps ---
    "a fee above the absolute cap": case("FEE_TOO_HIGH", BASE, config={"max_fee": 4_999}),
    "a fee rate above the maximum": case("FEERATE_TOO_HIGH", BASE.but(fee=20_000)),
    "outputs worth more than the inputs": case("NEGATIVE_FEE", BASE.but(fee=-1)),
    "over the daily cap in one request": case(
        "OVER_DAILY_CAP", BASE, config={"daily_cap": 49_999_999}
    ),
    "over the daily cap across requests": case(
        "OVER_DAILY_CAP",
        BASE.but(id="stx-2", coins=OTHER_COINS, withdrawals=(("w-3", ERIN, 20_000_000),)),
        before=(BASE,),
        config={"daily_cap": 60_000_000},
    ),
    # --- the journal ---
    "a conflicting spend of an outpoint already signed": case(
        "CONFLICTING_SPEND",
        BASE.but(
            id="stx-2",
            coins=(BASE.coins[0], OTHER_COINS[1]),
            withdrawals=(("w-3", ERIN, 20_000_000),),
        ),
        before=(BASE,),
        journal=True,
    ),
    "a fee bump that changes a payout": case(
        "NOT_A_FEE_BUMP",
        BASE.but(
            id="stx-2",
            fee_bump_of="stx-1",
            withdrawals=(("w-1", CAROL, 30_000_000), ("w-2", DAVE, 19_990_000)),
        ),
        before=(BASE,),
        journal=True,
    ),
    "a fee bump that redirects a payout": case(
        "NOT_A_FEE_BUMP",
        BASE.but(
            id="stx-2",
            fee=9_000,
            fee_bump_of="stx-1",
            withdrawals=(("w-1", CAROL, 30_000_000), ("w-2", MALLORY, 20_000_000)),
        ),
        before=(BASE,),
        journal=True,
    ),
    "a fee bump with a lower fee": case(
        "NOT_A_FEE_BUMP",
        BASE.but(id="stx-2", fee=4_000, fee_bump_of="stx-1"),
        before=(BASE,),
        journal=True,
    ),
    "a fee bump that spends one more outpoint": case(
        "NOT_A_FEE_BUMP",
        BASE.but(id="stx-2", fee=9_000, fee_bump_of="stx-1", coins=(*BASE.coins, OTHER_COINS[0])),
        before=(BASE,),
        journal=True,
    ),
    "a fee bump of a request never signed": case(
        "NOT_A_FEE_BUMP", BASE.but(id="stx-2", fee_bump_of="stx-0"), journal=True
    ),
    "a withdrawal already paid by another transaction": case(
        "DUPLICATE_PAYOUT", BASE.but(id="stx-2", coins=OTHER_COINS), before=(BASE,), journal=True
    ),
    "a request id reused for another transaction": case(
        "REQUEST_ID_REUSED",
        BASE.but(coins=OTHER_COINS, withdrawals=(("w-3", ERIN, 20_000_000),)),
        before=(BASE,),
        journal=True,
    ),
    # --- networks, chains, versions ---
    "a withdrawal address of another network": case(
        "WRONG_NETWORK",
        BASE.but(
            withdrawals=(("w-1", MAINNET_CAROL, 30_000_000), BASE.withdrawals[1]),
            outputs=(
                Output(
                    witness_script_pubkey(0, hash160(pubkey(secret("carol payout")))), 30_000_000
                ),
                *outputs()[1:],
            ),
        ),
    ),
    "a request for another network": case(
        "WRONG_NETWORK", edit(set_path("network", value="mainnet"))
    ),
    "a request for another chain": case("WRONG_CHAIN", edit(set_path("chain", value="hive"))),
    "an unknown request version": case("UNKNOWN_VERSION", edit(set_path("version", value=2))),
    # --- the transaction against its inputs ---
    "an inputs list in another order": case(
        "INPUT_MISMATCH", edit(lambda r: r["inputs"].reverse())
    ),
    "an input with another vout": case(
        "INPUT_MISMATCH", edit(set_path("inputs", 0, "vout", value=1))
    ),
    "an input missing from the list": case("INPUT_MISMATCH", edit(lambda r: r["inputs"].pop())),
    "a transaction spending one outpoint twice": case(
        "DUPLICATE_INPUT", BASE.but(coins=(BASE.coins[0], BASE.coins[0]), fee=50_005_000)
    ),
    "a lock time": case("NOT_FINAL", BASE.but(locktime=800_000)),
    "a relative lock time": case("NOT_FINAL", BASE.but(sequence=144)),
    "a sequence below the final ones": case("NOT_FINAL", BASE.but(sequence=0xFFFFFFFC)),
    # --- malformed ---
    "a version 1 transaction": case("MALFORMED", BASE.but(version=1)),
    "malformed transaction hex": case("MALFORMED", edit(replace_tx("zz"))),
    "transaction hex of odd length": case(
        "MALFORMED", edit(replace_tx(BASE.request()["tx"] + "0"))
    ),
    "upper-case transaction hex": case("MALFORMED", edit(replace_tx(BASE.request()["tx"].upper()))),
    "a truncated transaction": case("MALFORMED", edit(replace_tx(BASE.request()["tx"][:-10]))),
    "a transaction with witnesses": case(
        "MALFORMED", edit(replace_tx(SIGNED_TX.serialize().hex()))
    ),
    "a scriptSig": case(
        "MALFORMED",
        edit(
            replace_tx(
                BASE.request()["tx"].replace("0000000000fdffffff", "0000000001aafdffffff", 1)
            )
        ),
    ),
    "not an object": case("MALFORMED", lambda: ["not", "a", "request"]),
    "null": case("MALFORMED", lambda: None),
    "an empty object": case("MALFORMED", lambda: {}),
    "a missing key": case("MALFORMED", edit(delete("fee_bump_of"))),
    "an unknown key": case("MALFORMED", edit(set_path("memo", value="pay me"))),
    "a version as a string": case("MALFORMED", edit(set_path("version", value="1"))),
    "a version as a bool": case("MALFORMED", edit(set_path("version", value=True))),
    "a huge amount": case("MALFORMED", edit(set_path("inputs", 0, "amount", value=10**400))),
    "an amount as a float": case(
        "MALFORMED", edit(set_path("withdrawals", 0, "amount", value=3e7))
    ),
    "an amount as a bool": case("MALFORMED", edit(set_path("inputs", 0, "amount", value=True))),
    "a zero amount": case("MALFORMED", edit(set_path("withdrawals", 0, "amount", value=0))),
    "a negative vout": case("MALFORMED", edit(set_path("inputs", 0, "vout", value=-1))),
    "a vout beyond 32 bits": case("MALFORMED", edit(set_path("inputs", 0, "vout", value=2**32))),
    "an upper-case txid": case(
        "MALFORMED", edit(lambda r: r["inputs"][0].update(txid=r["inputs"][0]["txid"].upper()))
    ),
    "a witness script with spaces": case(
        "MALFORMED", edit(set_path("inputs", 0, "witness_script", value="52 21"))
    ),
    "an id with spaces": case("MALFORMED", edit(set_path("id", value="stx 1"))),
    "an id too long": case("MALFORMED", edit(set_path("id", value="x" * 129))),
    "an id as a number": case("MALFORMED", edit(set_path("id", value=1))),
    "no inputs": case("MALFORMED", edit(set_path("inputs", value=[]))),
    "withdrawals as an object": case("MALFORMED", edit(set_path("withdrawals", value={}))),
    "an input with an extra key": case(
        "MALFORMED", edit(set_path("inputs", 0, "script", value=""))
    ),
    "a withdrawal that is not an address": case(
        "MALFORMED", edit(set_path("withdrawals", 0, "address", value="not an address"))
    ),
    "a fee bump of itself": case("MALFORMED", BASE.but(fee_bump_of="stx-1")),
    "a network nobody runs": case("MALFORMED", edit(set_path("network", value="signet"))),
}


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as journal:
        yield journal


def rows(journal: Journal) -> list[tuple]:
    """Everything in the journal file, read through a connection of its own."""
    with sqlite3.connect(journal.path) as db:
        return db.execute("SELECT * FROM signed_requests ORDER BY request_id").fetchall()


def test_there_are_at_least_twenty_adversarial_requests():
    assert len(CASES) >= 20
    covered = {reason for case in CASES.values() for reason in case.reasons}
    assert covered == set(DOCUMENTED_REASONS) - {"INTERNAL_ERROR"}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_it_refuses_an_adversarial_request_and_signs_nothing(case, journal):
    cfg = config(**case.config)
    for draft in case.before:
        assert "signatures" in sign_request(draft.request(), cfg, journal, NOW)
    before = rows(journal)
    document = case.document()

    answer = sign_request(document, cfg, journal, NOW)

    assert answer["refused"] is True
    assert answer["reasons"] == list(case.reasons)
    assert "signatures" not in answer
    assert rows(journal) == before


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_policy_alone_gives_the_same_verdict_except_for_journal_rules(case, journal):
    cfg = config(**case.config)
    for draft in case.before:
        sign_request(draft.request(), cfg, journal, NOW)
    document = case.document()
    pristine = copy.deepcopy(document)

    verdict = evaluate(document, cfg, journal, NOW)

    assert verdict == Verdict.of(() if case.journal else case.reasons)
    assert document == pristine  # evaluate() changes nothing


def test_it_approves_the_valid_withdrawal():
    assert evaluate(BASE.request(), config(), History(), NOW) == Verdict(ok=True, reasons=())


def test_it_approves_a_consolidation_without_withdrawals():
    draft = BASE.but(withdrawals=())
    assert evaluate(draft.request(), config(), History(), NOW).ok


def test_it_approves_a_fee_exactly_at_both_limits():
    _, reviewed = policy.review(BASE.request(), config(), History(), NOW)
    assert reviewed is not None
    at_the_rate = config(max_feerate=1, max_fee=reviewed.vsize)
    assert evaluate(BASE.but(fee=reviewed.vsize).request(), at_the_rate, History(), NOW).ok
    over = BASE.but(fee=reviewed.vsize + 1).request()
    assert evaluate(over, at_the_rate, History(), NOW).reasons == (
        "FEE_TOO_HIGH",
        "FEERATE_TOO_HIGH",
    )


def test_it_lists_every_reason_in_check_order():
    draft = BASE.but(
        locktime=1,
        fee=20_000,
        outputs=(*outputs()[:-1], pays(MALLORY, BASE.change - 15_000)),
        coins=(
            coin("x", 100_000_000, deposit_witness_script(SON_KEYS, USER_KEY, 7)),
            BASE.coins[1],
        ),
    )
    verdict = evaluate(draft.request(), config(max_fee=10_000), History(), NOW)
    assert verdict.reasons == (
        "NOT_FINAL",
        "TIMELOCK_MISMATCH",
        "FOREIGN_CHANGE",
        "FEE_TOO_HIGH",  # no FEERATE_TOO_HIGH: without valid scripts there is no size estimate
    )


def test_it_counts_identical_payouts_once_towards_the_daily_cap():
    # A fee bump or a repeated request pays the same withdrawals again: not more money.
    paid = [
        Payout(wid, script_pubkey(address), amount) for wid, address, amount in BASE.withdrawals
    ]
    exactly = config(daily_cap=50_000_000)
    assert evaluate(BASE.request(), exactly, History(paid), NOW).ok
    other = [Payout("w-9", script_pubkey(ERIN), 1)]
    verdict = evaluate(BASE.request(), exactly, History(paid + other), NOW)
    assert verdict.reasons == ("OVER_DAILY_CAP",)


def test_it_forgets_payouts_older_than_a_day_for_the_cap(journal):
    cap = config(daily_cap=60_000_000)
    sign_request(BASE.request(), cap, journal, NOW - timedelta(hours=24, seconds=1))
    later = BASE.but(id="stx-2", coins=OTHER_COINS, withdrawals=(("w-3", ERIN, 20_000_000),))
    assert evaluate(later.request(), cap, journal, NOW).ok
    assert not evaluate(later.request(), cap, journal, NOW - timedelta(hours=23)).ok


# --- hostile input never crashes the signer ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["id", "version", "chain", "network", "tx", "inputs", "withdrawals", "fee_bump_of"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_it_never_raises_on_a_mangled_request(data, journal):
    request = BASE.request()
    action = data.draw(st.sampled_from(["field", "input", "withdrawal", "tx byte", "whole"]))
    if action == "field":
        request[data.draw(st.sampled_from(FIELDS))] = data.draw(json_values)
    elif action == "input":
        request["inputs"][0][
            data.draw(st.sampled_from(["txid", "vout", "amount", "witness_script"]))
        ] = data.draw(json_values)
    elif action == "withdrawal":
        request["withdrawals"][1][data.draw(st.sampled_from(["id", "address", "amount"]))] = (
            data.draw(json_values)
        )
    elif action == "tx byte":
        raw = bytearray.fromhex(request["tx"])
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        request["tx"] = raw.hex()
    else:
        request = data.draw(json_values)

    answer = sign_request(request, config(), journal, NOW)

    if answer.get("refused"):
        assert answer["reasons"] and set(answer["reasons"]) <= set(DOCUMENTED_REASONS) - {
            "INTERNAL_ERROR"
        }
    else:
        # Only a harmless byte (a final sequence, the lock time's ...) can be changed and signed.
        assert len(answer["signatures"]) == len(BASE.coins)


# The reason codes docs/signing-requests.md documents, one per table row.
DOCUMENTED_REASONS = [
    "MALFORMED",
    "UNKNOWN_VERSION",
    "WRONG_CHAIN",
    "WRONG_NETWORK",
    "DUPLICATE_INPUT",
    "INPUT_MISMATCH",
    "NOT_FINAL",
    "NOT_FEDERATION_SCRIPT",
    "KEY_NOT_IN_SCRIPT",
    "WRONG_THRESHOLD",
    "TIMELOCK_MISMATCH",
    "DUPLICATE_PAYOUT",
    "PAYOUT_MISMATCH",
    "EXTRA_OUTPUT",
    "FOREIGN_CHANGE",
    "DUST_OUTPUT",
    "NEGATIVE_FEE",
    "FEE_TOO_HIGH",
    "FEERATE_TOO_HIGH",
    "OVER_DAILY_CAP",
    "REQUEST_ID_REUSED",
    "CONFLICTING_SPEND",
    "NOT_A_FEE_BUMP",
    "INTERNAL_ERROR",
]


def test_the_documented_reason_codes_are_the_policys():
    constants = {value for name, value in vars(policy).items() if name.isupper() and value == name}
    assert constants == set(DOCUMENTED_REASONS)
