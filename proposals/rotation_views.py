"""The rotation page (docs/rotation.md): the Bitcoin federation's versions, which SONs'
signers accepted each, the steps of the move (test spend, activation, sweeps, retirement) and
what older versions still hold. For witnesses, SON operators and whoever may see federation
versions (sons.view_federationversion: administrators); a 403 page for anyone else."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from proposals.models import Witness
from sidechains.bitcoin.rotation import version_holdings
from sidechains.models import RotationStep
from sons.federation import federation_version_acceptors
from sons.models import SON, FederationVersion, Sidechain, SONPublicKey

SHOWN = 10  # versions, newest first


@dataclass(frozen=True)
class VersionView:
    version: FederationVersion
    members: list[str]  # SON names (or a key's first digits when no SON holds it now)
    accepted: list[str]
    not_yet: list[str]
    steps: list[RotationStep]
    coins: int
    satoshi: int


def may_see_rotation(user) -> bool:
    if user.has_perm("sons.view_federationversion"):
        return True
    return SON.objects.filter(owner=user).exists() or Witness.objects.filter(user=user).exists()


def _version_view(version: FederationVersion, names: dict[str, str]) -> VersionView:
    members = [names.get(key, f"key {key[:12]}…") for key in version.keys]
    accepted = [son.name for son in federation_version_acceptors(version)]
    steps = list(
        RotationStep.objects.filter(version=version).select_related("sidechain_tx").order_by("pk")
    )
    coins, satoshi = version_holdings(version)
    not_yet = [name for name in members if name not in accepted]
    return VersionView(version, members, accepted, not_yet, steps, coins, satoshi)


@require_GET
@login_required
def rotation(request: HttpRequest) -> HttpResponse:
    if not may_see_rotation(request.user):
        message = "Only witnesses, SON operators and administrators see the federation's rotation."
        return render(request, "proposals/forbidden.html", {"message": message}, status=403)
    versions = FederationVersion.objects.filter(sidechain=Sidechain.BITCOIN).order_by("-pk")
    keys = SONPublicKey.objects.filter(sidechain=Sidechain.BITCOIN).select_related("son")
    names = {key.public_key: key.son.name for key in keys}
    rows = [_version_view(version, names) for version in versions[:SHOWN]]
    return render(request, "proposals/rotation.html", {"rows": rows})
