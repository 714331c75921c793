"""State changes of proposals: raise, approve, revoke, execute, expire; and the beat's tick.

A proposal executes exactly once: execution locks the row (SELECT ... FOR UPDATE), runs the
kind's handler and moves approved -> executed in the same transaction. A retry, a second
worker or a concurrent approval finds it executed and does nothing.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, audit_target
from chains.bitcoin.federation import script_keys
from proposals.models import Approval, Proposal, ProposalEvent, Witness
from sidechains.bitcoin import refunds
from sidechains.models import Coin, Deposit
from sons import services as son_services
from sons.federation import federation_current, federation_son_keys, federation_version_record
from sons.models import SON, FederationVersion, Sidechain, SONPublicKey

log = logging.getLogger(__name__)

# A proposal lives this many witness cycles (WITNESS_CYCLE seconds each).
LIFETIME_CYCLES = 3


class ProposalError(Exception):
    """What the proposal's state does not allow (a view shows it; the API answers 409)."""


class NotAllowed(ProposalError):
    """The person may not do this at all (a view answers 403)."""


# Handlers: one per kind, called inside the execution's transaction with the locked proposal.
# They return a one-line result for the record, and raise to refuse (nothing is kept then).
Handler = Callable[[Proposal, datetime], str]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


@handler(Proposal.Kind.DEREGISTER_SON)
def _deregister_son(proposal: Proposal, now: datetime) -> str:
    son = proposal.son
    if not son_services.son_deregister(
        son=son, reason=f"deregistered by proposal #{proposal.pk}", now=now
    ):
        return f"SON {son} was already deregistered"
    return f"SON {son} deregistered"


@handler(Proposal.Kind.ROTATE_FEDERATION)
def _rotate_federation(proposal: Proposal, now: datetime) -> str:
    """Witnesses approved the new key set: its version is accepted. Nothing moves yet: the move
    (test spend, activation, sweeps: sidechains/bitcoin/rotation.py) starts once m of its SONs'
    signers accept it (docs/rotation.md)."""
    fingerprint = proposal.payload["to"]["fingerprint"]
    n = FederationVersion.objects.filter(
        sidechain=proposal.payload["sidechain"],
        fingerprint=fingerprint,
        status=FederationVersion.Status.PROPOSED,
    ).update(status=FederationVersion.Status.ACCEPTED)
    if n != 1:
        raise ProposalError(f"federation version {fingerprint[:16]} is no longer proposed")
    return f"federation version {fingerprint[:16]} accepted by the witnesses"


@handler(Proposal.Kind.REFUND_DEPOSIT)
def _refund_deposit(proposal: Proposal, now: datetime) -> str:
    """The refund transaction, to the signers; refuses (RefundError) a deposit that is no
    longer refund_pending, e.g. orphaned by a reorg."""
    stx = refunds.refund_create(payload=proposal.payload, proposal_id=proposal.pk)
    return f"refund transaction #{stx.pk} ({stx.txid}) awaiting the SONs' signatures"


def _event(proposal: Proposal, kind: str, now, *, witness=None, detail: str = "") -> None:
    """The proposal's own history row, and its record in the (hash-chained) audit log."""
    ProposalEvent.objects.create(
        proposal=proposal, kind=kind, witness=witness, detail=detail[:300], created_at=now
    )
    audit_record(
        actor=witness.user if witness is not None else None,
        action=f"proposal.{kind}",
        target=audit_target(proposal),
        reason=detail,
        details={"kind": proposal.kind},
    )


def _lock(proposal: Proposal) -> Proposal:
    return Proposal.objects.select_for_update().get(pk=proposal.pk)


