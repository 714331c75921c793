"""The federation: its current keys, as the portal derives scripts from them, and every key set
it has had (FederationVersion)."""

from django.db import IntegrityError, transaction

from chains.bitcoin.federation import federation_witness_script, threshold
from chains.bitcoin.script import ScriptError
from sons.models import SON, FederationVersion, Sidechain, SONPublicKey


def federation_public_keys(sidechain: str = Sidechain.BITCOIN) -> list[str]:
    """Public keys of the SONs in the federation on this sidechain, sorted."""
    keys = SONPublicKey.objects.filter(
        sidechain=sidechain, son__status__in=SON.FEDERATION_STATUSES
    ).values_list("public_key", flat=True)
    return sorted(keys)


def federation_current(sidechain: str = Sidechain.BITCOIN) -> FederationVersion | None:
    """The version of today's key set, recorded on first use; None without SONs (or with a
    set no script can hold)."""
    keys = federation_public_keys(sidechain)
    if not keys:
        return None
    fingerprint = FederationVersion.fingerprint_of(keys)
    found = FederationVersion.objects.filter(sidechain=sidechain, fingerprint=fingerprint).first()
    return found or _record(sidechain, keys, fingerprint)


def _record(sidechain: str, keys: list[str], fingerprint: str) -> FederationVersion | None:
    script = None
    if sidechain == Sidechain.BITCOIN:
        try:
            script = federation_witness_script([bytes.fromhex(key) for key in keys])
        except (ScriptError, ValueError):
            return None
    fields = {"keys": keys, "threshold": threshold(len(keys)), "wallet_script": script}
    try:
        with transaction.atomic():  # a concurrent first use records the same row
            return FederationVersion.objects.create(
                sidechain=sidechain, fingerprint=fingerprint, **fields
            )
    except IntegrityError:
        return FederationVersion.objects.get(sidechain=sidechain, fingerprint=fingerprint)


def federation_wallet_scripts(sidechain: str = Sidechain.BITCOIN) -> list[bytes]:
    """Every wallet script the federation has had on the sidechain, today's included."""
    federation_current(sidechain)
    scripts = FederationVersion.objects.filter(sidechain=sidechain, wallet_script__isnull=False)
    return [
        bytes(script)
        for script in scripts.values_list("wallet_script", flat=True)
        if script is not None  # the query excludes NULL already; this tells the type checker
    ]
