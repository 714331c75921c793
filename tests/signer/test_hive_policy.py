"""The signer's Hive checks: a good request is signed (and beem agrees on the bytes, the digest
and the key), and hostile ones are refused with their reason codes."""

import copy
import dataclasses
import datetime as dt

import coincurve
import pytest

from chains.hive import transactions as portal_tx
from devnode.hive.protocol import transaction_from_json
from devnode.hive.serialization import pack_transaction as node_pack
from devnode.hive.transactions import recover_public_key, transaction_digest
from signer import hive
from signer.hive_journal import HiveJournal
from signer.hive_policy import HivePolicy, rebuild, sign_hive_request
from signer.hive_request import parse

CHAIN_ID = "ecfb378905ff220794288e624ad9564bb9c3d81b43315ca16912d181a1ee0019"
FEDERATION = "son-federation"
REFERENCE_TIME = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
NOW = REFERENCE_TIME + dt.timedelta(seconds=30)
BLOCK_ID = "0001e2400f1a2b3c4d5e6f708192a3b4c5d6e7f8"
KEY = coincurve.PrivateKey(bytes.fromhex("11" * 32))
POLICY = HivePolicy(
    chain_id=CHAIN_ID, federation_account=FEDERATION, daily_caps={"HIVE": 100_000, "HBD": 5_000}
)
PAYOUTS = [
    portal_tx.Payout("w-1", "alice", 12_345, "HIVE"),
    portal_tx.Payout("w-2", "bob-x.hive", 7, "HBD"),
]


def request(payouts=PAYOUTS, *, expires_in=600, request_id="h-1"):
    """A request as the portal builds it (chains/hive/transactions.py, through beem)."""
    tx = portal_tx.withdrawal_transaction(
        payouts,
        federation=FEDERATION,
        reference_block_id=BLOCK_ID,
        reference_time=REFERENCE_TIME,
        expires_in=dt.timedelta(seconds=expires_in),
    )
    return {
        "id": request_id,
        "version": 1,
        "chain": "hive",
        "chain_id": CHAIN_ID,
        "ref_block_num": tx["ref_block_num"],
        "ref_block_prefix": tx["ref_block_prefix"],
        "reference_time": portal_tx.format_time(REFERENCE_TIME),
        "expiration": tx["expiration"],
        "operations": tx["operations"],
        "trx_id": portal_tx.transaction_id(tx),
        "withdrawals": [
            {"id": p.id, "account": p.account, "amount": p.amount, "asset": p.asset}
            for p in payouts
        ],
    }


@pytest.fixture
def journal(tmp_path):
    with_journal = HiveJournal(tmp_path / "hive-journal.sqlite")
    yield with_journal
    with_journal.close()


def sign(document, journal, now=NOW, policy=POLICY):
    return sign_hive_request(document, policy=policy, key=KEY, journal=journal, now=now)


def test_it_signs_the_transaction_beem_builds_and_beem_recovers_the_key(journal):
    document = request()
    verdict = sign(document, journal)
    assert verdict.approved, verdict.reasons
    tx = portal_tx.withdrawal_transaction(
        PAYOUTS,
        federation=FEDERATION,
        reference_block_id=BLOCK_ID,
        reference_time=REFERENCE_TIME,
        expires_in=dt.timedelta(seconds=600),
    )
    ours = rebuild(parse(document), POLICY)
    assert hive.pack(ours) == portal_tx.packed(tx)
    assert hive.trx_id(ours) == portal_tx.transaction_id(tx) == document["trx_id"]
    recovered = portal_tx.recover_key(tx, CHAIN_ID, bytes.fromhex(verdict.signature))
    assert recovered == hive.public_key_str(KEY.public_key)
    # The dev node, with its own code, reads the same bytes and the same key.
    node_tx = transaction_from_json(tx)
    assert node_pack(node_tx) == hive.pack(ours)
    digest = transaction_digest(node_tx, CHAIN_ID)
    assert recover_public_key(bytes.fromhex(verdict.signature), digest) == recovered


def test_the_portal_refuses_to_recover_a_tampered_signature():
    tx = portal_tx.withdrawal_transaction(
        PAYOUTS,
        federation=FEDERATION,
        reference_block_id=BLOCK_ID,
        reference_time=REFERENCE_TIME,
        expires_in=dt.timedelta(seconds=600),
    )
    good = hive.sign(hive.digest(rebuild(parse(request()), POLICY), bytes.fromhex(CHAIN_ID)), KEY)
    mine = hive.public_key_str(KEY.public_key)
    assert portal_tx.recover_key(tx, CHAIN_ID, good) == mine
    tampered = good[:40] + bytes([good[40] ^ 1]) + good[41:]
    assert portal_tx.recover_key(tx, CHAIN_ID, tampered) != mine
    assert portal_tx.recover_key(tx, CHAIN_ID, good[:64]) is None
    assert portal_tx.recover_key(tx, "00" * 32, good) != mine


