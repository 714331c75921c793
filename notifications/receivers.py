"""Where notifications come from: the append-only event rows the pipelines already write
(deposit and withdrawal events, proposal events, SON status changes, alerts). A receiver runs
in the transaction that wrote the row and records the notification there; the mail leaves
after commit (services.notify). Nothing in the pipelines calls this module.

Rows written with bulk_create send no signal (the listener's "detected" deposit events), and
"about to expire" is a matter of time, not of a row: the beat task `sweep` covers both.
"""

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from notifications.services import (
    administrators,
    notification_enqueue,
    notifications_unsent,
    notify,
)
from proposals.models import Proposal, ProposalEvent, Witness
from rates.assets import amount_format
from sidechains.models import Alert, Deposit, DepositEvent, Withdrawal, WithdrawalEvent
from sons.models import SON, SONStatusChange

Kind = Notification.Kind
log = logging.getLogger(__name__)


def never_raise(receiver_function):
    """A notification must never break the money pipeline whose row it listens to: the
    receiver runs in a savepoint and any error is logged, not raised."""

    @functools.wraps(receiver_function)
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                receiver_function(*args, **kwargs)
        except Exception:
            log.exception("notification for %s failed", kwargs.get("instance"))

    return wrapper


DEPOSIT_KINDS = {
    Deposit.Status.DETECTED: (Kind.DEPOSIT_SEEN, "Deposit seen: {amount}"),
    Deposit.Status.CREDITED: (Kind.DEPOSIT_CREDITED, "Deposit credited: {amount}"),
}
WITHDRAWAL_KINDS = {
    Withdrawal.Status.BROADCAST: (Kind.WITHDRAWAL_BROADCAST, "Withdrawal broadcast: {amount}"),
    Withdrawal.Status.SETTLED: (Kind.WITHDRAWAL_SETTLED, "Withdrawal settled: {amount}"),
    Withdrawal.Status.FAILED: (
        Kind.WITHDRAWAL_FAILED,
        "Withdrawal failed, escrow returned: {amount}",
    ),
}


def deposit_notify(event: DepositEvent) -> None:
    kind_subject = DEPOSIT_KINDS.get(event.new_status)  # type: ignore[call-overload]
    if kind_subject is None:
        return
    kind, subject = kind_subject
    deposit = event.deposit
    amount = amount_format(deposit.amount, _asset_of(deposit))
    facts = [("Amount", amount), ("Transaction", f"{deposit.txid}:{deposit.vout}"),
             ("Status", deposit.get_status_display())]  # fmt: skip
    if deposit.credited_amount is not None and event.new_status == Deposit.Status.CREDITED:
        facts.append(("Credited", f"{deposit.credited_amount} base units of the pegged token"))
    notify(
        users=[deposit.user], kind=kind, key=f"deposit:{deposit.pk}",
        subject=subject.format(amount=amount),
        context={"facts": facts, "path": reverse("sidechains-deposits")},
    )  # fmt: skip


def _asset_of(deposit: Deposit) -> str:
    return "BTC" if deposit.chain == "bitcoin" else "HIVE"


@receiver(post_save, sender=DepositEvent)
@never_raise
def _on_deposit_event(sender, instance: DepositEvent, created: bool, **kwargs) -> None:
    if created:
        deposit_notify(instance)


@receiver(post_save, sender=WithdrawalEvent)
@never_raise
def _on_withdrawal_event(sender, instance: WithdrawalEvent, created: bool, **kwargs) -> None:
    kind_subject = WITHDRAWAL_KINDS.get(instance.new_status)  # type: ignore[call-overload]
    if not created or kind_subject is None:
        return
    kind, subject = kind_subject
    w = instance.withdrawal
    amount = amount_format(w.amount_pegged, "pBTC")
    facts = [("Amount", amount), ("To", w.address), ("Status", w.get_status_display())]
    if w.sidechain_tx_id is not None and w.sidechain_tx is not None:
        facts.append(("Transaction", w.sidechain_tx.txid))
    if instance.note:
        facts.append(("Note", instance.note))
    notify(
        users=[w.user], kind=kind, key=f"withdrawal:{w.pk}",
        subject=subject.format(amount=amount),
        context={"facts": facts, "path": reverse("sidechains-withdrawals")},
    )  # fmt: skip