def proposal_raise(
    *,
    kind: str,
    payload: dict,
    son=None,
    deposit=None,
    hive_deposit=None,
    detail: str = "",
    now=None,
):
    """A new open proposal, or None when one for the same kind and SON (or deposit) is still
    pending."""
    now = now or timezone.now()
    expires_at = now + timedelta(seconds=LIFETIME_CYCLES * settings.WITNESS_CYCLE)
    with transaction.atomic():
        try:
            with transaction.atomic():
                proposal = Proposal.objects.create(
                    kind=kind,
                    payload=payload,
                    son=son,
                    deposit=deposit,
                    hive_deposit=hive_deposit,
                    created_at=now,
                    expires_at=expires_at,
                )
        except IntegrityError:
            return None
        _event(proposal, ProposalEvent.Kind.RAISED, now, detail=detail)
    return proposal


def _voter(witness: Witness | None) -> Witness:
    """The witness as the database has it now: active, or NotAllowed."""
    current = Witness.objects.filter(pk=witness.pk).first() if witness is not None else None
    if current is None or not current.active:
        raise NotAllowed("Only active witnesses can approve or revoke proposals.")
    return current


def _check_open(proposal: Proposal, now) -> None:
    if proposal.status != Proposal.Status.OPEN:
        raise ProposalError(f"This proposal is no longer open: it is {proposal.status}.")
    if now >= proposal.expires_at:
        raise ProposalError("This proposal has expired.")


def proposal_approve(*, proposal: Proposal, witness: Witness | None, now=None) -> Proposal:
    """The witness approves; past the threshold the proposal passes and executes at once."""
    now = now or timezone.now()
    witness = _voter(witness)
    with transaction.atomic():
        locked = _lock(proposal)
        _check_open(locked, now)
        try:
            with transaction.atomic():
                Approval.objects.create(proposal=locked, witness=witness, created_at=now)
        except IntegrityError:
            raise ProposalError("You have already approved this proposal.") from None
        _event(locked, ProposalEvent.Kind.APPROVED, now, witness=witness)
        passed = _pass_if_approved(locked, now)
    if passed:
        proposal_execute(proposal=locked, now=now)
    locked.refresh_from_db()
    return locked


def proposal_revoke(*, proposal: Proposal, witness: Witness | None, now=None) -> Proposal:
    """The witness takes back their approval; only while the proposal is open."""
    now = now or timezone.now()
    witness = _voter(witness)
    with transaction.atomic():
        locked = _lock(proposal)
        _check_open(locked, now)
        deleted, _ = Approval.objects.filter(proposal=locked, witness=witness).delete()
        if not deleted:
            raise ProposalError("You have not approved this proposal.")
        _event(locked, ProposalEvent.Kind.REVOKED, now, witness=witness)
    return locked


def _pass_if_approved(proposal: Proposal, now) -> bool:
    """open -> approved if the approvals are over the threshold. Call with the row locked."""
    progress = proposal.progress()
    if not progress.passes:
        return False
    n = Proposal.objects.filter(pk=proposal.pk, status=Proposal.Status.OPEN).update(
        status=Proposal.Status.APPROVED, approved_at=now
    )
    if n == 1:
        detail = f"approved weight {progress.approved} of {progress.total} active"
        _event(proposal, ProposalEvent.Kind.PASSED, now, detail=detail)
    return n == 1


