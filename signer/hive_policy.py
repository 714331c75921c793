"""May this SON sign this Hive request? The checks, in order, with stable reason codes.

The signer rebuilds the transaction from the request's withdrawals and its own configuration
(the federation account, the chain id): one transfer per withdrawal, from the federation
account, to the withdrawal's account, of its amount and asset, with the withdrawal id as memo.
The request's operations and trx_id must be exactly that rebuild; TaPoS fields are taken as
given (a wrong reference only makes the node refuse the transaction). The expiration is at most
an hour after the reference block's time and after the signer's clock. The journal then makes
a repeat return its first signature, refuses a second live transaction for the same
withdrawals, and holds the 24 h cap per asset (docs/signing-requests.md, "Hive").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import coincurve

from signer import hive, script
from signer.hive_journal import HiveJournal
from signer.hive_request import HiveRequest, HiveRequestError, parse

WRONG_CHAIN_ID = "WRONG_CHAIN_ID"
DUPLICATE_PAYOUT = "DUPLICATE_PAYOUT"
BAD_ACCOUNT = "BAD_ACCOUNT"
PAYS_FEDERATION = "PAYS_FEDERATION"
BAD_ASSET = "BAD_ASSET"
ZERO_AMOUNT = "ZERO_AMOUNT"
NOT_TRANSFER = "NOT_TRANSFER"
FOREIGN_SENDER = "FOREIGN_SENDER"
PAYOUT_MISMATCH = "PAYOUT_MISMATCH"
OPERATION_COUNT = "OPERATION_COUNT"
EXPIRATION_TOO_FAR = "EXPIRATION_TOO_FAR"
EXPIRED = "EXPIRED"
TXID_MISMATCH = "TXID_MISMATCH"
CAP_EXCEEDED = "CAP_EXCEEDED"
MAX_EXPIRATION = dt.timedelta(seconds=3600)


@dataclass(frozen=True)
class HivePolicy:
    chain_id: str  # hex, from the signer's own configuration
    federation_account: str
    daily_caps: dict[str, int] = field(default_factory=dict)  # asset -> 0.001 units per 24 h
    clock_skew: dt.timedelta = dt.timedelta(seconds=120)
    # After its expiration a transaction may still sit in a reversible block (hived accepts no
    # transaction into a block past its expiration, and a block is irreversible ~45 s later).
    # The portal rebuilds once the expiration is irreversible, with a new expiration up to an
    # hour on: a short margin leaves the rebuilt transaction most of its life to be signed.
    # Measured on the signer's clock; the rebuild's reference block must also be past the old
    # expiration in chain time. The "hive" section's inclusion_margin sets it.
    inclusion_margin: int = 120
    # Versions of the Hive federation (keys "STM...", threshold) that the operator accepts: a
    # rotation to one of them may be signed (signer/hive_rotation.py).
    accepted_federations: tuple[tuple[tuple[str, ...], int], ...] = ()

    def accepted_versions(self) -> set[tuple[frozenset[str], int]]:
        return {(frozenset(keys), threshold) for keys, threshold in self.accepted_federations}

    def version_fingerprints(self) -> list[str]:
        """What the signer reports to the portal: the Hive versions it accepts, each
        fingerprinted as the portal does (SHA-256 of its keys as 66 hex digits, sorted, joined
        by commas), as `signer federation add --sidechain hive` prints it."""
        return [
            script.version_fingerprint([hive.public_key_bytes(key) for key in keys])
            for keys, _ in self.accepted_federations
        ]


@dataclass(frozen=True)
class HiveVerdict:
    request_id: str | None
    reasons: tuple[str, ...] = ()
    signature: str | None = None  # hex, when signed

    @property
    def approved(self) -> bool:
        return self.signature is not None


def rebuild(req: HiveRequest, policy: HivePolicy) -> hive.HiveTransaction:
    transfers = tuple(
        hive.HiveTransfer(policy.federation_account, w.account, w.amount, w.asset, w.id)
        for w in req.withdrawals
    )
    tx = req.transaction
    return hive.HiveTransaction(tx.ref_block_num, tx.ref_block_prefix, tx.expiration, transfers)


def review(req: HiveRequest, policy: HivePolicy, now: dt.datetime) -> list[str]:
    """The reasons to refuse, from the request and the configuration alone."""
    reasons = _withdrawal_reasons(req, policy) + _operation_reasons(req, policy)
    reasons += _time_reasons(req, now, policy)
    if not reasons and hive.trx_id(rebuild(req, policy)) != req.trx_id:
        reasons.append(TXID_MISMATCH)
    if req.chain_id != policy.chain_id:
        reasons.insert(0, WRONG_CHAIN_ID)
    return list(dict.fromkeys(reasons))


def _withdrawal_reasons(req: HiveRequest, policy: HivePolicy) -> list[str]:
    reasons = []
    if any(n > 1 for n in Counter(w.id for w in req.withdrawals).values()):
        reasons.append(DUPLICATE_PAYOUT)
    for w in req.withdrawals:
        if not hive.is_account_name(w.account):
            reasons.append(BAD_ACCOUNT)
        if w.account == policy.federation_account:
            reasons.append(PAYS_FEDERATION)
        if w.asset not in hive.SYMBOLS:
            reasons.append(BAD_ASSET)
        if w.amount <= 0:
            reasons.append(ZERO_AMOUNT)
    return reasons


def _operation_reasons(req: HiveRequest, policy: HivePolicy) -> list[str]:
    ops = req.transaction.transfers
    reasons = [NOT_TRANSFER for op in ops if op.symbol not in hive.SYMBOLS]
    reasons += [FOREIGN_SENDER for op in ops if op.sender != policy.federation_account]
    if len(ops) != len(req.withdrawals):
        reasons.append(OPERATION_COUNT)
    elif not reasons and ops != rebuild(req, policy).transfers:
        reasons.append(PAYOUT_MISMATCH)
    return reasons


def _time_reasons(req: HiveRequest, now: dt.datetime, policy: HivePolicy) -> list[str]:
    return time_reasons(req.transaction.expiration, req.reference_time, now, policy)


def time_reasons(
    expiration: dt.datetime, reference_time: dt.datetime, now: dt.datetime, policy: HivePolicy
) -> list[str]:
    """Not expired, and expiring at most an hour after the reference block and the clock."""
    if expiration <= now - policy.clock_skew:
        return [EXPIRED]
    too_far = expiration - reference_time > MAX_EXPIRATION
    too_far |= expiration - now > MAX_EXPIRATION + policy.clock_skew
    return [EXPIRATION_TOO_FAR] if too_far else []


def sign_hive_request(
    document: object,
    *,
    policy: HivePolicy,
    key: coincurve.PrivateKey,
    journal: HiveJournal,
    now: dt.datetime,
) -> HiveVerdict:
    """Check a Hive request and sign it, or say why not. Journal first for a repeat."""
    try:
        req = parse(document)
    except HiveRequestError as e:
        request_id = document.get("id") if isinstance(document, dict) else None
        return HiveVerdict(request_id if isinstance(request_id, str) else None, (e.reason,))
    reasons = review(req, policy, now)
    if reasons:
        return HiveVerdict(req.id, tuple(reasons))
    earlier = journal.signature_of(req.trx_id)
    if earlier is not None:
        return HiveVerdict(req.id, signature=earlier)
    conflict = journal.live_conflict(
        req.withdrawals, req.trx_id, now, policy.inclusion_margin, req.reference_time
    )
    if conflict is not None:
        return HiveVerdict(req.id, (conflict,))
    if not _within_caps(req, policy, journal, now):
        return HiveVerdict(req.id, (CAP_EXCEEDED,))
    tx = rebuild(req, policy)
    signature = hive.sign(hive.digest(tx, bytes.fromhex(policy.chain_id)), key).hex()
    journal.record(
        request_id=req.id,
        trx_id=req.trx_id,
        expiration=tx.expiration,
        signature=signature,
        withdrawals=req.withdrawals,
        now=now,
    )
    return HiveVerdict(req.id, signature=signature)


def _within_caps(
    req: HiveRequest, policy: HivePolicy, journal: HiveJournal, now: dt.datetime
) -> bool:
    """A withdrawal re-signed after its first transaction expired is counted once."""
    known = journal.known_withdrawals([w.id for w in req.withdrawals])
    for asset in hive.SYMBOLS:
        cap = policy.daily_caps.get(asset, 0)
        new = sum(w.amount for w in req.withdrawals if w.asset == asset and w.id not in known)
        if not new:
            continue
        since = now - dt.timedelta(hours=24)
        if journal.paid_since(asset, since, excluding=[]) + new > cap:
            return False
    return True