def test_a_repeat_returns_the_first_signature_and_counts_once(journal):
    first = sign(request(), journal)
    again = sign(request(request_id="h-1-retry"), journal)
    assert again.signature == first.signature
    assert journal.paid_since("HIVE", NOW - dt.timedelta(days=1), excluding=[]) == 12_345


def test_a_second_transaction_for_the_same_withdrawals_waits_for_the_first_to_expire(journal):
    assert sign(request(expires_in=600), journal).approved
    rebuilt = request(expires_in=900, request_id="h-2")
    assert sign(rebuilt, journal).reasons == ("WITHDRAWAL_IN_FLIGHT",)
    late = REFERENCE_TIME + dt.timedelta(seconds=600 + POLICY.inclusion_margin + 1)
    later = request(expires_in=900, request_id="h-3")
    later_doc = {**later, "reference_time": portal_tx.format_time(late)}
    later_doc["expiration"] = portal_tx.format_time(late + dt.timedelta(seconds=600))
    tx = {
        **portal_tx.withdrawal_transaction(
            PAYOUTS,
            federation=FEDERATION,
            reference_block_id=BLOCK_ID,
            reference_time=late,
            expires_in=dt.timedelta(seconds=600),
        )
    }
    later_doc["trx_id"] = portal_tx.transaction_id(tx)
    assert sign(later_doc, journal, now=late).approved
    # The re-signed withdrawals are not counted against the cap a second time.
    assert journal.paid_since("HIVE", late - dt.timedelta(days=1), excluding=[]) == 12_345


def test_a_withdrawal_id_cannot_be_rebound_to_another_payout(journal):
    assert sign(request(), journal).approved
    changed = [portal_tx.Payout("w-1", "mallory", 12_345, "HIVE")]
    assert sign(request(changed, request_id="h-9"), journal).reasons == ("PAYOUT_REBOUND",)


def test_the_daily_cap_per_asset_holds(journal):
    assert sign(request([portal_tx.Payout("w-5", "alice", 90_000, "HIVE")]), journal).approved
    over = request([portal_tx.Payout("w-6", "alice", 10_001, "HIVE")], request_id="h-6")
    assert sign(over, journal).reasons == ("CAP_EXCEEDED",)
    tomorrow = NOW + dt.timedelta(hours=24, seconds=1)
    late = {**over, "reference_time": portal_tx.format_time(tomorrow)}
    assert "CAP_EXCEEDED" not in sign(late, journal, now=tomorrow).reasons


def _op(document, index=0):
    return document["operations"][index][1]


def _set(path, value):
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


