from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chains.bitcoin import federation
from core.htmx import HtmxHttpRequest
from mappings import hive_ownership, qr, services
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
    return {
        "bitcoin": mappings.for_chain(Sidechain.BITCOIN).active().first(),
        "hive": mappings.for_chain(Sidechain.HIVE).active().first(),
        "history": mappings.exclude(expires=None),
        "bitcoin_form": forms.get("bitcoin_form") or BitcoinMappingForm(),
        "hive_form": forms.get("hive_form") or HiveMappingForm(),
        "hive_claims": hive_ownership.open_claims(user),
        "signature_form": forms.get("signature_form") or HiveSignatureForm(),
        "federation_account": settings.HIVE_FEDERATION_ACCOUNT,
    }


@login_required
def home(request: HttpRequest):
    return render(request, "mappings/home.html", _context(request.user))


def _apply(form, service, user) -> bool:
    try:
        service(user=user, **form.cleaned_data)
    except services.MappingError as e:
        form.add_error(e.field, e.message)
        return False
    return True


def _set(request: HtmxHttpRequest, form, service, partial: str, form_name: str):
    saved = form.is_valid() and _apply(form, service, request.user)
    if saved and not request.htmx:
        messages.success(request, "Saved.")
        return redirect("mappings-home")
    context = _context(request.user, **({} if saved else {form_name: form}))
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
    service = hive_ownership.hive_claim_verify_signature
    saved = form.is_valid() and _apply(form, lambda user, **kw: service(claim=claim, **kw), None)
    if saved and not request.htmx:
        messages.success(request, f"@{claim.hive_account} is yours: deposits from it are credited.")
        return redirect("mappings-home")
    context = _context(request.user, **({} if saved else {"signature_form": form}))
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
    context = {
        "mapping": mapping,
        "qr_svg": qr.svg(f"bitcoin:{mapping.deposit_address}"),
        "witness_script_hex": script.hex(),
        "witness_script_asm": federation.describe(script),
    }
    return render(request, "mappings/bitcoin_deposit.html", context)
