"""The federation: its active key set per sidechain (FederationVersion), every key set it has
had, and whether it needs a replacement SON.

The active version changes only by an explicit activation (the end of a rotation,
docs/rotation.md), never because a SON's status changed: a deregistration leaves the keys as
they are, so every coin stays spendable by the SONs that remain (a deregistered SON's signer is
refused by the API and signs nothing).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from chains.bitcoin.federation import federation_witness_script, threshold
from chains.bitcoin.script import ScriptError
from sons.models import SON, FederationVersion, Sidechain, SONPublicKey

Status = FederationVersion.Status


def federation_son_keys(sidechain: str = Sidechain.BITCOIN) -> list[str]:
    """Public keys of the SONs in the federation now (active, in or requesting maintenance),
    sorted: the key set a rotation would propose."""
    keys = SONPublicKey.objects.filter(
        sidechain=sidechain, son__status__in=SON.FEDERATION_STATUSES
    ).values_list("public_key", flat=True)
    return sorted(keys)


def federation_public_keys(sidechain: str = Sidechain.BITCOIN) -> list[str]:
    """The active version's public keys, sorted ([] before the federation has any)."""
    version = federation_current(sidechain)
    return [] if version is None else list(version.keys)


def federation_current(sidechain: str = Sidechain.BITCOIN) -> FederationVersion | None:
    """The active version. The first one is recorded, active, from the SONs in the federation
    the first time a script is needed; None without SONs (or with a set no script can hold)."""
    active = FederationVersion.objects.filter(sidechain=sidechain, status=Status.ACTIVE).first()
    if active is not None:
        return active
    keys = federation_son_keys(sidechain)
    if not keys:
        return None
    try:
        with transaction.atomic():  # a concurrent first use activates the same or another row
            version = federation_version_record(sidechain=sidechain, keys=keys)
            if version is None:
                return None
            FederationVersion.objects.filter(pk=version.pk).update(status=Status.ACTIVE)
    except IntegrityError:
        pass
    return FederationVersion.objects.filter(sidechain=sidechain, status=Status.ACTIVE).first()


def federation_version_record(*, sidechain: str, keys: list[str]) -> FederationVersion | None:
    """The version of this key set, recorded (proposed) if new; None for a set no script can
    hold. Idempotent: a key set is one row."""
    keys = sorted(keys)
    fingerprint = FederationVersion.fingerprint_of(keys)
    found = FederationVersion.objects.filter(sidechain=sidechain, fingerprint=fingerprint).first()
    if found is not None:
        return found
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


@transaction.atomic
def federation_version_activate(*, version: FederationVersion) -> bool:
    """Make `version` the active one; the one before goes retiring (its coins are still to be
    moved). False if it already was active."""
    if version.status == Status.ACTIVE:
        return False
    FederationVersion.objects.filter(sidechain=version.sidechain, status=Status.ACTIVE).update(
        status=Status.RETIRING
    )
    n = (
        FederationVersion.objects.filter(pk=version.pk)
        .exclude(status=Status.ACTIVE)
        .update(status=Status.ACTIVE)
    )
    version.refresh_from_db(fields=["status"])
    return n == 1


def federation_wallet_scripts(sidechain: str = Sidechain.BITCOIN) -> list[bytes]:
    """Every wallet script the federation has had or may have on the sidechain, today's
    included."""
    federation_current(sidechain)
    scripts = FederationVersion.objects.filter(sidechain=sidechain, wallet_script__isnull=False)
    return [
        bytes(script)
        for script in scripts.values_list("wallet_script", flat=True)
        if script is not None  # the query excludes NULL already; this tells the type checker
    ]


@dataclass(frozen=True)
class FederationHealth:
    """The active version against the SONs there are now."""

    version: FederationVersion
    sons: int  # SONs in the federation now
    gone: list[str]  # SONs whose keys are in the version but who are no longer in the federation
    replacement_needed: bool

    def summary(self) -> str:
        v = self.version
        text = f"{v.sidechain}: {v.threshold} of {len(v.keys)} ({v.short_fingerprint()})"
        if self.gone:
            text += f"; {', '.join(self.gone)} left: its key stays until a rotation"
        if self.replacement_needed:
            text += (
                f"; {self.sons} SONs in the federation, minimum {settings.FEDERATION_MIN_SIZE}:"
                " a replacement SON is needed"
            )
        return text


def federation_health(sidechain: str = Sidechain.BITCOIN) -> FederationHealth | None:
    version = federation_current(sidechain)
    if version is None:
        return None
    holders = SONPublicKey.objects.filter(sidechain=sidechain, public_key__in=version.keys)
    gone = sorted(
        holders.exclude(son__status__in=SON.FEDERATION_STATUSES).values_list("son__name", flat=True)
    )
    sons = SON.objects.federation().count()
    needed = sons < settings.FEDERATION_MIN_SIZE
    return FederationHealth(version, sons, gone, needed)


def federation_version_acceptors(version: FederationVersion) -> list[SON]:
    """The SONs of the version's key set whose signers report it as accepted (their last
    heartbeat's list for its sidechain): the ones that will sign for it."""
    holders = SON.objects.filter(
        public_keys__sidechain=version.sidechain, public_keys__public_key__in=version.keys
    ).order_by("name")
    return [son for son in holders if son.accepts(version)]


def federation_version_ready(version: FederationVersion) -> bool:
    """Accepted by witnesses and by at least m of its own SONs' signers: its move may start."""
    if version.status != Status.ACCEPTED:
        return False
    return len(federation_version_acceptors(version)) >= version.threshold


def federation_version_retire(*, version: FederationVersion) -> bool:
    """retiring -> retired (the caller checked that it holds nothing); False if it was not
    retiring."""
    n = FederationVersion.objects.filter(pk=version.pk, status=Status.RETIRING).update(
        status=Status.RETIRED
    )
    version.refresh_from_db(fields=["status"])
    return n == 1


def federation_version_consents(source: FederationVersion, destination: FederationVersion) -> bool:
    """At least m of the source version's SONs still in the federation report the destination
    version accepted: they sign the source's coins away to it (on Hive: the account_update to
    it), and a signer without it would refuse (a refusal stands for that transaction), so
    nothing is built before."""
    return len(federation_version_consenting(source, destination)) >= source.threshold


def federation_version_consenting(
    source: FederationVersion, destination: FederationVersion
) -> list[SON]:
    """The source version's SONs still in the federation whose signers report the destination
    version accepted."""
    holders = SON.objects.federation().filter(
        public_keys__sidechain=source.sidechain, public_keys__public_key__in=source.keys
    )
    return [son for son in holders.order_by("name") if son.accepts(destination)]
