"""SON pages: the operator's SONs, one SON's status and statistics (maintenance, token
rotation), and the public status grid of every SON."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from chains.bitcoin.federation import threshold
from core.htmx import HtmxHttpRequest
from sons import services
from sons.activity import HEADINGS, Activity, son_activity
from sons.federation import federation_current
from sons.forms import TokenRotationForm
from sons.models import SON, FederationVersion, Sidechain


def _get_son_for_user(request: HttpRequest, name: str) -> SON:
    """A SON page is for its operator and for people with sons.view_son
    (administrators)."""
    son = SON.objects.filter(name=name).prefetch_related("public_keys", "statistics").first()
    if son is None:
        raise Http404("No such SON.")
    if son.owner_id != request.user.pk and not request.user.has_perm("sons.view_son"):
        raise Http404("No such SON.")
    return son


def _get_own_son(request: HttpRequest, name: str) -> SON:
    """A SON of the signed-in operator, for what only its operator does."""
    son = _get_son_for_user(request, name)
    if son.owner_id != request.user.pk:
        raise PermissionDenied("Only the SON's operator does this.")
    return son


@login_required
def operator_home(request: HttpRequest):
    sons = SON.objects.owned_by(request.user).prefetch_related("public_keys", "statistics")
    return render(request, "sons/operator_home.html", {"sons": sons, "now": timezone.now()})


@dataclass(frozen=True)
class VersionRow:
    version: FederationVersion
    accepted: bool  # by the SON's signer, as of its last heartbeat that said


def _federation_rows(son: SON) -> list[VersionRow]:
    """The federation versions not yet retired, Bitcoin's then Hive's, and whether the SON's
    signer accepts each: what its operator compares (the fingerprint) before
    `signer federation add`."""
    federation_current(Sidechain.BITCOIN)  # the first version is recorded on first use
    versions = FederationVersion.objects.exclude(status=FederationVersion.Status.RETIRED)
    return [VersionRow(v, son.accepts(v)) for v in versions.order_by("sidechain", "pk")]


def _son_page_context(request: HttpRequest, son: SON, error: str = "", **extra) -> dict:
    now = timezone.now()
    return {
        "son": son,
        "federation_rows": _federation_rows(son),
        "changes": son.status_changes.all()[:20],
        "now": now,
        "current_downtime": son.current_downtime(now),
        "downtime": son.downtime(now),
        "is_operator": son.owner_id == request.user.pk,
        "error": error,
        "token_form": TokenRotationForm(),
        "maintenance_consequence": _maintenance_consequence(son),
        "activity": son_activity([son], now)[son.pk],
        "headings": HEADINGS,
        **extra,
    }


def _maintenance_consequence(son: SON) -> str:
    """What requesting maintenance does to the federation's signing, in words."""
    federation = SON.objects.filter(status__in=SON.FEDERATION_STATUSES)
    n = federation.count()
    left = federation.filter(status=SON.Status.ACTIVE).exclude(pk=son.pk).count()
    needed = threshold(n) if n else 0
    text = f"Requesting maintenance leaves {left} of {n} SONs active; signing needs {needed}."
    if left < needed:
        text += " Signing stops until a SON comes back, and new deposits are set aside for refunds."
    return text


@login_required
def son_detail(request: HttpRequest, name: str):
    son = _get_son_for_user(request, name)
    return render(request, "sons/son.html", _son_page_context(request, son))


MAINTENANCE_ACTIONS = {
    "request": services.son_request_maintenance,
    "cancel": services.son_cancel_maintenance,
}


@login_required
@require_POST
def son_maintenance(request: HtmxHttpRequest, name: str):
    """The operator requests maintenance for their SON, or cancels the request."""
    son = _get_own_son(request, name)
    action = MAINTENANCE_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        return HttpResponseBadRequest("Unknown maintenance action.")
    error = ""
    try:
        son = action(son=son, by=request.user)
    except services.SONError as e:
        error = str(e)
    if request.htmx:
        context = _son_page_context(request, son, error)
        return render(request, "sons/son.html#status", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{son} is now {son.get_status_display()}.")
    return redirect(son)


ROUTINE_ROTATION = "routine rotation by the operator"


@login_required
@require_POST
@never_cache
def son_token(request: HtmxHttpRequest, name: str):
    """The operator issues a new API token for their SON's signer. It is shown in this answer
    only (never stored but as its hash, never cached) and audited; the old one stops working."""
    son = _get_own_son(request, name)
    form = TokenRotationForm(request.POST)
    token, error = "", ""
    if form.is_valid():
        try:
            token = services.son_issue_token(
                son=son,
                by=request.user,
                reason=form.cleaned_data["reason"] or ROUTINE_ROTATION,
                via=services.TokenIssuer.OPERATOR,
            )
        except services.SONError as e:
            error = str(e)
    else:
        error = " ".join(form.errors.get("reason", []))
    context = _son_page_context(request, son, new_token=token, token_error=error, token_form=form)
    if request.htmx:  # htmx swaps 2xx answers only; the fragment carries the error
        return render(request, "sons/son.html#token", context)
    return render(request, "sons/son.html", context, status=400 if error else 200)


@dataclass(frozen=True)
class GridRow:
    son: SON
    downtime: int
    current_downtime: int
    activity: Activity

    def value(self, key: str, window: int) -> object:
        row = self.activity.row(key)
        return None if row is None else row.values[window]

    @property
    def signed_30d(self) -> int:
        return sum(int(self.value(key, 2) or 0) for key in ("bitcoin_signed", "hive_signed"))

    @property
    def refused_30d(self) -> object:
        return self.value("refused", 2)

    @property
    def delay_24h(self) -> object:
        return self.value("delay", 0)


def _grid_row(son: SON, now, activity: Activity) -> GridRow:
    return GridRow(son, son.downtime(now), son.current_downtime(now), activity)


@require_GET
def status_grid(request: HtmxHttpRequest):
    """Every SON's status and statistics, for everyone (no login): the federation is public."""
    now = timezone.now()
    sons = sorted(
        SON.objects.all(), key=lambda son: (son.status == SON.Status.DEREGISTERED, son.name)
    )
    activity = son_activity(sons, now)
    context = {"rows": [_grid_row(son, now, activity[son.pk]) for son in sons], "now": now}
    grid = "sons/status_grid.html"
    return render(request, f"{grid}#grid" if request.htmx else grid, context)
