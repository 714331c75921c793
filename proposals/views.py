"""Witness pages: the inbox of pending proposals, a proposal with its evidence, approve and
revoke (htmx, and plain POST + redirect without JavaScript), and the history.

Witnesses (active or not) and people with proposals.view_proposal (administrators) read; only
active witnesses approve or revoke.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.htmx import HtmxHttpRequest
from proposals import services
from proposals.models import Progress, Proposal, Witness
from sidechains.models import ChainCursor, Deposit
from sons.models import SON, Sidechain

HISTORY_LIMIT = 50
STATUS_HISTORY_LIMIT = 20


def _witness_of(user) -> Witness | None:
    return Witness.objects.filter(user=user).select_related("user").first()


def _forbidden(request: HttpRequest, message: str):
    return render(request, "proposals/forbidden.html", {"message": message}, status=403)


def witnesses_and_administrators(view):
    """Anonymous visitors log in first; signed-in people who are neither a witness nor allowed
    proposals.view_proposal get a 403 page."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        reader = request.user.has_perm("proposals.view_proposal")
        if not reader and _witness_of(request.user) is None:
            return _forbidden(request, "Only witnesses and administrators see proposals.")
        return view(request, *args, **kwargs)

    return wrapper


def _get_proposal_for_user(request: HttpRequest, pk: int) -> Proposal:
    """Every proposal is for every witness and administrator (the decorator checked that)."""
    proposal = Proposal.objects.select_related("son").filter(pk=pk).first()
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


@dataclass(frozen=True)
class Card:
    """A proposal as one witness sees it."""

    proposal: Proposal
    progress: Progress
    approvals: list
    mine: bool  # this witness has approved
    can_vote: bool  # an active witness, and the proposal is open
    error: str = ""


def _card(proposal: Proposal, me: Witness | None, total: int, now, error: str = "") -> Card:
    approvals = list(proposal.approvals.select_related("witness__user"))
    progress = Progress(sum(a.witness.weight for a in approvals if a.witness.active), total)
    mine = me is not None and any(a.witness_id == me.pk for a in approvals)
    can_vote = me is not None and me.active and proposal.is_open(now)
    return Card(proposal, progress, approvals, mine, can_vote, error)


def _evidence(proposal: Proposal, now) -> dict:
    """What witnesses judge a proposal by, live from the database."""
    if proposal.deposit_id is not None:
        return _refund_evidence(proposal)
    son = proposal.son
    if son is None:
        return {}
    son = SON.objects.prefetch_related("statistics").get(pk=son.pk)
    return {
        "son": son,
        "current_downtime": son.current_downtime(now),
        "downtime": son.downtime(now),
        "silent_for": int((now - son.silent_since()).total_seconds()),
        "changes": son.status_changes.all()[:STATUS_HISTORY_LIMIT],
    }


def _refund_evidence(proposal: Proposal) -> dict:
    """The deposit, why it was not credited (the note of its move to refund_pending: how many
    SONs were active of how many, and the threshold), and the refund's destination and amounts."""
    deposit = Deposit.objects.select_related("user", "mapping").get(pk=proposal.deposit_id)
    set_aside = deposit.events.filter(new_status=Deposit.Status.REFUND_PENDING).last()
    cursor = ChainCursor.objects.filter(chain=Sidechain.BITCOIN).first()
    return {
        "deposit": deposit,
        "confirmations": deposit.confirmations(cursor) if cursor else 0,
        "why": set_aside.note if set_aside else proposal.payload.get("why", ""),
        "refund": proposal.payload,
        "refunds": deposit.refunds.select_related("sidechain_tx"),
    }


@witnesses_and_administrators
def home(request: HtmxHttpRequest):
    now = timezone.now()
    me = _witness_of(request.user)
    witnesses = Witness.objects.select_related("user")
    total = witnesses.active().total_weight()
    pending = Proposal.objects.pending().select_related("son").order_by("expires_at", "id")
    cards = [(_card(p, me, total, now), _evidence(p, now)) for p in pending]
    history = (
        Proposal.objects.closed()
        .select_related("son")
        .prefetch_related("events__witness__user")[:HISTORY_LIMIT]
    )
    context = {
        "me": me,
        "witnesses": witnesses,
        "active_weight": total,
        "threshold": Progress(0, total).needed,
        "cards": cards,
        "history": history,
        "now": now,
    }
    template = "proposals/home.html#inbox" if request.htmx else "proposals/home.html"
    return render(request, template, context)


@witnesses_and_administrators
def detail(request: HttpRequest, pk: int):
    now = timezone.now()
    proposal = _get_proposal_for_user(request, pk)
    total = Witness.objects.active().total_weight()
    context = {
        "card": _card(proposal, _witness_of(request.user), total, now),
        "evidence": _evidence(proposal, now),
        "events": proposal.events.select_related("witness__user"),
        "now": now,
    }
    return render(request, "proposals/detail.html", context)


@require_POST
@witnesses_and_administrators
def approve(request: HtmxHttpRequest, pk: int):
    return _vote(request, pk, services.proposal_approve, "approved")


@require_POST
@witnesses_and_administrators
def revoke(request: HtmxHttpRequest, pk: int):
    return _vote(request, pk, services.proposal_revoke, "revoked your approval of")


def _vote(request: HtmxHttpRequest, pk: int, action, done: str):
    proposal = _get_proposal_for_user(request, pk)
    me = _witness_of(request.user)
    error = ""
    try:
        proposal = action(proposal=proposal, witness=me)
    except services.NotAllowed as e:
        return _forbidden(request, str(e))
    except services.ProposalError as e:
        error = str(e)
    if request.htmx:
        now = timezone.now()
        total = Witness.objects.active().total_weight()
        context = {
            "card": _card(proposal, me, total, now, error),
            "evidence": _evidence(proposal, now),
            "now": now,
            "compact": request.POST.get("compact") == "1",
        }
        return render(request, "proposals/_proposal.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"You {done} proposal {proposal}.")
    return redirect(_next_url(request) or proposal.get_absolute_url())


def _next_url(request: HttpRequest) -> str | None:
    url = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if url and safe else None
