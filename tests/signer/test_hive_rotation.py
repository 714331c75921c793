"""The signer's check of a Hive federation rotation (an account_update of the federation
account's active authority): signed only for a version in its own configuration, only as the
signer rebuilds it, and beem and the dev node agree on its bytes."""

import copy
import dataclasses
import datetime as dt

import coincurve
import pytest

from chains.hive import transactions as portal_tx
from devnode.hive.keys import public_key_of
from devnode.hive.protocol import transaction_from_json
from devnode.hive.serialization import pack_transaction as node_pack
from devnode.hive.transactions import recover_public_key, transaction_digest
from signer.hive_config import HiveConfigError, parse_hive
from signer.hive_journal import HiveJournal
from signer.hive_rotation import parse, rebuild, sign_hive_rotation
from tests.signer.test_hive_policy import (
    BLOCK_ID,
    CHAIN_ID,
    FEDERATION,
    KEY,
    NOW,
    POLICY,
    REFERENCE_TIME,
)
from tests.signer.test_hive_policy import request as withdrawal_request

NEW_KEYS = [public_key_of(coincurve.PrivateKey(bytes([n]) * 32)) for n in (2, 3, 4)]
MEMO_KEY = public_key_of(coincurve.PrivateKey(bytes([9]) * 32))
ACCEPTING = dataclasses.replace(POLICY, accepted_federations=((tuple(sorted(NEW_KEYS)), 2),))


def rotation(
    keys=NEW_KEYS, threshold=2, *, account=FEDERATION, expires_in=600, memo=MEMO_KEY, owner=None
):
    """A rotation request as the portal builds it (chains/hive/transactions.py, through beem);
    `owner` the owner authority it sets too, if any."""
    active = portal_tx.authority(keys, threshold)
    tx = portal_tx.authority_update_transaction(
        account=account,
        active=active,
        owner=owner,
        memo_key=memo,
        reference_block_id=BLOCK_ID,
        reference_time=REFERENCE_TIME,
        expires_in=dt.timedelta(seconds=expires_in),
    )
    return {
        "id": "hive-7",
        "version": 1,
        "chain": "hive",
        "chain_id": CHAIN_ID,
        "ref_block_num": tx["ref_block_num"],
        "ref_block_prefix": tx["ref_block_prefix"],
        "reference_time": portal_tx.format_time(REFERENCE_TIME),
        "expiration": tx["expiration"],
        "operations": tx["operations"],
        "trx_id": portal_tx.transaction_id(tx),
        "federation": {"keys": [key for key, _ in active["key_auths"]], "threshold": threshold},
    }


@pytest.fixture
def journal(tmp_path):
    opened = HiveJournal(tmp_path / "hive-journal.sqlite")
    yield opened
    opened.close()


def sign(document, journal, policy=ACCEPTING, now=NOW):
    return sign_hive_rotation(document, policy=policy, key=KEY, journal=journal, now=now)


def test_it_signs_an_accepted_version_and_beem_and_the_dev_node_agree(journal):
    document = rotation()
    verdict = sign(document, journal)
    assert verdict.approved, verdict.reasons
    tx = {k: document[k] for k in ("ref_block_num", "ref_block_prefix", "expiration")}
    tx |= {"operations": document["operations"], "extensions": [], "signatures": []}
    node_tx = transaction_from_json(tx)
    assert node_pack(node_tx) == portal_tx.packed(tx)
    signature = bytes.fromhex(verdict.signature)
    assert portal_tx.recover_key(tx, CHAIN_ID, signature) == public_key_of(KEY)
    digest = transaction_digest(node_tx, CHAIN_ID)
    assert recover_public_key(signature, digest) == public_key_of(KEY)
    # The signer's own rebuild names the version's keys, the threshold and its own account.
    op = rebuild(parse(document), ACCEPTING)
    assert (op.account, op.threshold, sorted(op.keys)) == (FEDERATION, 2, sorted(NEW_KEYS))


