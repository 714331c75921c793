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
        # Kinds and times only: an alert's message is for the operators.
        "incidents": Alert.objects.filter(resolved_at=None).order_by("-created_at")[:20],
        "reserves": reserves_report(limit=0),
    }
    return render(request, "sonportal/status.html", context)
