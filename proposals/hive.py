"""Refund proposals for Hive deposits that arrived while too few SONs were active (docs/hive.md).

Raised by the proposals tick for each refund_pending Hive deposit without a pending proposal;
executed when the witnesses pass it: the deposit becomes `refunding` and the next Hive
transaction, signed by the SONs, pays it back to its sender.
"""

from datetime import datetime

from django.utils import timezone

from proposals.models import Proposal
from proposals.services import handler, proposal_raise
from sidechains.hive.deposits import hive_refund_order
from sidechains.models import HiveDeposit


@handler(Proposal.Kind.REFUND_HIVE_DEPOSIT)
def _refund_hive_deposit(proposal: Proposal, now: datetime) -> str:
    deposit = hive_refund_order(
        deposit_id=proposal.payload["hive_deposit"], proposal_id=proposal.pk
    )
    return f"refund of {deposit.amount} {deposit.asset} (0.001 units) to @{deposit.sender} ordered"


def proposal_raise_hive_refunds(*, now: datetime | None = None) -> list[Proposal]:
    now = now or timezone.now()
    pending = Proposal.objects.filter(
        kind=Proposal.Kind.REFUND_HIVE_DEPOSIT, status__in=Proposal.PENDING_STATUSES
    ).values("hive_deposit")
    due = HiveDeposit.objects.filter(status=HiveDeposit.Status.REFUND_PENDING).exclude(
        pk__in=pending
    )
    raised = []
    for deposit in due.order_by("pk"):
        payload = {
            "hive_deposit": deposit.pk,
            "trx_id": deposit.trx_id,
            "op_index": deposit.op_index,
            "sender": deposit.sender,
            "amount": deposit.amount,
            "asset": deposit.asset,
        }
        proposal = proposal_raise(
            kind=Proposal.Kind.REFUND_HIVE_DEPOSIT,
            payload=payload,
            hive_deposit=deposit,
            detail=f"Hive deposit {deposit.trx_id}/{deposit.op_index} not credited: {deposit.note}",
            now=now,
        )
        if proposal is not None:
            raised.append(proposal)
    return raised
