"""sign_request: the policy, then the journal, then the signatures (docs/signing-requests.md).

The answer is a dict ready for JSON: the signatures, or a refusal with reason codes. Nothing is
recorded for a refused request, and no hostile request makes this raise; only a journal that
cannot be read or written does (JournalError, sqlite3.Error), and then nothing is returned.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import Any

from signer import request
from signer.bitcoin import sign, signature_hashes
from signer.journal import Journal, JournalError, Spend
from signer.policy import INTERNAL_ERROR, Reviewed, SignerConfig, Verdict, review

log = logging.getLogger("signer")


def sign_request(
    document: object, config: SignerConfig, journal: Journal, now: datetime
) -> dict[str, Any]:
    request_id = request.request_id_of(document)
    try:
        verdict, reviewed = review(document, config, journal, now)
    except (JournalError, sqlite3.Error):
        # The journal could not be read (the 24 h payouts): a passing fault, not a verdict on
        # the request. The serve loop retries; a refusal would be final at the portal.
        raise
    except Exception:  # a bug met this request: refuse it rather than crash the loop or sign
        log.exception("the policy failed on request %s", request_id)
        verdict, reviewed = Verdict.of([INTERNAL_ERROR]), None
    if reviewed is None:
        log.warning("refused request %s: %s", request_id, ", ".join(verdict.reasons))
        return request.refused(request_id, verdict.reasons)
    return _sign(reviewed, config, journal, now)


def _sign(
    reviewed: Reviewed, config: SignerConfig, journal: Journal, now: datetime
) -> dict[str, Any]:
    spend = Spend.of(reviewed)
    stored = journal.already_signed(spend)
    if stored is not None:
        return request.signed(spend.request_id, stored)
    reason = journal.record_intent(spend, now)  # checks the journal's rules under its lock
    if reason is not None:
        log.warning("refused request %s: %s", spend.request_id, reason)
        return request.refused(spend.request_id, (reason,))
    signatures = signatures_for(reviewed, config)
    journal.record_signatures(spend, signatures, now)
    log.info("signed request %s (txid %s)", spend.request_id, spend.txid)
    return request.signed(spend.request_id, signatures)


def signatures_for(reviewed: Reviewed, config: SignerConfig) -> list[dict[str, Any]]:
    """One SIGHASH_ALL signature per input, over the BIP143 digest of the amount its previous
    transaction gives and its witness script."""
    own_key = config.own_key.hex()
    spent = [
        (claim.witness_script, out.amount)
        for claim, out in zip(reviewed.request.inputs, reviewed.spent, strict=True)
    ]
    return [
        {"input": index, "pubkey": own_key, "signature": sign(digest, config.private_key).hex()}
        for index, digest in enumerate(signature_hashes(reviewed.tx, spent))
    ]
