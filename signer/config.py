"""The signer's configuration file: its own view of the federation (docs/signer.md).

A JSON object, written by the operator::

    {"network": "regtest",
     "federation_keys": ["02...", "03...", "02..."],
     "deposit_timelock": 144,
     "max_feerate": 50,
     "max_fee": 1000000,
     "daily_cap": 1000000000,
     "journal": "son-1.journal.sqlite"}

Optional: "dust_limit" (default 546); "hive", the Hive section (signer/hive_config.py);
"accepted_federations": the other federation versions the operator accepts, each
{"keys": [...], "threshold": m} (m as the rule gives it: n - n//3), added with
`python -m signer federation add` after checking the version's fingerprint
(docs/rotation.md). A relative journal path is relative to the configuration
file's folder. Unknown fields are refused, so that a misspelt limit is not silently ignored.

Nothing here comes from the portal: the portal is not trusted to tell the signer what the
federation is. A portal that could name the federation keys, the timelock or the limits could
name its own key as "the federation" and have the signers pay coins to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coincurve

from signer import script
from signer.hive import public_key_bytes as hive_key_bytes
from signer.hive_config import HiveConfigError, parse_hive
from signer.hive_config import accepted as hive_accepted
from signer.hive_policy import HivePolicy
from signer.policy import DEFAULT_DUST_LIMIT, SignerConfig

REQUIRED = (
    "network",
    "federation_keys",
    "deposit_timelock",
    "max_feerate",
    "max_fee",
    "daily_cap",
    "journal",
)
OPTIONAL = ("dust_limit", "hive", "accepted_federations")
_LIMITS = ("deposit_timelock", "max_feerate", "max_fee", "daily_cap", "dust_limit")
_MAX_SIZE = 1_000_000


class ConfigError(Exception):
    """The configuration file cannot be used; the message is for the operator."""


@dataclass(frozen=True)
class FileConfig:
    signer: SignerConfig
    journal: Path
    hive: HivePolicy | None = None  # the optional "hive" section (signer/hive_config.py)
    hive_journal: Path | None = None


def load(path: str | Path, private_key: coincurve.PrivateKey) -> FileConfig:
    """The configuration in `path`, for the signer holding `private_key` (its Bitcoin key)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")[:_MAX_SIZE]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"the configuration file {path} is not JSON: {exc}") from None
    return parse(document, private_key, base=path.parent, name=str(path))


def _check_fields(document: object, name: str) -> dict[str, Any]:
    """The document, if it is an object with every required field and no unknown one."""
    if not isinstance(document, dict):
        raise ConfigError(f"{name}: expected a JSON object")
    missing = [key for key in REQUIRED if key not in document]
    if missing:
        raise ConfigError(f"{name}: missing field(s): {', '.join(missing)}")
    unknown = sorted(set(document) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ConfigError(f"{name}: unknown field(s): {', '.join(unknown)}")
    return document


def parse(
    document: object, private_key: coincurve.PrivateKey, *, base: Path, name: str = "config"
) -> FileConfig:
    document = _check_fields(document, name)
    if not isinstance(document["network"], str):
        raise ConfigError(f"{name}: network must be a string")
    for key in _LIMITS:
        value = document.get(key, DEFAULT_DUST_LIMIT)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name}: {key} must be an integer")
    federation = _federation_keys(document["federation_keys"], name)
    accepted = accepted_federations(document.get("accepted_federations", []), name)
    journal = document["journal"]
    if not isinstance(journal, str) or not journal:
        raise ConfigError(f"{name}: journal must be a file path")
    try:
        signer = SignerConfig(
            network=document["network"],
            federation_keys=federation,
            private_key=private_key,
            deposit_timelock=document["deposit_timelock"],
            max_feerate=document["max_feerate"],
            max_fee=document["max_fee"],
            daily_cap=document["daily_cap"],
            dust_limit=document.get("dust_limit", DEFAULT_DUST_LIMIT),
            accepted_federations=accepted,
        )
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if "hive" not in document:
        return FileConfig(signer=signer, journal=base / journal)
    try:
        hive, hive_journal = parse_hive(document["hive"], base=base, name=name)
    except HiveConfigError as exc:
        raise ConfigError(str(exc)) from None
    return FileConfig(signer, base / journal, hive, hive_journal)


