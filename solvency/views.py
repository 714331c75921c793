"""Pages: the published epochs (anyone), your proof for any epoch (yours only), and starting
an epoch now (solvency.create_epoch)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.services import AuditError, audit_reason
from ledger.services import ledger_account_for
from solvency.epochs import epoch_create, proof_for
from solvency.models import Epoch

PAGE = 50
MAX_REASON = 500


def _get_epoch(number: int) -> Epoch:
    """Epochs are published: anyone may see any of them."""
    epoch = Epoch.objects.filter(number=number).first()
    if epoch is None:
        raise Http404("No such epoch.")
    return epoch


@require_GET
def epochs(request: HttpRequest):
    context = {
        "epochs": Epoch.objects.defer("secret", "chunk_tops")[:PAGE],
        "may_create": request.user.has_perm("solvency.create_epoch"),
    }
    return render(request, "solvency/epochs.html", context)


@require_GET
def epoch_detail(request: HttpRequest, number: int):
    epoch = _get_epoch(number)
    return render(request, "solvency/epoch.html", {"epoch": epoch, "header": epoch.header()})


@require_GET
@login_required
def proof_download(request: HttpRequest, number: int):
    """The signed-in user's proof as a JSON file; 404 when they held nothing in that epoch."""
    epoch = _get_epoch(number)
    proof = proof_for(epoch=epoch, account=ledger_account_for(request.user))
    if proof is None:
        raise Http404("You held nothing in this epoch, so it has no proof for you.")
    response = HttpResponse(
        json.dumps(proof, indent=1) + "\n", content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="proof-epoch-{epoch.number}.json"'
    return response


@require_POST
@permission_required("solvency.create_epoch", raise_exception=True)
def epoch_create_now(request: HttpRequest):
    try:
        reason = audit_reason(request.POST.get("reason", "")[:MAX_REASON])
    except AuditError as e:
        messages.error(request, str(e))
        return redirect("solvency-epochs")
    epoch = epoch_create(by=request.user, reason=reason)
    messages.success(request, f"Epoch {epoch.number} published, root {epoch.root}.")
    return redirect("solvency-epochs")
