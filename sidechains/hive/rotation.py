"""Rotating the Hive federation (docs/rotation.md, "Hive").

On Hive the federation is one account whose active authority is the SONs' keys, weight 1 each,
threshold m. A rotation is one account_update of that account setting its active authority to
the accepted version's keys and threshold, signed by the old authority. When the account's
owner authority is the old version too (as the federation is usually set up), the update sets
the owner to the new version as well, and the old set signs as the owner: on Hive the owner
also signs for active, so a SON that left must not keep it. Otherwise the owner is left alone
(sonportal/health.py reports one holding keys of SONs outside the federation).

The update has the same signing, broadcast and tracking as a withdrawal transaction
(sidechains/hive/withdrawals/), and like it is the only live Hive transaction, so no withdrawal
is signed by one set and broadcast under the other. Each signer signs it only for a version in
its own configuration (signer/hive_rotation.py).

    FederationVersion(hive) accepted --account_update in an irreversible block--> active
    (the version before it: retired at once; on Hive no coin stays behind under old keys)

The update is built only once at least m of the active (old) version's SONs still in the
federation report the version accepted in their heartbeats (hive_federations): they are the
ones to sign it. An update that expires unincluded anyway (a signer's configuration changed
since) is marked expired; the next tick builds a new one, unless withdrawals are waiting: they
get a batch first, so a rotation the signers do not sign never stops withdrawals for long.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from chains.hive import transactions as hive_tx
from chains.hive.rpc import HiveRPC, HiveRPCError
from sidechains.hive.withdrawals.transactions import _irreversible_block, _time
from sidechains.models import HiveTransaction, Withdrawal
from sons.federation import (
    federation_current,
    federation_version_activate,
    federation_version_consents,
)
from sons.models import FederationVersion, Sidechain

log = logging.getLogger(__name__)
Status = FederationVersion.Status
OWNER_UPDATE_LIMIT = dt.timedelta(hours=1)  # hived's HIVE_OWNER_UPDATE_LIMIT


def hive_version_authority(version: FederationVersion) -> dict[str, Any]:
    """The active authority that is `version` on Hive."""
    keys = [hive_tx.public_key_text(key) for key in version.keys]
    return hive_tx.authority(keys, version.threshold)


def hive_rotation_due() -> FederationVersion | None:
    """The Hive version the witnesses accepted and that is not active yet (the oldest first)."""
    accepted = FederationVersion.objects.filter(sidechain=Sidechain.HIVE, status=Status.ACCEPTED)
    return accepted.order_by("created_at", "id").first()


def hive_rotation_build(*, rpc: HiveRPC) -> HiveTransaction | None:
    """The account_update to the accepted version, unless a Hive transaction is live. When the
    node's authority already is that version (an update confirmed, say, by hand), the version is
    activated instead."""
    version = hive_rotation_due()
    if version is None or HiveTransaction.objects.live().exists() or _batch_first(version):
        return None
    account = federation_account(rpc)
    wanted = hive_version_authority(version)
    if same_authority(account["active"], wanted):
        with transaction.atomic():
            hive_rotation_activate(version=version, note="the node's authority already is it")
        return None
    if not hive_rotation_consented(version):
        return None
    owner = _owner_too(account, wanted)
    if owner is not None and _owner_updated_lately(account, rpc):
        return None
    return _persist(rpc, version, account, wanted, owner)


def _persist(
    rpc: HiveRPC,
    version: FederationVersion,
    account: dict[str, Any],
    wanted: dict[str, Any],
    owner: dict[str, Any] | None,
) -> HiveTransaction | None:
    """The account_update, recorded as the one live Hive transaction (None if another one
    became live meanwhile)."""
    reference = _irreversible_block(rpc)
    chain_id = str(rpc.get_config()["HIVE_CHAIN_ID"])
    reference_time = _time(reference["timestamp"])
    expires_in = dt.timedelta(seconds=min(settings.HIVE_TX_EXPIRATION, 3600))
    tx = hive_tx.authority_update_transaction(
        account=settings.HIVE_FEDERATION_ACCOUNT,
        active=wanted,
        owner=owner,
        memo_key=str(account["memo_key"]),
        reference_block_id=reference["block_id"],
        reference_time=reference_time,
        expires_in=expires_in,
    )
    with transaction.atomic():
        if HiveTransaction.objects.select_for_update().live().exists():
            return None
        return HiveTransaction.objects.create(
            trx_id=hive_tx.transaction_id(tx),
            chain_id=chain_id,
            tx=tx,
            reference_time=reference_time,
            expiration=reference_time.replace(microsecond=0) + expires_in,
            federation_version=version,
        )


def _owner_too(account: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The owner authority the update sets as well: `wanted` when the account's owner authority
    is the active (old) version, as the federation is usually set up. On Hive the owner
    authority also signs for active, so a SON leaving would otherwise keep the account's funds
    with any m-1 others of the old set. The old set signs the owner change (it is the owner).
    Another owner (a cold key no SON holds, say) is left alone: the SONs cannot sign for it."""
    old = federation_current(Sidechain.HIVE)
    if old is None or not same_authority(account["owner"], hive_version_authority(old)):
        return None
    return wanted


