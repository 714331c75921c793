"""The public status page: what anyone may know about the bridge, in HTML (the same component
states as anonymous /healthz, the federation's margin, open incidents by kind and time)."""

from django.http import HttpRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from chains.bitcoin.federation import threshold
from sidechains.models import Alert
from sidechains.reserves_public import reserves_report
from sonportal import health
from sons.models import SON

# What an open alert means for users, in public words: the alert's own message names deposits,
# amounts and heights for the operators.
PUBLIC_WORDS = {
    Alert.Kind.CREDITED_DEPOSIT_REORGED: "A block reorganisation removed a deposit that had "
    "already been credited. The operators are reconciling it.",
    Alert.Kind.DEEP_REORG: "The Bitcoin chain reorganised deeper than the portal follows by "
    "itself. Deposits may show late while the operators check them.",
    Alert.Kind.CREDITED_COIN_LOST: "A credited deposit was spent outside the portal. The "
    "operators are reconciling it.",
    Alert.Kind.DEPOSIT_CLAWED_BACK: "A credited deposit was taken back after the chain changed. "
    "The operators are reconciling it.",
    Alert.Kind.SWEEP_DEADLINE: "A deposit may not reach the federation's wallet before its "
    "depositor can reclaim it. The operators are speeding it up.",
    Alert.Kind.RESERVES_SHORTFALL: "Withdrawals are paused: the coins on chain fell below the "
    "tokens issued. Deposits are still recorded; the operators are on it.",
}
UNKNOWN = "An incident the operators are handling."


@require_GET
def status_page(request: HttpRequest):
    federation = SON.objects.filter(status__in=SON.FEDERATION_STATUSES)
    n = federation.count()
    active = federation.filter(status=SON.Status.ACTIVE).count()
    needed = threshold(n) if n else 0
    context = {
        "report": health.public_report(),
        "n": n,
        "active": active,
        "needed": needed,
        "can_sign": n > 0 and active >= needed,
        "sons": SON.objects.exclude(status=SON.Status.DEREGISTERED).order_by("name"),
        # Kinds in public words and times only: an alert's message is for the operators.
        "incidents": [
            (alert, PUBLIC_WORDS.get(alert.kind, UNKNOWN))
            for alert in Alert.objects.filter(resolved_at=None).order_by("-created_at")[:20]
        ],
        "reserves": reserves_report(limit=0),
    }
    return render(request, "sonportal/status.html", context)
