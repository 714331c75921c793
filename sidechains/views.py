from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from rates.assets import Asset, amount_format
from sidechains import services
from sidechains.bitcoin.rpc import BitcoinRPCError
from sidechains.models import SON, Deposit, Sidechain, SONStatistics
from sonportal import health
from sonportal.views import HtmxHttpRequest


def _get_son_for_user(request: HttpRequest, name: str) -> SON:
    """A SON page is for its operator and for administrators."""
    son = SON.objects.filter(name=name).prefetch_related("public_keys", "statistics").first()
    if son is None or not (son.owner_id == request.user.pk or request.user.is_staff):
        raise Http404("No such SON.")
    return son


@login_required
def operator_home(request: HttpRequest):
    sons = SON.objects.owned_by(request.user).prefetch_related("public_keys", "statistics")
    return render(request, "sidechains/operator_home.html", {"sons": sons, "now": timezone.now()})


def _son_page_context(request: HttpRequest, son: SON, error: str = "") -> dict:
    now = timezone.now()
    return {
        "son": son,
        "changes": son.status_changes.all()[:20],
        "now": now,
        "current_downtime": son.current_downtime(now),
        "downtime": son.downtime(now),
        "is_operator": son.owner_id == request.user.pk,
        "error": error,
    }


@login_required
def son_detail(request: HttpRequest, name: str):
    son = _get_son_for_user(request, name)
    return render(request, "sidechains/son.html", _son_page_context(request, son))


MAINTENANCE_ACTIONS = {
    "request": services.son_request_maintenance,
    "cancel": services.son_cancel_maintenance,
}


@login_required
@require_POST
def son_maintenance(request: HtmxHttpRequest, name: str):
    """The operator requests maintenance for their SON, or cancels the request."""
    son = _get_son_for_user(request, name)
    if son.owner_id != request.user.pk:
        raise PermissionDenied("Only the SON's operator requests maintenance.")
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
        return render(request, "sidechains/son.html#status", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{son} is now {son.get_status_display()}.")
    return redirect(son)


@dataclass(frozen=True)
class GridRow:
    son: SON
    downtime: int
    current_downtime: int
    statistics: list[SONStatistics | None]  # one per sidechain, in Sidechain order


def _grid_row(son: SON, now) -> GridRow:
    by_chain = {s.sidechain: s for s in son.statistics.all()}
    statistics = [by_chain.get(chain) for chain in Sidechain.values]
    return GridRow(son, son.downtime(now), son.current_downtime(now), statistics)


@require_GET
def status_grid(request: HtmxHttpRequest):
    """Every SON's status and statistics, for everyone (no login): the federation is public."""
    now = timezone.now()
    sons = sorted(
        SON.objects.prefetch_related("statistics"),
        key=lambda son: (son.status == SON.Status.DEREGISTERED, son.name),
    )
    context = {
        "rows": [_grid_row(son, now) for son in sons],
        "sidechains": Sidechain.choices,
        "now": now,
    }
    grid = "sidechains/status_grid.html"
    return render(request, f"{grid}#grid" if request.htmx else grid, context)


# The asset a deposit on each chain arrives in, and the pegged token it is credited in.
DEPOSIT_ASSETS = {Sidechain.BITCOIN: (Asset.BTC, Asset.PBTC)}
# A page waits this long at most for the node's tip height.
TIP_TIMEOUT = 3


@dataclass(frozen=True)
class DepositRow:
    deposit: Deposit
    amount: str
    credited: str
    confirmations: int | None  # None: the node's tip is unknown


def _bitcoin_tip() -> int | None:
    rpc = health.bitcoin_rpc()
    rpc.timeout = min(rpc.timeout, TIP_TIMEOUT)
    try:
        return rpc.get_block_count()
    except BitcoinRPCError:
        return None
    finally:
        rpc.close()


def _deposit_row(deposit: Deposit, tip: int | None) -> DepositRow:
    asset, pegged = DEPOSIT_ASSETS[Sidechain(deposit.chain)]
    credited = deposit.credited_amount
    return DepositRow(
        deposit=deposit,
        amount=amount_format(deposit.amount, asset),
        credited="" if credited is None else amount_format(credited, pegged),
        confirmations=None if tip is None else deposit.confirmations(tip),
    )


@require_GET
@login_required
def deposits(request: HtmxHttpRequest):
    """The user's deposits with their stage; the table polls itself while the page is open."""
    mine = Deposit.objects.for_user(request.user).for_chain(Sidechain.BITCOIN)
    tip = _bitcoin_tip() if mine.exists() else None
    rows = [_deposit_row(deposit, tip) for deposit in mine]
    template = "sidechains/deposits.html#table" if request.htmx else "sidechains/deposits.html"
    return render(request, template, {"rows": rows, "tip": tip, "now": timezone.now()})