HOSTILE = {
    "not an object": (lambda d: d.clear(), "MALFORMED"),
    "unknown key": (lambda d: d.update(fee=1), "MALFORMED"),
    "bitcoin chain": (_set(["chain"], "bitcoin"), "WRONG_CHAIN"),
    "version 2": (_set(["version"], 2), "UNKNOWN_VERSION"),
    "version true": (_set(["version"], True), "UNKNOWN_VERSION"),
    "mainnet chain id": (_set(["chain_id"], "beeab0de" + "00" * 28), "WRONG_CHAIN_ID"),
    "from another account": (lambda d: _op(d).update({"from": "alice"}), "FOREIGN_SENDER"),
    "recipient swapped": (lambda d: _op(d).update(to="mallory"), "PAYOUT_MISMATCH"),
    "amount raised": (lambda d: _op(d).update(amount="99.999 HIVE"), "PAYOUT_MISMATCH"),
    "asset swapped": (lambda d: _op(d).update(amount="12.345 HBD"), "PAYOUT_MISMATCH"),
    "memo changed": (lambda d: _op(d).update(memo="w-99"), "PAYOUT_MISMATCH"),
    "float amount": (lambda d: _op(d).update(amount="12.3450 HIVE"), "MALFORMED"),
    "exponent amount": (lambda d: _op(d).update(amount="1e3 HIVE"), "MALFORMED"),
    "extra transfer": (
        lambda d: d["operations"].append(copy.deepcopy(d["operations"][0])),
        "OPERATION_COUNT",
    ),
    "missing transfer": (lambda d: d["operations"].pop(), "OPERATION_COUNT"),
    "account_update": (
        lambda d: d["operations"].__setitem__(1, ["account_update", {"account": FEDERATION}]),
        "NOT_TRANSFER",
    ),
    "duplicate withdrawal": (
        lambda d: d["withdrawals"][1].update(id="w-1"),
        "DUPLICATE_PAYOUT",
    ),
    "bad account name": (lambda d: d["withdrawals"][0].update(account="Al!ce"), "BAD_ACCOUNT"),
    "pays the federation": (
        lambda d: d["withdrawals"][0].update(account=FEDERATION),
        "PAYS_FEDERATION",
    ),
    "other asset": (lambda d: d["withdrawals"][0].update(asset="VESTS"), "BAD_ASSET"),
    "zero amount": (lambda d: d["withdrawals"][0].update(amount=0), "ZERO_AMOUNT"),
    "float withdrawal": (lambda d: d["withdrawals"][0].update(amount=12.345), "MALFORMED"),
    "negative withdrawal": (lambda d: d["withdrawals"][0].update(amount=-1), "MALFORMED"),
    "huge memo": (lambda d: _op(d).update(memo="x" * 5000), "MALFORMED"),
    "too many withdrawals": (
        lambda d: d["withdrawals"].extend([d["withdrawals"][0]] * 100),
        "MALFORMED",
    ),
    "expiration in two hours": (_set(["expiration"], "2026-03-01T14:00:00"), "EXPIRATION_TOO_FAR"),
    "reference a day old": (
        _set(["reference_time"], "2026-02-28T12:00:00"),
        "EXPIRATION_TOO_FAR",
    ),
    "expired": (_set(["expiration"], "2026-03-01T11:50:00"), "EXPIRED"),
    "trx_id of another tx": (_set(["trx_id"], "00" * 20), "TXID_MISMATCH"),
    "tapos changed under the id": (_set(["ref_block_num"], 7), "TXID_MISMATCH"),
    "ref_block_num too big": (_set(["ref_block_num"], 70_000), "MALFORMED"),
}


@pytest.mark.parametrize(("mutate", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_it_refuses_hostile_requests_with_their_reason_and_signs_nothing(journal, mutate, reason):
    document = request()
    mutate(document)
    verdict = sign(document, journal)
    assert not verdict.approved
    assert reason in verdict.reasons
    assert journal.signature_of(request()["trx_id"]) is None


def test_there_are_at_least_twenty_hostile_requests():
    assert len(HOSTILE) >= 20


def _rebuild_at(reference_time: dt.datetime, request_id: str) -> dict:
    """The same withdrawals in a new transaction whose reference block is at `reference_time`."""
    tx = portal_tx.withdrawal_transaction(
        PAYOUTS,
        federation=FEDERATION,
        reference_block_id=BLOCK_ID,
        reference_time=reference_time,
        expires_in=dt.timedelta(seconds=600),
    )
    document = request(request_id=request_id)
    document |= {
        "reference_time": portal_tx.format_time(reference_time),
        "expiration": tx["expiration"],
        "trx_id": portal_tx.transaction_id(tx),
    }
    return document


def test_a_rebuild_waits_for_the_chain_too_not_only_the_signers_clock(journal):
    assert sign(request(expires_in=600), journal).approved
    expiration = REFERENCE_TIME + dt.timedelta(seconds=600)
    clock = expiration + dt.timedelta(seconds=POLICY.inclusion_margin + 10)
    # The signer's clock is past the margin, but the new reference block is older than the
    # first transaction's expiration: the chain may still include the first one.
    early = _rebuild_at(expiration - dt.timedelta(seconds=30), "h-2")
    assert sign(early, journal, now=clock).reasons == ("WITHDRAWAL_IN_FLIGHT",)
    assert sign(_rebuild_at(expiration, "h-3"), journal, now=clock).approved


def test_the_inclusion_margin_is_the_configured_one(journal):
    patient = dataclasses.replace(POLICY, inclusion_margin=600)
    assert sign(request(expires_in=600), journal, policy=patient).approved
    expiration = REFERENCE_TIME + dt.timedelta(seconds=600)
    rebuilt = _rebuild_at(expiration, "h-2")
    soon = expiration + dt.timedelta(seconds=300)
    assert sign(rebuilt, journal, now=soon, policy=patient).reasons == ("WITHDRAWAL_IN_FLIGHT",)
    assert sign(rebuilt, journal, now=soon, policy=POLICY).approved
