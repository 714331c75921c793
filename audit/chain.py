"""The audit log's hash chain: each record commits to the one before it.

A record's hash is SHA-256 over its canonical serialization, which includes the previous
record's hash, so changing, removing or reordering any record changes every hash after it and
the log's head. The head hash is published with every liabilities epoch (docs/proofs.md).

Canonical serialization (version 1): the JSON object
  {"action", "actor", "created_at", "details", "prev", "reason", "seq", "target"}
with keys sorted, no whitespace (separators "," and ":"), UTF-8 and non-ASCII kept as is;
"actor" is the user's id or null, "created_at" is ISO 8601 in UTC with microseconds
("2026-12-01T10:42:49.123456+00:00"), "prev" is the previous hash in hex (64 zeros for the
first record), "seq" counts from 1 without gaps.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
# pg_advisory_xact_lock key serializing appends (an arbitrary constant, "AUDIT" in ASCII).
APPEND_LOCK = 0x4155444954


def canonical(
    *,
    seq: int,
    prev: str,
    actor: int | None,
    action: str,
    target: str,
    reason: str,
    details: dict[str, Any],
    created_at: datetime,
) -> bytes:
    body = {
        "action": action,
        "actor": actor,
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "details": details,
        "prev": prev,
        "reason": reason,
        "seq": seq,
        "target": target,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical(**fields)).hexdigest()
