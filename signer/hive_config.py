"""The optional "hive" section of the signer's configuration file (docs/signer.md)::

    "hive": {"chain_id": "<64 hex>", "federation_account": "son-federation",
             "daily_caps": {"HIVE": 100000000, "HBD": 10000000},
             "journal": "son-1.hive-journal.sqlite"}

Caps are in 0.001 units per 24 h. Without the section the signer signs no Hive request (it
leaves them unanswered and logs it).
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
_HEX64 = re.compile(r"[0-9a-f]{64}")


class HiveConfigError(ValueError):
    pass


@dataclass
class HiveSigning:
    policy: HivePolicy
    journal: HiveJournal
    key: coincurve.PrivateKey


def parse_hive(section: object, *, base: Path, name: str) -> tuple[HivePolicy, Path]:
    if not isinstance(section, dict) or set(section) != KEYS:
        raise HiveConfigError(f"{name}: hive has exactly the fields {sorted(KEYS)}")
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
    policy = HivePolicy(chain_id=chain_id, federation_account=account, daily_caps=dict(caps))
    return policy, base / journal