def _owner_updated_lately(account: dict[str, Any], rpc: HiveRPC) -> bool:
    """hived refuses a second owner change within HIVE_OWNER_UPDATE_LIMIT (an hour): the
    rotation waits rather than leave the owner behind."""
    last = _time(str(account.get("last_owner_update", "1970-01-01T00:00:00")))
    head = _time(str(rpc.get_dynamic_global_properties()["time"]))
    if head - last > OWNER_UPDATE_LIMIT:
        return False
    log.debug(
        "Hive rotation waits: %s's owner authority changed at %s, hived allows one change an hour",
        settings.HIVE_FEDERATION_ACCOUNT,
        last.isoformat(),
    )
    return True


def hive_rotation_consented(version: FederationVersion) -> bool:
    """At least m of the active version's SONs still in the federation report `version` in
    their signers' hive.accepted_federations: the old set signs the update, and a signer without
    the version refuses it, so it is not built before (as the Bitcoin move waits)."""
    active = federation_current(Sidechain.HIVE)
    if active is None or federation_version_consents(active, version):
        return True
    log.debug(
        "Hive federation version %s waits: fewer than %d of the active version's SONs report"
        " it accepted",
        version.fingerprint[:16],
        active.threshold,
    )
    return False


def _batch_first(version: FederationVersion) -> bool:
    """The last Hive transaction was this rotation, expired unincluded, and withdrawals wait."""
    last = HiveTransaction.objects.order_by("-pk").only("federation_version", "status").first()
    if last is None or last.federation_version_id != version.pk:
        return False
    if last.status != HiveTransaction.Status.EXPIRED:
        return False
    return Withdrawal.objects.filter(
        chain=Sidechain.HIVE, status=Withdrawal.Status.REQUESTED
    ).exists()


def hive_rotation_request(htx: HiveTransaction) -> dict[str, Any]:
    """What a signer gets for a rotation (docs/signing-requests.md, "Hive rotation")."""
    active = htx.tx["operations"][0][1]["active"]
    return {
        "id": f"hive-{htx.pk}",
        "version": 1,
        "chain": "hive",
        "chain_id": htx.chain_id,
        "ref_block_num": htx.tx["ref_block_num"],
        "ref_block_prefix": htx.tx["ref_block_prefix"],
        "reference_time": hive_tx.format_time(htx.reference_time),
        "expiration": htx.tx["expiration"],
        "operations": htx.tx["operations"],
        "trx_id": htx.trx_id,
        "federation": {
            "keys": [key for key, _ in active["key_auths"]],
            "threshold": active["weight_threshold"],
        },
    }


def hive_rotation_activate(*, version: FederationVersion, note: str) -> bool:
    """The version is the active one; the one before it is retired (the caller's transaction)."""
    if not federation_version_activate(version=version):
        return False
    FederationVersion.objects.filter(sidechain=Sidechain.HIVE, status=Status.RETIRING).update(
        status=Status.RETIRED
    )
    log.info("Hive federation version %s active: %s", version.fingerprint[:16], note)
    return True


def federation_account(rpc: HiveRPC) -> dict[str, Any]:
    name = settings.HIVE_FEDERATION_ACCOUNT
    for account in rpc.get_accounts([name]):
        if account["name"] == name:
            return dict(account)
    raise HiveRPCError("database_api.find_accounts", f"no account {name}")


def same_authority(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def canonical(authority: dict[str, Any]) -> tuple[object, ...]:
        return (
            int(authority["weight_threshold"]),
            sorted((str(n), int(w)) for n, w in authority["account_auths"]),
            sorted((str(k), int(w)) for k, w in authority["key_auths"]),
        )

    return canonical(a) == canonical(b)
