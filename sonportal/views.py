import csv
from datetime import UTC, datetime, time, timedelta

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.htmx import HtmxHttpRequest
from ledger.services import balances_of
from ledger.statements import StatementLine, statement_latest, statement_of
from mappings.models import SidechainAddress
from rates.assets import Asset, amount_format
from sidechains.models import Deposit, Withdrawal
from solvency.models import Epoch
from sonportal import health, oncall
from sonportal.forms import StatementForm
from sonportal.roles import home_url
from sons.models import SON, Sidechain


@login_required
def home(request: HttpRequest):
    return redirect(home_url(request.user))


IN_FLIGHT = (
    Withdrawal.Status.REQUESTED,
    Withdrawal.Status.HELD,
    Withdrawal.Status.BATCHED,
    Withdrawal.Status.BROADCAST,
)
PENDING_DEPOSITS = (Deposit.Status.DETECTED, Deposit.Status.CONFIRMED)


def _money_summary(user) -> dict:
    """Available tokens, tokens escrowed by withdrawals on their way, deposits not yet
    credited, and the last five movements."""
    in_flight = Withdrawal.objects.for_user(user).filter(status__in=IN_FLIGHT)
    escrowed = in_flight.aggregate(total=Sum("amount_pegged"))["total"] or 0
    pending = Deposit.objects.filter(
        user=user, status__in=PENDING_DEPOSITS, chain=Sidechain.BITCOIN
    )
    return {
        "balances": [amount_format(amount, asset) for asset, amount in balances_of(user).items()],
        "in_flight": amount_format(escrowed, Asset.PBTC),
        "in_flight_count": in_flight.count(),
        "pending": amount_format(pending.aggregate(total=Sum("amount"))["total"] or 0, Asset.BTC),
        "pending_count": pending.count(),
        "movements": [_line(line) for line in statement_latest(user, 5)],
    }


def _line(line: StatementLine) -> dict:
    return {
        "at": line.at,
        "reason": line.reason,
        "reference": line.reference,
        "change": amount_format(line.change, line.asset),
        "balance": amount_format(line.balance, line.asset),
    }


@login_required
def account_home(request: HtmxHttpRequest):
    if request.htmx:
        summary = _money_summary(request.user)
        return render(request, "sonportal/account_home.html#summary", summary)
    sons = SON.objects.registered()
    mappings = SidechainAddress.objects.for_user(request.user).active()
    context = {
        "sons_total": sons.count(),
        "sons_active": sons.active().count(),
        "bitcoin": mappings.for_chain(Sidechain.BITCOIN).first(),
        "hive": mappings.for_chain(Sidechain.HIVE).first(),
        **_money_summary(request.user),
        "epoch": Epoch.objects.defer("chunk_tops").first(),
    }
    return render(request, "sonportal/account_home.html", context)


@login_required
def account_statement(request: HttpRequest):
    """Every ledger entry of the user with the running balance; filters; CSV export."""
    form = StatementForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    lines = statement_of(
        request.user,
        asset=filters.get("asset") or "",
        since=_day_start(filters.get("since")),
        until=_day_start(filters.get("until"), next_day=True),
    )
    if request.GET.get("format") == "csv":
        return _statement_csv(lines)
    rows = [_line(line) for line in reversed(lines)]
    context = {"form": form, "rows": rows[:STATEMENT_PAGE], "more": len(rows) > STATEMENT_PAGE}
    return render(request, "sonportal/statement.html", context, status=400 if form.errors else 200)


STATEMENT_PAGE = 500


def _day_start(day, next_day: bool = False):
    if day is None:
        return None
    start = datetime.combine(day + timedelta(days=1 if next_day else 0), time.min)
    return timezone.make_aware(start)


def _statement_csv(lines: list[StatementLine]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="statement.csv"'
    writer = csv.writer(response)
    writer.writerow(["time (UTC)", "asset", "what", "reference", "change", "balance"])
    for line in lines:
        writer.writerow([
            line.at.astimezone(UTC).isoformat(), line.asset, line.reason, line.reference,
            _number(line.change, line.asset), _number(line.balance, line.asset),
        ])  # fmt: skip
    return response


def _number(amount: int, asset: str) -> str:
    """The amount without its unit: 0.00150000."""
    return amount_format(amount, asset).split()[0]


@require_GET
@never_cache
def healthz(request: HttpRequest):
    try:
        detailed = health.may_see_details(request)
    except health.BadHealthToken as e:
        response = JsonResponse({"detail": str(e)}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="healthz"'
        return response
    report = health.report() if detailed else health.public_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@staff_member_required
@permission_required("sidechains.view_alert", raise_exception=True)
@never_cache
def admin_status(request: HtmxHttpRequest):
    """The admin's status panel: who may see alerts may see the system's health. It shows the
    checks beat last stored, and the on-call figures with the admin list of each."""
    report = health.report()
    for figure in report["oncall"]:
        figure["url"] = oncall.link(figure["key"]) if figure["key"] in oncall.LINKS else ""
    checked_at = report["checked_at"] and datetime.fromisoformat(report["checked_at"])
    template = "admin/status.html#panel" if request.htmx else "admin/status.html"
    return render(request, template, {"report": report, "checked_at": checked_at})


def not_found(request: HttpRequest, exception: Exception):
    """404: JSON under /api/ (machines read the answer), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
