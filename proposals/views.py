from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.shortcuts import render

from proposals.models import Witness


@login_required
def home(request: HttpRequest):
    witnesses = Witness.objects.select_related("user")
    active_weight = witnesses.active().total_weight()
    context = {
        "me": Witness.objects.filter(user=request.user).first(),
        "witnesses": witnesses,
        "active_weight": active_weight,
        # Approval needs strictly more than half of the active weight.
        "threshold": active_weight // 2 + 1,
    }
    return render(request, "proposals/home.html", context)
