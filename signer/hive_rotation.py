"""May this SON sign this rotation of the Hive federation? (docs/rotation.md, "Hive")

Rotating the Hive federation is one account_update of the federation account that sets its
active authority to the new version's keys (weight 1 each) and threshold, signed by the old
authority. The request names the version; the signer signs only when that version is one its
operator accepted in the configuration ("hive": {"accepted_federations": [...]}), and only the
transaction it rebuilds itself from its own configuration: the federation account from its
config, no posting change, no account authorities, empty JSON metadata. A portal that named
its own keys would be refused with VERSION_NOT_ACCEPTED by every signer.

The owner authority is either left out or set to exactly the same version as the active one:
where the federation holds the owner, a rotation moves it too, since on Hive the owner also
signs for active and a SON that left must not keep it. Any other owner would hand the account
to someone else: OWNER_MISMATCH.

The memo key is taken as the request states it: it only encrypts memos, which move nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import coincurve

from signer import hive
from signer.hive_journal import HiveJournal
from signer.hive_policy import WRONG_CHAIN_ID, HivePolicy, HiveVerdict, time_reasons
from signer.hive_request import (
    MALFORMED,
    UNKNOWN_VERSION,
    WRONG_CHAIN,
    HiveRequestError,
    match,
    object_with,
    parse_time,
    to_int,
)

VERSION_NOT_ACCEPTED = "VERSION_NOT_ACCEPTED"
FOREIGN_ACCOUNT = "FOREIGN_ACCOUNT"
AUTHORITY_MISMATCH = "AUTHORITY_MISMATCH"
OWNER_MISMATCH = "OWNER_MISMATCH"
NOT_AUTHORITY_UPDATE = "NOT_AUTHORITY_UPDATE"
TXID_MISMATCH = "TXID_MISMATCH"
MAX_KEYS = 64
_KEYS = {
    "id",
    "version",
    "chain",
    "chain_id",
    "ref_block_num",
    "ref_block_prefix",
    "reference_time",
    "expiration",
    "operations",
    "trx_id",
    "federation",
}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_KEY = re.compile(r"STM[1-9A-HJ-NP-Za-km-z]{40,60}")


@dataclass(frozen=True)
class RotationRequest:
    id: str
    chain_id: str
    ref_block_num: int
    ref_block_prefix: int
    reference_time: dt.datetime
    expiration: dt.datetime
    operation: dict[str, Any]  # the account_update's body, as stated
    trx_id: str
    keys: tuple[str, ...]  # the version the request names
    threshold: int


def is_rotation(document: object) -> bool:
    """A Hive request naming a federation version instead of withdrawals."""
    return isinstance(document, dict) and "federation" in document and "withdrawals" not in document


def parse(document: object) -> RotationRequest:
    doc = object_with(document, _KEYS, "rotation request")
    if doc["chain"] != "hive":
        raise HiveRequestError(WRONG_CHAIN, "a rotation request's chain is hive")
    if doc["version"] != 1 or isinstance(doc["version"], bool):
        raise HiveRequestError(UNKNOWN_VERSION, "this signer reads Hive request version 1")
    ops = doc["operations"]
    if not isinstance(ops, list) or len(ops) != 1 or not isinstance(ops[0], list):
        raise HiveRequestError(MALFORMED, "a rotation has exactly one operation")
    if len(ops[0]) != 2 or ops[0][0] != "account_update" or not isinstance(ops[0][1], dict):
        raise HiveRequestError(NOT_AUTHORITY_UPDATE, "the operation is not an account_update")
    federation = object_with(doc["federation"], {"keys", "threshold"}, "federation")
    keys = federation["keys"]
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise HiveRequestError(MALFORMED, f"federation.keys is a list of 1 to {MAX_KEYS} keys")
    return RotationRequest(
        id=match(doc["id"], _ID, "id"),
        chain_id=match(doc["chain_id"], _HEX64, "chain_id"),
        ref_block_num=to_int(doc["ref_block_num"], "ref_block_num", 0xFFFF),
        ref_block_prefix=to_int(doc["ref_block_prefix"], "ref_block_prefix", 0xFFFFFFFF),
        reference_time=parse_time(doc["reference_time"], "reference_time"),
        expiration=parse_time(doc["expiration"], "expiration"),
        operation=ops[0][1],
        trx_id=match(doc["trx_id"], _HEX40, "trx_id"),
        keys=tuple(match(key, _KEY, "a key") for key in keys),
        threshold=to_int(federation["threshold"], "federation.threshold", MAX_KEYS),
    )


def rebuild(req: RotationRequest, policy: HivePolicy) -> hive.HiveAuthorityUpdate:
    """The account_update this signer would sign for the request's version."""
    memo_key = req.operation.get("memo_key")
    return hive.HiveAuthorityUpdate(
        account=policy.federation_account,
        threshold=req.threshold,
        keys=tuple(sorted(req.keys)),
        memo_key=memo_key if isinstance(memo_key, str) else "",
        owner="owner" in req.operation,
    )


