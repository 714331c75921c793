from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.htmx import HtmxHttpRequest
from ledger.services import balances_of
from mappings.models import SidechainAddress
from rates.assets import amount_format
from solvency.models import Epoch
from sonportal import health
from sonportal.roles import home_url
from sons.models import SON, Sidechain


@login_required
def home(request: HttpRequest):
    return redirect(home_url(request.user))


@login_required
def account_home(request: HttpRequest):
    sons = SON.objects.registered()
    mappings = SidechainAddress.objects.for_user(request.user).active()
    context = {
        "sons_total": sons.count(),
        "sons_active": sons.active().count(),
        "bitcoin": mappings.for_chain(Sidechain.BITCOIN).first(),
        "hive": mappings.for_chain(Sidechain.HIVE).first(),
        "balances": [
            amount_format(amount, asset) for asset, amount in balances_of(request.user).items()
        ],
        "epoch": Epoch.objects.defer("secret", "chunk_tops").first(),
    }
    return render(request, "sonportal/account_home.html", context)


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
    """The admin's status panel: who may see alerts may see the system's health."""
    report = health.report()
    template = "admin/status.html#panel" if request.htmx else "admin/status.html"
    return render(request, template, {"report": report})


def not_found(request: HttpRequest, exception: Exception):
    """404: JSON under /api/ (machines read the answer), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