def test_it_signs_a_rotation_that_moves_the_owner_to_the_same_version(journal):
    """Where the federation holds the owner authority, the rotation sets it to the new version
    too (a SON that left must not keep it: the owner also signs for active)."""
    document = rotation(owner=portal_tx.authority(NEW_KEYS, 2))
    verdict = sign(document, journal)
    assert verdict.approved, verdict.reasons
    tx = {k: document[k] for k in ("ref_block_num", "ref_block_prefix", "expiration")}
    tx |= {"operations": document["operations"], "extensions": [], "signatures": []}
    node_tx = transaction_from_json(tx)
    assert node_tx.operations[0].owner == node_tx.operations[0].active
    assert node_pack(node_tx) == portal_tx.packed(tx)
    signature = bytes.fromhex(verdict.signature)
    assert portal_tx.recover_key(tx, CHAIN_ID, signature) == public_key_of(KEY)
    assert rebuild(parse(document), ACCEPTING).owner
    assert not rebuild(parse(rotation()), ACCEPTING).owner


def test_a_repeat_gets_the_first_signature(journal):
    first = sign(rotation(), journal)
    assert sign(rotation(), journal).signature == first.signature


def test_a_signer_without_the_version_in_its_config_refuses(journal):
    verdict = sign(rotation(), journal, policy=POLICY)
    assert verdict.reasons == ("VERSION_NOT_ACCEPTED",)


def _with_active(change):
    document = rotation()
    change(document["operations"][0][1]["active"])
    return document


def _with_body(change):
    document = rotation()
    change(document["operations"][0][1])
    return document


def _extra_key(active):
    active["key_auths"].append([MEMO_KEY, 1])


def _heavier(active):
    active["key_auths"][0][1] = 2


def _account_auth(active):
    active["account_auths"] = [["attacker", 2]]


def _owner_null(body):
    body["owner"] = None


def _with_owner(change):
    document = rotation(owner=portal_tx.authority(NEW_KEYS, 2))
    change(document["operations"][0][1]["owner"])
    return document


def _owned_by(keys, threshold=2):
    """A rotation to the accepted version whose owner is another authority, with a correct
    trx_id: only the owner check stands in the way."""
    return rotation(owner=portal_tx.authority(keys, threshold))


def _owner_only():
    document = _owned_by([MEMO_KEY])
    del document["operations"][0][1]["active"]
    return document


def _posting(body):
    body["posting"] = copy.deepcopy(body["active"])


def _metadata(body):
    body["json_metadata"] = '{"x": 1}'


def _transfer(document):
    document["operations"] = [["transfer", {"from": FEDERATION, "to": "x", "amount": "1.000 HIVE"}]]
    return document


def _lower_threshold():
    document = rotation(threshold=1)
    document["federation"]["threshold"] = 2
    return document


def _txid():
    document = rotation()
    document["trx_id"] = "0" * 40
    return document


def _chain():
    document = rotation()
    document["chain_id"] = "ab" * 32
    return document


def _two_ops():
    document = rotation()
    document["operations"] = document["operations"] * 2
    return document


def _late():
    document = rotation()
    late = REFERENCE_TIME + dt.timedelta(hours=3)
    document["expiration"] = portal_tx.format_time(late)
    return document


