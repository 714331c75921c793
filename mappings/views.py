from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from chains.bitcoin import federation
from core.htmx import HtmxHttpRequest
from mappings import changes, hive_ownership, qr, services
from mappings.forms import BitcoinMappingForm, HiveMappingForm, HiveSignatureForm
from mappings.models import HiveOwnershipClaim, SidechainAddress
from sons.models import Sidechain


def _get_mapping_for_user(request: HttpRequest, pk: int) -> SidechainAddress:
    mapping = SidechainAddress.objects.for_user(request.user).filter(pk=pk).first()
    if mapping is None:
        raise Http404("You have no mapping with this id.")
    return mapping


def _context(user, **forms) -> dict:
    mappings = SidechainAddress.objects.for_user(user)
    now = timezone.now()
    return {
        "bitcoin": mappings.for_chain(Sidechain.BITCOIN).active().first(),
        "hive": mappings.for_chain(Sidechain.HIVE).active().first(),
        "bitcoin_target": mappings.for_chain(Sidechain.BITCOIN).withdrawal_target(now),
        "hive_target": mappings.for_chain(Sidechain.HIVE).withdrawal_target(now),
        "history": mappings.exclude(expires=None).select_related("federation_version"),
        "bitcoin_form": forms.get("bitcoin_form") or BitcoinMappingForm(),
        "hive_form": forms.get("hive_form") or HiveMappingForm(),
        "hive_claims": hive_ownership.open_claims(user),
        "signature_form": forms.get("signature_form") or HiveSignatureForm(),
        "federation_account": settings.HIVE_FEDERATION_ACCOUNT,
    }


@login_required
def home(request: HttpRequest):
    return render(request, "mappings/home.html", _context(request.user))


def _apply(request: HttpRequest, form, service, sidechain: str) -> str | None:
    """What happened ("saved", or "mailed" for a change awaiting its mailed confirmation), or
    None with the form's errors set."""
    fields = {k: v for k, v in form.cleaned_data.items() if k != "code"}
    try:
        if changes.change_needs_confirmation(user=request.user, sidechain=sidechain, fields=fields):
            if sidechain == Sidechain.BITCOIN:
                return _request_change(request, form, sidechain, fields)
            # Hive: the second factor now; proving the new account then mails the link.
            code = form.cleaned_data["code"]
            hive_ownership.hive_claim_start(user=request.user, for_change=True, code=code, **fields)
            return "claimed"
        service(user=request.user, **fields)
    except services.MappingError as e:
        form.add_error(e.field, e.message)
        return None
    return "saved"


def _request_change(request: HttpRequest, form, sidechain: str, fields: dict) -> str | None:
    token = changes.new_token()
    url = request.build_absolute_uri(reverse("mappings-confirm-change", args=[token]))
    changes.mapping_change_request(
        user=request.user,
        sidechain=sidechain,
        fields=fields,
        code=form.cleaned_data["code"],
        token=token,
        confirm_url=url,
    )  # MappingError (no second factor, a wrong code) goes to the form (_apply)
    return "mailed"


MAILED = "We sent you a mail: follow its link within the hour to confirm the change."
CLAIMED = "Now prove that the new Hive account is yours; we then mail you a link to confirm."
PROVED_CHANGE = "Proved. " + MAILED


def _set(request: HtmxHttpRequest, form, service, partial: str, form_name: str):
    sidechain = Sidechain.BITCOIN if form_name == "bitcoin_form" else Sidechain.HIVE
    outcome = _apply(request, form, service, sidechain) if form.is_valid() else None
    saved = outcome is not None
    if saved and not request.htmx:
        text = {"mailed": MAILED, "claimed": CLAIMED}.get(outcome or "", "Saved.")
        messages.success(request, text)
        return redirect("mappings-home")
    context = _context(request.user, **({} if saved else {form_name: form}))
    context["mailed"] = outcome == "mailed"
    if request.htmx:
        # htmx swaps only 2xx answers; the fragment carries the form's errors.
        return render(request, f"mappings/home.html#{partial}", context)
    return render(request, "mappings/home.html", context, status=400)


@login_required
@require_POST
def set_bitcoin(request: HtmxHttpRequest):
    form = BitcoinMappingForm(request.POST)
    return _set(request, form, services.mapping_set_bitcoin, "bitcoin-card", "bitcoin_form")


@login_required
@require_POST
def set_hive(request: HtmxHttpRequest):
    form = HiveMappingForm(request.POST)
    return _set(request, form, hive_ownership.hive_claim_start, "hive-card", "hive_form")


def _get_claim_for_user(request: HttpRequest, pk: int) -> HiveOwnershipClaim:
    claim = HiveOwnershipClaim.objects.filter(user=request.user, pk=pk).first()
    if claim is None:
        raise Http404("You have no Hive account claim with this id.")
    return claim


@login_required
@require_POST
def verify_hive(request: HtmxHttpRequest, pk: int):
    claim = _get_claim_for_user(request, pk)
    form = HiveSignatureForm(request.POST)
    saved = mailed = False
    if form.is_valid():
        try:
            mapped = hive_ownership.hive_claim_verify_signature(claim=claim, **form.cleaned_data)
            saved, mailed = True, mapped is None
        except services.MappingError as e:
            form.add_error(e.field, e.message)
    if saved and not request.htmx:
        done = f"@{claim.hive_account} is yours: deposits from it are credited."
        messages.success(request, PROVED_CHANGE if mailed else done)
        return redirect("mappings-home")
    context = _context(request.user, **({} if saved else {"signature_form": form}))
    context["mailed"] = mailed
    if request.htmx:
        return render(request, "mappings/home.html#hive-card", context)
    return render(request, "mappings/home.html", context, status=400)


@login_required
@require_POST
def expire(request: HtmxHttpRequest, pk: int):
    services.mapping_expire(mapping=_get_mapping_for_user(request, pk))
    messages.success(request, "Mapping removed. Its deposit address is still watched.")
    return redirect("mappings-home")


@login_required
def bitcoin_deposit(request: HttpRequest):
    mapping = (
        SidechainAddress.objects.for_user(request.user)
        .for_chain(Sidechain.BITCOIN)
        .active()
        .first()
    )
    if mapping is None:
        messages.info(request, "Register a Bitcoin deposit key first.")
        return redirect("mappings-home")
    script = bytes(mapping.deposit_witness_script)
    older = (
        SidechainAddress.objects.for_user(request.user)
        .for_chain(Sidechain.BITCOIN)
        .exclude(expires=None)
        .exclude(deposit_address=mapping.deposit_address)
        .select_related("federation_version")
    )
    context = {
        "mapping": mapping,
        "older": older,
        "qr_svg": qr.svg(f"bitcoin:{mapping.deposit_address}"),
        "witness_script_hex": script.hex(),
        "witness_script_asm": federation.describe(script),
    }
    return render(request, "mappings/bitcoin_deposit.html", context)


@login_required
def confirm_change(request: HttpRequest, token: str):
    """The mailed link: a page with a button (mail scanners follow links; only a person's POST
    applies the change)."""
    change = changes.change_for_token(user=request.user, token=token)
    if change is None:
        raise Http404("This confirmation link is not yours or does not exist.")
    if request.method == "POST":
        try:
            changes.mapping_change_confirm(user=request.user, token=token)
        except services.MappingError as e:
            messages.error(request, e.message)
        else:
            messages.success(
                request, "Changed. Withdrawals pay the previous address until the cool-down ends."
            )
        return redirect("mappings-home")
    return render(
        request, "mappings/confirm_change.html", {"change": change, "now": timezone.now()}
    )
