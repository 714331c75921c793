"""The rotation page (docs/rotation.md): each sidechain's federation versions, which SONs'
signers accepted each (as their heartbeats report it), for a version waiting to be moved to
which of the active version's SONs consent, and the move: on Bitcoin its steps (test spend,
activation, sweeps, retirement) and what older versions still hold, on Hive the account_update
transactions. For witnesses, SON operators and whoever may see federation versions
(sons.view_federationversion: administrators); a 403 page for anyone else."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from proposals.models import Witness
from sidechains.bitcoin.rotation import version_holdings
from sidechains.models import HiveTransaction, RotationStep
from sons.federation import federation_version_acceptors, federation_version_consenting
from sons.models import SON, FederationVersion, Sidechain, SONPublicKey

SHOWN = 10  # versions per sidechain, newest first
Status = FederationVersion.Status


@dataclass(frozen=True)
class Consent:
    """For an accepted version: the active version's SONs in the federation that report it
    accepted, of the `needed` (its m) the move waits for."""

    consenting: list[str]
    needed: int


@dataclass(frozen=True)
class VersionView:
    version: FederationVersion
    members: list[str]  # SON names (or a key's first digits when no SON holds it now)
    accepted: list[str]
    not_yet: list[str]
    steps: list[RotationStep]
    coins: int
    satoshi: int
    consent: Consent | None = None
    updates: list[HiveTransaction] | None = None  # Hive: the account_updates to it


def may_see_rotation(user) -> bool:
    if user.has_perm("sons.view_federationversion"):
        return True
    return SON.objects.filter(owner=user).exists() or Witness.objects.filter(user=user).exists()


def _version_view(
    version: FederationVersion, names: dict[str, str], active: FederationVersion | None
) -> VersionView:
    members = [names.get(key, f"key {key[:12]}…") for key in version.keys]
    accepted = [son.name for son in federation_version_acceptors(version)]
    not_yet = [name for name in members if name not in accepted]
    consent = None
    if version.status == Status.ACCEPTED and active is not None:
        consenting = [son.name for son in federation_version_consenting(active, version)]
        consent = Consent(consenting, active.threshold)
    if version.sidechain == Sidechain.HIVE:
        updates = list(version.hive_transactions.order_by("pk"))
        return VersionView(version, members, accepted, not_yet, [], 0, 0, consent, updates)
    steps = list(
        RotationStep.objects.filter(version=version).select_related("sidechain_tx").order_by("pk")
    )
    coins, satoshi = version_holdings(version)
    return VersionView(version, members, accepted, not_yet, steps, coins, satoshi, consent)


def _rows(sidechain: str) -> list[VersionView]:
    versions = FederationVersion.objects.filter(sidechain=sidechain)
    active = versions.filter(status=Status.ACTIVE).first()
    keys = SONPublicKey.objects.filter(sidechain=sidechain).select_related("son")
    names = {key.public_key: key.son.name for key in keys}
    return [_version_view(v, names, active) for v in versions.order_by("-pk")[:SHOWN]]


@require_GET
@login_required
def rotation(request: HttpRequest) -> HttpResponse:
    if not may_see_rotation(request.user):
        message = "Only witnesses, SON operators and administrators see the federation's rotation."
        return render(request, "proposals/forbidden.html", {"message": message}, status=403)
    context = {"rows": _rows(Sidechain.BITCOIN), "hive_rows": _rows(Sidechain.HIVE)}
    return render(request, "proposals/rotation.html", context)