@receiver(post_save, sender=ProposalEvent)
@never_raise
def _on_proposal_event(sender, instance: ProposalEvent, created: bool, **kwargs) -> None:
    if not created or instance.kind != ProposalEvent.Kind.RAISED:
        return
    proposal = instance.proposal
    context = _proposal_context(proposal)
    witnesses = [w.user for w in Witness.objects.active().select_related("user")]
    notify(
        users=witnesses, kind=Kind.PROPOSAL_OPENED, key=f"proposal:{proposal.pk}",
        subject=f"Proposal opened: {proposal}", context=context,
    )  # fmt: skip
    if proposal.kind == Proposal.Kind.DEREGISTER_SON and proposal.son is not None:
        notify(
            users=[proposal.son.owner], kind=Kind.SON_DEREGISTRATION,
            key=f"proposal:{proposal.pk}",
            subject=f"Deregistration of your SON {proposal.son.name} proposed", context=context,
        )  # fmt: skip


def _proposal_context(proposal: Proposal) -> dict:
    facts = [("Proposal", str(proposal)), ("Expires", proposal.expires_at.isoformat())]
    return {"facts": facts, "path": reverse("proposals-detail", args=[proposal.pk])}


@receiver(post_save, sender=SONStatusChange)
@never_raise
def _on_son_status(sender, instance: SONStatusChange, created: bool, **kwargs) -> None:
    if not created or instance.new_status != SON.Status.IN_MAINTENANCE:
        return
    if instance.old_status == SON.Status.REQUEST_MAINTENANCE:
        return  # maintenance the operator asked for is not an outage
    son = instance.son
    notify(
        users=[son.owner], kind=Kind.SON_DOWN, key=f"son-status:{instance.pk}",
        subject=f"Your SON {son.name} is marked down",
        context={"facts": [("SON", son.name), ("Why", instance.reason)],
                 "path": reverse("sons-detail", args=[son.name])},
    )  # fmt: skip


@receiver(post_save, sender=Alert)
@never_raise
def _on_alert(sender, instance: Alert, created: bool, **kwargs) -> None:
    if not created:
        return
    notify(
        users=administrators(), kind=Kind.ALERT, key=f"alert:{instance.pk}",
        subject=f"Alert: {instance.get_kind_display()}",
        context={"facts": [("Alert", instance.get_kind_display()), ("Message", instance.message)],
                 "path": reverse("admin:sidechains_alert_changelist")},
    )  # fmt: skip


def sweep(now=None) -> int:
    """Deposits seen in the last hour (their events are bulk-created) and open proposals within
    a witness cycle of their expiry. Notifying twice is impossible, so the sweep may overlap."""
    now = now or timezone.now()
    count = 0
    seen = DepositEvent.objects.filter(
        new_status=Deposit.Status.DETECTED, created_at__gte=now - timedelta(hours=1)
    ).select_related("deposit", "deposit__user")
    for event in seen:
        deposit_notify(event)
        count += 1
    soon = now + timedelta(seconds=settings.WITNESS_CYCLE)
    for proposal in Proposal.objects.open().filter(expires_at__gt=now, expires_at__lte=soon):
        voters = proposal.approvals.values_list("witness_id", flat=True)
        witnesses = Witness.objects.active().exclude(pk__in=voters).select_related("user")
        notify(
            users=[w.user for w in witnesses], kind=Kind.PROPOSAL_EXPIRING,
            key=f"proposal:{proposal.pk}",
            subject=f"Proposal about to expire: {proposal}", context=_proposal_context(proposal),
        )  # fmt: skip
        count += 1
    for pk in notifications_unsent(now):
        notification_enqueue(pk)
        count += 1
    return count
