"""Witness pages: the inbox of pending proposals, a proposal with its evidence, approve and
revoke (htmx, and plain POST + redirect without JavaScript), and the history.

Witnesses (active or not) and people with proposals.view_proposal (administrators) read; only
active witnesses approve or revoke.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from chains.hive import transactions as hive_tx
from core.htmx import HtmxHttpRequest
from core.pagination import page_of
from proposals import services
from proposals.models import Approval, Progress, Proposal, Witness
from sidechains.models import ChainCursor, Deposit, DepositEvent, Refund, SidechainTransaction
from sons.models import SON, FederationVersion, Sidechain

HISTORY_LIMIT = 50
# Open proposals per inbox page (and per poll of it).
INBOX_PER_PAGE = 10
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
        # The view reads the witness from here: one query for both.
        request.witness = _witness_of(request.user)
        reader = request.user.has_perm("proposals.view_proposal")
        if not reader and request.witness is None:
            return _forbidden(request, "Only witnesses and administrators see proposals.")
        return view(request, *args, **kwargs)

    return wrapper


def _get_proposal_for_user(request: HttpRequest, pk: int) -> Proposal:
    """Every proposal is for every witness and administrator (the decorator checked that)."""
    proposal = _with_evidence(Proposal.objects.filter(pk=pk)).first()
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


def _with_evidence(proposals, *, full: bool = True):
    """Proposals with what their cards and evidence show, in a fixed number of queries. The
    inbox's compact cards (full=False) show neither a SON's statistics nor a deposit's refund
    transactions, so it reads neither (nor those transactions' bytes)."""
    approvals = Approval.objects.select_related("witness__user")
    proposals = (
        proposals.select_related("son", "deposit__user")
        .defer("deposit__raw_tx")
        .prefetch_related(Prefetch("approvals", queryset=approvals))
    )
    if not full:
        return proposals
    transactions = SidechainTransaction.objects.defer(
        "unsigned_tx", "signed_tx", "change_witness_script"
    )
    refunds = Refund.objects.prefetch_related(Prefetch("sidechain_tx", queryset=transactions))
    return proposals.prefetch_related(
        "son__statistics", Prefetch("deposit__refunds", queryset=refunds)
    )


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
    approvals = list(proposal.approvals.all())
    progress = Progress(sum(a.witness.weight for a in approvals if a.witness.active), total)
    mine = me is not None and any(a.witness_id == me.pk for a in approvals)
    can_vote = me is not None and me.active and proposal.is_open(now)
    return Card(proposal, progress, approvals, mine, can_vote, error)


@dataclass(frozen=True)
class Sources:
    """What evidence reads besides the proposals themselves: the listener's cursor and, per
    deposit, the note of its move to refund_pending (why it was not credited)."""

    cursor: ChainCursor | None
    set_aside: dict[int, str]

    @classmethod
    def of(cls, proposals: list[Proposal]) -> "Sources":
        deposits = [p.deposit_id for p in proposals if p.deposit_id is not None]
        if not deposits:
            return cls(None, {})
        events = (
            DepositEvent.objects.filter(
                deposit_id__in=deposits, new_status=Deposit.Status.REFUND_PENDING
            )
            .order_by("id")
            .values_list("deposit_id", "note")
        )
        cursor = ChainCursor.objects.filter(chain=Sidechain.BITCOIN).first()
        return cls(cursor, dict(events))  # the last wins


def _evidence(proposal: Proposal, now, sources: Sources) -> dict:
    """What witnesses judge a proposal by, live from the database."""
    if proposal.deposit is not None:
        return _refund_evidence(proposal, sources)
    if proposal.kind == Proposal.Kind.ROTATE_FEDERATION:
        return _rotation_evidence(proposal)
    son = proposal.son
    if son is None:
        return {}
    return {
        "son": son,
        "current_downtime": son.current_downtime(now),
        "downtime": son.downtime(now),
        "silent_for": int((now - son.silent_since()).total_seconds()),
        "changes": son.status_changes.all()[:STATUS_HISTORY_LIMIT],
    }


def _rotation_evidence(proposal: Proposal) -> dict:
    """The payload fixed when raised, and which SONs' signers accept the new version now."""
    rotation = proposal.payload
    fingerprint = rotation["to"]["fingerprint"]
    sons = SON.objects.federation().order_by("name")
    evidence = {
        "rotation": rotation,
        "hive": rotation["sidechain"] == Sidechain.HIVE,
        "old": _short(rotation["from"]["fingerprint"]),
        "new": _short(fingerprint),
    }
    if evidence["hive"]:
        evidence["stm_keys"] = [hive_tx.public_key_text(k) for k in rotation["to"]["keys"]]
    new = FederationVersion(sidechain=rotation["sidechain"], fingerprint=fingerprint)
    evidence["accepted_by"] = [s.name for s in sons if s.accepts(new)]
    evidence["not_yet"] = [s.name for s in sons if not s.accepts(new)]
    return evidence


def _short(fingerprint: str) -> str:
    return FederationVersion(fingerprint=fingerprint).short_fingerprint()


def _refund_evidence(proposal: Proposal, sources: Sources) -> dict:
    """The deposit, why it was not credited (the note of its move to refund_pending: how many
    SONs were active of how many, and the threshold), and the refund's destination and amounts."""
    deposit = proposal.deposit
    assert deposit is not None
    why = sources.set_aside.get(deposit.pk) or proposal.payload.get("why", "")
    return {
        "deposit": deposit,
        "confirmations": deposit.confirmations(sources.cursor) if sources.cursor else 0,
        "why": why,
        "refund": proposal.payload,
        "refunds": deposit.refunds.all(),
    }


def _cards(
    proposals: list[Proposal], me: Witness | None, now, total: int | None = None
) -> list[tuple[Card, dict]]:
    if total is None:
        total = Witness.objects.active().total_weight()
    sources = Sources.of(proposals)
    return [(_card(p, me, total, now), _evidence(p, now, sources)) for p in proposals]


@witnesses_and_administrators
def home(request: HtmxHttpRequest):
    now = timezone.now()
    me = request.witness
    witnesses = Witness.objects.select_related("user")
    total = witnesses.active().total_weight()
    pending = Proposal.objects.pending().order_by("expires_at", "id")
    page = page_of(request, _with_evidence(pending, full=False), INBOX_PER_PAGE)
    cards = _cards(list(page), me, now, total)
    history = (
        Proposal.objects.closed()
        .select_related("son", "deposit")
        .defer("deposit__raw_tx")
        # An executed refund's line says where its transaction stands now.
        .prefetch_related("events__witness__user", "deposit__refunds__sidechain_tx")[:HISTORY_LIMIT]
    )
    context = {
        "me": me,
        "witnesses": witnesses,
        "active_weight": total,
        "threshold": Progress(0, total).needed,
        "cards": cards,
        "page": page,
        "history": history,
        "now": now,
    }
    template = "proposals/home.html#inbox" if request.htmx else "proposals/home.html"
    return render(request, template, context)


@witnesses_and_administrators
def detail(request: HttpRequest, pk: int):
    now = timezone.now()
    proposal = _get_proposal_for_user(request, pk)
    ((card, evidence),) = _cards([proposal], request.witness, now)
    context = {
        "card": card,
        "evidence": evidence,
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
    me = request.witness
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
        proposal = _get_proposal_for_user(request, pk)  # as the action left it
        context = {
            "card": _card(proposal, me, total, now, error),
            "evidence": _evidence(proposal, now, Sources.of([proposal])),
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