def proposal_execute(*, proposal: Proposal, now=None) -> bool:
    """Run the kind's handler for an approved proposal, exactly once.

    True if this call executed it. A handler that raises leaves the proposal approved (its
    changes rolled back, the failure recorded) for the beat's retry.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(proposal)
        if locked.status != Proposal.Status.APPROVED:
            return False
        try:
            with transaction.atomic():
                result = _handler_for(locked)(locked, now)
        except Exception as e:
            log.exception("proposal #%s failed to execute", locked.pk)
            _record_failure(locked, f"{type(e).__name__}: {e}", now)
            return False
        n = Proposal.objects.filter(pk=locked.pk, status=Proposal.Status.APPROVED).update(
            status=Proposal.Status.EXECUTED, executed_at=now, result=result[:300]
        )
        if n != 1:  # cannot happen while the row is locked; never execute twice
            raise ProposalError(f"proposal #{locked.pk} changed while it was locked")
        _event(locked, ProposalEvent.Kind.EXECUTED, now, detail=result)
    return True


def _handler_for(proposal: Proposal) -> Handler:
    try:
        return HANDLERS[proposal.kind]
    except KeyError:
        raise ProposalError(f"no handler executes {proposal.kind} proposals yet") from None


def _record_failure(proposal: Proposal, reason: str, now) -> None:
    """One event per distinct failure: the beat retries every tick without flooding history."""
    last = proposal.events.order_by("-created_at", "-id").first()
    if last is None or (last.kind, last.detail) != (ProposalEvent.Kind.FAILED, reason[:300]):
        _event(proposal, ProposalEvent.Kind.FAILED, now, detail=reason)


# The beat's tick


def proposal_expire_due(*, now=None) -> int:
    """Open proposals past their expiry become expired. Approved ones have passed: they stay."""
    now = now or timezone.now()
    expired = 0
    for proposal in Proposal.objects.expired_by(now):
        with transaction.atomic():
            n = Proposal.objects.filter(
                pk=proposal.pk, status=Proposal.Status.OPEN, expires_at__lte=now
            ).update(status=Proposal.Status.EXPIRED)
            if n == 1:
                _event(proposal, ProposalEvent.Kind.EXPIRED, now)
                expired += 1
    return expired


def proposal_raise_deregistrations(*, now=None) -> list[Proposal]:
    """A deregistration proposal for every SON in maintenance whose last heartbeat is older
    than SON_DEREGISTER_TIME and that has no pending one (again after one expired)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SON_DEREGISTER_TIME)
    pending = Proposal.objects.deregistrations().pending().values("son")
    candidates = (
        SON.objects.filter(status=SON.Status.IN_MAINTENANCE)
        .filter(Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at=None, created_at__lt=cutoff))
        .exclude(pk__in=pending)
    )
    raised = []
    for son in candidates:
        proposal = proposal_raise(
            kind=Proposal.Kind.DEREGISTER_SON,
            payload=_deregistration_payload(son),
            son=son,
            detail=f"{son} silent since {son.silent_since():%Y-%m-%d %H:%M:%S} UTC",
            now=now,
        )
        if proposal is not None:
            raised.append(proposal)
    return raised


def _deregistration_payload(son: SON) -> dict:
    """The evidence as it stood when the proposal was raised (the page also shows it live)."""

    def iso(moment):
        return moment.isoformat() if moment else None

    return {
        "son": son.pk,
        "son_name": son.name,
        "last_heartbeat_at": iso(son.last_heartbeat_at),
        "last_down_at": iso(son.last_down_at),
        "total_downtime": son.total_downtime,
    }


def proposal_raise_refunds(*, feerate: int, now=None) -> list[Proposal]:
    """A refund proposal for every refund_pending deposit with neither a pending proposal nor
    a live refund transaction (again after one expired). The sidechains beat calls it with the
    node's fee rate (sidechains.tasks.bitcoin_process_deposits)."""
    now = now or timezone.now()
    pending = Proposal.objects.refunds().pending().values("deposit")
    candidates = refunds.refundable().exclude(pk__in=pending).select_related("mapping", "user")
    raised = []
    for deposit in candidates.order_by("pk"):
        payload = refunds.refund_plan(deposit=deposit, feerate=feerate)
        if payload["refund_amount"] < refunds.DUST_LIMIT:
            note = f"{payload['fee']} sat fee leaves less than dust: only the user can reclaim it"
            Deposit.objects.filter(pk=deposit.pk).update(note=note)
            continue
        proposal = proposal_raise(
            kind=Proposal.Kind.REFUND_DEPOSIT,
            payload=payload,
            deposit=deposit,
            detail=f"deposit {payload['outpoint']} not credited: {deposit.note}",
            now=now,
        )
        if proposal is not None:
            raised.append(proposal)
    return raised