def fingerprint(keys: list[str]) -> str:
    """A version's fingerprint as the portal shows it: SHA-256 of the sorted hex keys joined by
    commas; operators compare the first 16 hex digits, in groups of four."""
    digest = script.version_fingerprint([bytes.fromhex(key) for key in keys])
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))


def _federation_keys(keys: object, name: str) -> tuple[bytes, ...]:
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise ConfigError(f"{name}: federation_keys must be a list of hex public keys")
    try:
        return tuple(bytes.fromhex(key) for key in keys)
    except ValueError:
        raise ConfigError(f"{name}: a federation key is not hex") from None


def accepted_federations(value: object, name: str) -> tuple[tuple[bytes, ...], ...]:
    """The "accepted_federations" list: key sets whose stated threshold is the rule's."""
    if not isinstance(value, list):
        raise ConfigError(f"{name}: accepted_federations must be a list")
    versions = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"keys", "threshold"}:
            raise ConfigError(f"{name}: each accepted federation is {{keys, threshold}}")
        keys, threshold = item["keys"], item["threshold"]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigError(f"{name}: an accepted federation's keys must be hex public keys")
        if threshold != script.threshold(len(keys)) or isinstance(threshold, bool):
            raise ConfigError(
                f"{name}: a federation of {len(keys)} keys has threshold"
                f" {script.threshold(len(keys))}, not {threshold!r}"
            )
        try:
            versions.append(tuple(bytes.fromhex(key) for key in keys))
        except ValueError:
            raise ConfigError(f"{name}: a key of an accepted federation is not hex") from None
    return tuple(versions)


def add_accepted(path: str | Path, keys: list[str], threshold: int) -> tuple[str, bool]:
    """Add the version (keys, threshold) to the file's accepted_federations, keeping every
    other field as it is; (its fingerprint, whether it was added). Written to a new file that
    replaces the old one, so a crash leaves either."""
    path = Path(path)
    document = _read_document(path)
    keys = sorted(keys)
    accepted = accepted_federations([{"keys": keys, "threshold": threshold}], str(path))
    if not all(script.is_compressed_key(key) for key in accepted[0]):
        raise ConfigError("a key is not a compressed secp256k1 public key (66 hex digits)")
    if len(set(keys)) != len(keys):
        raise ConfigError("a key is listed twice")
    listed = document.setdefault("accepted_federations", [])
    accepted_federations(listed, str(path))  # the file's own list must be readable
    if (
        any(sorted(item["keys"]) == keys for item in listed)
        or sorted(document["federation_keys"]) == keys
    ):
        return fingerprint(keys), False
    listed.append({"keys": keys, "threshold": threshold})
    _replace(path, document)
    return fingerprint(keys), True


def add_accepted_hive(path: str | Path, keys: list[str], threshold: int) -> tuple[str, bool]:
    """As add_accepted, for the "hive" section's accepted_federations (keys "STM..."). The
    fingerprint is the portal's: that of the keys as 66 hex digits."""
    path = Path(path)
    document = _read_document(path)
    section = document.get("hive")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: no hive section: set up Hive signing first (docs/signer.md)")
    keys = sorted(keys)
    if len(set(keys)) != len(keys):
        raise ConfigError("a key is listed twice")
    listed = section.setdefault("accepted_federations", [])
    try:
        hive_accepted([{"keys": keys, "threshold": threshold}], str(path))
        hive_accepted(listed, str(path))  # the file's own list must be readable
    except HiveConfigError as exc:
        raise ConfigError(str(exc)) from None
    hex_keys = [hive_key_bytes(key).hex() for key in keys]
    if any(sorted(item["keys"]) == keys for item in listed):
        return fingerprint(hex_keys), False
    listed.append({"keys": keys, "threshold": threshold})
    _replace(path, document)
    return fingerprint(hex_keys), True


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8")[:_MAX_SIZE])
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc}") from None
    return _check_fields(document, str(path))


def _replace(path: Path, document: dict[str, Any]) -> None:
    """Written to a new file that replaces the old one, so a crash leaves either."""
    new = path.with_name(path.name + ".new")
    new.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    new.replace(path)
