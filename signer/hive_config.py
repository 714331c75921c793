"""The optional "hive" section of the signer's configuration file (docs/signer.md)::

    "hive": {"chain_id": "<64 hex>", "federation_account": "son-federation",
             "daily_caps": {"HIVE": 100000000, "HBD": 10000000},
             "journal": "son-1.hive-journal.sqlite"}

Caps are in 0.001 units per 24 h. Without the section the signer signs no Hive request (it
leaves them unanswered and logs it). Optional:

- "accepted_federations": [{"keys": ["STM...", ...], "threshold": m}], the versions of the Hive
  federation the operator accepts; a rotation of the federation account's active authority is
  signed only to one of them (signer/hive_rotation.py, docs/rotation.md). m is the rule's,
  n - n//3.
- "inclusion_margin": seconds (default 120, at most 3600) after a transaction's expiration
  during which a different transaction for the same withdrawals is refused: it covers the
  difference between this signer's clock and the chain's (docs/hive.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import coincurve

from signer import hive
from signer.hive_journal import HiveJournal
from signer.hive_policy import HivePolicy

KEYS = {"chain_id", "federation_account", "daily_caps", "journal"}
OPTIONAL = {"accepted_federations", "inclusion_margin"}
MAX_INCLUSION_MARGIN = 3600
_HEX64 = re.compile(r"[0-9a-f]{64}")


class HiveConfigError(ValueError):
    pass


@dataclass
class HiveSigning:
    policy: HivePolicy
    journal: HiveJournal
    key: coincurve.PrivateKey


def parse_hive(section: object, *, base: Path, name: str) -> tuple[HivePolicy, Path]:
    if not isinstance(section, dict) or not KEYS <= set(section) <= KEYS | OPTIONAL:
        raise HiveConfigError(
            f"{name}: hive has the fields {sorted(KEYS)}, and optionally {sorted(OPTIONAL)}"
        )
    chain_id, account = section["chain_id"], section["federation_account"]
    if not isinstance(chain_id, str) or not _HEX64.fullmatch(chain_id):
        raise HiveConfigError(f"{name}: hive.chain_id is 64 lower-case hex characters")
    if not isinstance(account, str) or not hive.is_account_name(account):
        raise HiveConfigError(f"{name}: hive.federation_account is not a Hive account name")
    caps = section["daily_caps"]
    if not isinstance(caps, dict) or not set(caps) <= set(hive.SYMBOLS):
        raise HiveConfigError(f"{name}: hive.daily_caps maps HIVE and HBD to integers")
    for value in caps.values():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise HiveConfigError(f"{name}: hive.daily_caps maps HIVE and HBD to integers")
    journal = section["journal"]
    if not isinstance(journal, str) or not journal:
        raise HiveConfigError(f"{name}: hive.journal must be a file path")
    margin = section.get("inclusion_margin", 120)
    if isinstance(margin, bool) or not isinstance(margin, int):
        raise HiveConfigError(f"{name}: hive.inclusion_margin is a number of seconds")
    if not 0 <= margin <= MAX_INCLUSION_MARGIN:
        raise HiveConfigError(f"{name}: hive.inclusion_margin is 0 to {MAX_INCLUSION_MARGIN} s")
    policy = HivePolicy(
        chain_id=chain_id,
        federation_account=account,
        daily_caps=dict(caps),
        inclusion_margin=margin,
        accepted_federations=accepted(section.get("accepted_federations", []), name),
    )
    return policy, base / journal


def accepted(value: object, name: str) -> tuple[tuple[tuple[str, ...], int], ...]:
    """hive.accepted_federations: key sets ("STM...") with the rule's threshold."""
    if not isinstance(value, list):
        raise HiveConfigError(f"{name}: hive.accepted_federations must be a list")
    versions = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"keys", "threshold"}:
            raise HiveConfigError(f"{name}: each hive accepted federation is {{keys, threshold}}")
        keys, threshold = item["keys"], item["threshold"]
        if not isinstance(keys, list) or not keys or len(set(map(str, keys))) != len(keys):
            raise HiveConfigError(f"{name}: a hive accepted federation lists distinct keys")
        for key in keys:
            try:
                hive.public_key_bytes(key if isinstance(key, str) else "")
            except ValueError:
                raise HiveConfigError(f"{name}: {str(key)[:60]!r} is not an STM key") from None
        rule = len(keys) - len(keys) // 3
        if isinstance(threshold, bool) or threshold != rule:
            raise HiveConfigError(
                f"{name}: a federation of {len(keys)} keys has threshold {rule}, not {threshold!r}"
            )
        versions.append((tuple(sorted(keys)), rule))
    return tuple(versions)