def proposal_pass_due(*, now=None) -> int:
    """Open proposals already over the threshold (a witness's weight or activity changed) pass;
    approved ones that are not executed yet (a failed or interrupted execution) execute."""
    now = now or timezone.now()
    for proposal in Proposal.objects.open().filter(expires_at__gt=now):
        with transaction.atomic():
            _pass_if_approved(_lock(proposal), now)
    executed = 0
    for proposal in Proposal.objects.approved():
        executed += proposal_execute(proposal=proposal, now=now)
    return executed


def proposal_raise_rotations(*, now=None) -> list[Proposal]:
    """A rotation proposal for each sidechain whose key set changed (below)."""
    raised = [proposal_raise_rotation(sidechain=sidechain, now=now) for sidechain in Sidechain]
    return [proposal for proposal in raised if proposal is not None]


def proposal_raise_rotation(*, sidechain: str = Sidechain.BITCOIN, now=None) -> Proposal | None:
    """A rotation proposal when the SONs in the federation no longer hold the sidechain's active
    version's key set (their registered keys for it) and are at least FEDERATION_MIN_SIZE (below
    it the status panel asks for a replacement instead); None when there is nothing to propose
    or one for the sidechain is pending."""
    current = federation_current(sidechain)
    keys = federation_son_keys(sidechain)
    if current is None or keys == list(current.keys) or len(keys) < settings.FEDERATION_MIN_SIZE:
        return None
    if Proposal.objects.rotations().pending().filter(payload__sidechain=sidechain).exists():
        return None
    proposed = federation_version_record(sidechain=sidechain, keys=keys)
    if proposed is None or proposed.status != FederationVersion.Status.PROPOSED:
        return None  # a set no script holds, or one already decided on
    payload = _rotation_payload(current, proposed)
    detail = (
        f"{sidechain}: {len(current.keys)} -> {len(keys)} keys;"
        f" leaving: {', '.join(payload['leaving'])}"
    )
    return proposal_raise(
        kind=Proposal.Kind.ROTATE_FEDERATION, payload=payload, detail=detail, now=now
    )


def _rotation_payload(current: FederationVersion, proposed: FederationVersion) -> dict:
    """The evidence, fixed when raised: who leaves and joins, both versions, the coins to move
    (Bitcoin; on Hive nothing moves but the account's authority: no coins)."""
    holders = dict(
        SONPublicKey.objects.filter(sidechain=current.sidechain).values_list(
            "public_key", "son__name"
        )
    )
    coins = _coins_of(current) if current.sidechain == Sidechain.BITCOIN else []
    return {
        "sidechain": current.sidechain,
        "from": _version_summary(current),
        "to": _version_summary(proposed),
        "leaving": sorted(holders.get(k, k[:16]) for k in set(current.keys) - set(proposed.keys)),
        "joining": sorted(holders.get(k, k[:16]) for k in set(proposed.keys) - set(current.keys)),
        "coins": len(coins),
        "amount": sum(coins),
    }


def _coins_of(version: FederationVersion) -> list[int]:
    """The amounts of the held coins under the (Bitcoin) version's keys."""
    keys = [bytes.fromhex(k) for k in version.keys]
    return [
        c.amount
        for c in Coin.objects.held().only("amount", "witness_script")
        if list(script_keys(bytes(c.witness_script))[0]) == keys
    ]


def _version_summary(version: FederationVersion) -> dict:
    return {
        "fingerprint": version.fingerprint,
        "keys": list(version.keys),
        "threshold": version.threshold,
    }


def proposals_tick(*, now=None) -> dict[str, int]:
    """Everything beat does for governance, in order; safe to run concurrently and again."""
    now = now or timezone.now()
    return {
        "expired": proposal_expire_due(now=now),
        "raised": len(proposal_raise_deregistrations(now=now)),
        "rotations": len(proposal_raise_rotations(now=now)),
        "executed": proposal_pass_due(now=now),
        "hive_refunds": len(hive_proposals.proposal_raise_hive_refunds(now=now)),
    }


# Registers the Hive refund handler; imported last, as it uses the names above.
from proposals import hive as hive_proposals  # noqa: E402
