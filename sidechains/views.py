from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import render
from django.utils import timezone

from sidechains.models import SON


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


@login_required
def son_detail(request: HttpRequest, name: str):
    son = _get_son_for_user(request, name)
    now = timezone.now()
    context = {
        "son": son,
        "changes": son.status_changes.all()[:20],
        "now": now,
        "current_downtime": son.current_downtime(now),
    }
    return render(request, "sidechains/son.html", context)