def review(req: RotationRequest, policy: HivePolicy, now: dt.datetime) -> list[str]:
    """The reasons to refuse, from the request and the configuration alone."""
    reasons = []
    if req.chain_id != policy.chain_id:
        reasons.append(WRONG_CHAIN_ID)
    if (frozenset(req.keys), req.threshold) not in policy.accepted_versions():
        reasons.append(VERSION_NOT_ACCEPTED)
    reasons += _operation_reasons(req, policy)
    reasons += time_reasons(req.expiration, req.reference_time, now, policy)
    if not reasons and _trx_id(req, policy) != req.trx_id:
        reasons.append(TXID_MISMATCH)
    return reasons


def _operation_reasons(req: RotationRequest, policy: HivePolicy) -> list[str]:
    body = req.operation
    if set(body) - {"owner"} != {"account", "active", "memo_key", "json_metadata"}:
        return [NOT_AUTHORITY_UPDATE]  # a posting change, or something unknown
    reasons = [] if body["account"] == policy.federation_account else [FOREIGN_ACCOUNT]
    if body["json_metadata"] != "":
        reasons.append(NOT_AUTHORITY_UPDATE)
    if not _is_version(body["active"], req):
        reasons.append(AUTHORITY_MISMATCH)
    if "owner" in body and not _is_version(body["owner"], req):
        reasons.append(OWNER_MISMATCH)  # the owner goes to the request's version or nowhere
    return reasons


def _is_version(authority: object, req: RotationRequest) -> bool:
    """The authority is exactly the request's version: its keys weight 1 each, its threshold,
    no account authorities."""
    return (
        isinstance(authority, dict)
        and set(authority) == {"weight_threshold", "account_auths", "key_auths"}
        and authority["weight_threshold"] == req.threshold
        and not isinstance(authority["weight_threshold"], bool)
        and authority["account_auths"] == []
        and _key_weights(authority["key_auths"]) == sorted((key, 1) for key in req.keys)
    )


def _key_weights(value: object) -> list[tuple[str, int]] | None:
    """The [key, weight] pairs, sorted; None if they are not such pairs."""
    if not isinstance(value, list) or len(value) > MAX_KEYS:
        return None
    pairs = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str):
            return None
        if isinstance(pair[1], bool) or not isinstance(pair[1], int):
            return None
        pairs.append((pair[0], pair[1]))
    return sorted(pairs)


def _trx_id(req: RotationRequest, policy: HivePolicy) -> str | None:
    try:
        packed = _packed(req, policy)
    except ValueError:
        return None  # a key or the memo key is no public key
    return hashlib.sha256(packed).digest()[:20].hex()


def _packed(req: RotationRequest, policy: HivePolicy) -> bytes:
    op = rebuild(req, policy)
    return hive.pack_authority_update(req.ref_block_num, req.ref_block_prefix, req.expiration, op)


def sign_hive_rotation(
    document: object,
    *,
    policy: HivePolicy,
    key: coincurve.PrivateKey,
    journal: HiveJournal,
    now: dt.datetime,
) -> HiveVerdict:
    """Check a rotation request and sign it, or say why not; a repeat gets its first signature."""
    try:
        req = parse(document)
    except HiveRequestError as e:
        request_id = document.get("id") if isinstance(document, dict) else None
        return HiveVerdict(request_id if isinstance(request_id, str) else None, (e.reason,))
    reasons = review(req, policy, now)
    if reasons:
        return HiveVerdict(req.id, tuple(dict.fromkeys(reasons)))
    earlier = journal.signature_of(req.trx_id)
    if earlier is not None:
        return HiveVerdict(req.id, signature=earlier)
    message = hashlib.sha256(bytes.fromhex(policy.chain_id) + _packed(req, policy)).digest()
    signature = hive.sign(message, key).hex()
    journal.record(
        request_id=req.id,
        trx_id=req.trx_id,
        expiration=req.expiration,
        signature=signature,
        withdrawals=(),
        now=now,
    )
    return HiveVerdict(req.id, signature=signature)
