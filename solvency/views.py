"""Pages: the published epochs (anyone), your proof for any epoch (yours only), starting an
epoch now (solvency.create_epoch), and your signed transfers to other users (yours only)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import AuditError, audit_reason
from ledger.services import ledger_account_for
from solvency.epochs import EpochError, epoch_create, proof_for
from solvency.forms import SignatureForm, TransferForm
from solvency.models import Epoch, Transfer
from solvency.transfers import TransferError, sender_key, transfer_execute, transfer_prepare

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
        "epochs": Epoch.objects.defer("chunk_tops")[:PAGE],
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
    try:
        proof = proof_for(epoch=epoch, account=ledger_account_for(request.user))
    except EpochError as e:
        raise Http404(str(e)) from e
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


def _get_transfer_for_user(request: HttpRequest, pk: int) -> Transfer:
    """A transfer is reachable by its sender only; anyone else's looks like none."""
    transfer = Transfer.objects.select_related("receiver").filter(pk=pk, sender=request.user)
    found = transfer.first()
    if found is None:
        raise Http404("No such transfer of yours.")
    return found


def _render_transfer(request: HttpRequest, form: TransferForm, status: int = 200):
    recent = Transfer.objects.involving(request.user).filter(status=Transfer.Status.DONE)
    context = {
        "form": form,
        "recent": recent.select_related("sender", "receiver")[:20],
        "has_key": sender_key(request.user) is not None,
    }
    return render(request, "solvency/transfer.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def transfer(request: HttpRequest):
    """The terms of a transfer; a valid POST keeps the message and shows it to sign."""
    if request.method == "GET":
        return _render_transfer(request, TransferForm())
    form = TransferForm(request.POST)
    if not form.is_valid():
        return _render_transfer(request, form, status=400)
    try:
        prepared = transfer_prepare(sender=request.user, **form.cleaned_data)
    except TransferError as e:
        field = e.code if e.code in form.fields else None
        form.add_error(field, str(e))
        return _render_transfer(request, form, status=400)
    return redirect(prepared)


@login_required
@require_http_methods(["GET", "POST"])
def transfer_sign(request: HttpRequest, pk: int):
    prepared = _get_transfer_for_user(request, pk)
    form = SignatureForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                done = transfer_execute(
                    transfer_id=prepared.pk, sender=request.user, **form.cleaned_data
                )
            except TransferError as e:
                form.add_error("signature", str(e))
            else:
                messages.success(
                    request, f"Sent {done.amount_display()} to {done.receiver.get_username()}."
                )
                return redirect("solvency-transfer")
    context = {
        "transfer": prepared,
        "form": form,
        "expired": prepared.expired(timezone.now()),
        "key_file_command": "python -m proofs sign message.txt --key-file my-key.wif",
    }
    return render(request, "solvency/transfer_sign.html", context, status=status)