HOSTILE = [
    (
        "someone else's keys",
        lambda: rotation(keys=[MEMO_KEY, *NEW_KEYS[:2]]),
        "VERSION_NOT_ACCEPTED",
    ),
    ("the version at threshold 1", lambda: rotation(threshold=1), "VERSION_NOT_ACCEPTED"),
    ("a key added to the authority", lambda: _with_active(_extra_key), "AUTHORITY_MISMATCH"),
    ("a heavier key", lambda: _with_active(_heavier), "AUTHORITY_MISMATCH"),
    ("an account authority", lambda: _with_active(_account_auth), "AUTHORITY_MISMATCH"),
    ("an authority below the version", _lower_threshold, "AUTHORITY_MISMATCH"),
    ("another account", lambda: rotation(account="attacker"), "FOREIGN_ACCOUNT"),
    ("the owner to someone else's keys", lambda: _owned_by([MEMO_KEY]), "OWNER_MISMATCH"),
    (
        "the owner to another key set",
        lambda: _owned_by([MEMO_KEY, *NEW_KEYS[:2]]),
        "OWNER_MISMATCH",
    ),
    ("the owner at threshold 1", lambda: _owned_by(NEW_KEYS, 1), "OWNER_MISMATCH"),
    ("the owner at threshold 3", lambda: _owned_by(NEW_KEYS, 3), "OWNER_MISMATCH"),
    ("the owner with a key fewer", lambda: _owned_by(NEW_KEYS[:2], 2), "OWNER_MISMATCH"),
    ("an owner account authority", lambda: _with_owner(_account_auth), "OWNER_MISMATCH"),
    ("an owner key added", lambda: _with_owner(_extra_key), "OWNER_MISMATCH"),
    ("a heavier owner key", lambda: _with_owner(_heavier), "OWNER_MISMATCH"),
    ("a null owner", lambda: _with_body(_owner_null), "OWNER_MISMATCH"),
    ("an owner change alone", _owner_only, "NOT_AUTHORITY_UPDATE"),
    ("a posting change", lambda: _with_body(_posting), "NOT_AUTHORITY_UPDATE"),
    ("metadata", lambda: _with_body(_metadata), "NOT_AUTHORITY_UPDATE"),
    ("a transfer instead", lambda: _transfer(rotation()), "NOT_AUTHORITY_UPDATE"),
    ("two operations", _two_ops, "MALFORMED"),
    ("a wrong trx_id", _txid, "TXID_MISMATCH"),
    ("another chain", _chain, "WRONG_CHAIN_ID"),
    ("expiring too late", _late, "EXPIRATION_TOO_FAR"),
]


@pytest.mark.parametrize(("make", "reason"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_it_refuses_a_hostile_rotation(journal, make, reason):
    verdict = sign(make(), journal)
    assert not verdict.approved
    assert reason in verdict.reasons, verdict.reasons


def test_an_expired_rotation_is_refused(journal):
    verdict = sign(rotation(), journal, now=NOW + dt.timedelta(hours=2))
    assert verdict.reasons == ("EXPIRED",)


def test_a_withdrawal_request_is_no_rotation(journal):
    verdict = sign(withdrawal_request(), journal)
    assert verdict.reasons == ("MALFORMED",)


def test_the_config_takes_accepted_versions_with_the_rules_threshold(tmp_path):
    base = {"chain_id": CHAIN_ID, "federation_account": FEDERATION, "daily_caps": {}}
    base["journal"] = "j.sqlite"
    good = base | {"accepted_federations": [{"keys": NEW_KEYS, "threshold": 2}]}
    policy, _ = parse_hive(good, base=tmp_path, name="c")
    assert policy.accepted_versions() == {(frozenset(NEW_KEYS), 2)}
    assert policy.inclusion_margin == 120
    for bad in (
        [{"keys": NEW_KEYS, "threshold": 3}],
        [{"keys": NEW_KEYS[:2] + NEW_KEYS[:1], "threshold": 2}],
        [{"keys": ["STM" + "1" * 50], "threshold": 1}],
        [{"keys": NEW_KEYS}],
        {"keys": NEW_KEYS, "threshold": 2},
    ):
        with pytest.raises(HiveConfigError):
            parse_hive(base | {"accepted_federations": bad}, base=tmp_path, name="c")
    for margin in (-1, 3601, "60", True):
        with pytest.raises(HiveConfigError):
            parse_hive(base | {"inclusion_margin": margin}, base=tmp_path, name="c")
    policy, _ = parse_hive(base | {"inclusion_margin": 600}, base=tmp_path, name="c")
    assert policy.inclusion_margin == 600
