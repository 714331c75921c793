"""Crediting Hive deposits (docs/hive.md), by the Bitcoin rules (DESIGN.md, "Deposit (BTC)").

    received --at least m of the federation's n SONs active-->  credited (ledger entry)
    received --fewer than m active---------------------------->  refund_pending
    held     --an administrator names the user----------------->  credited
    held     --an administrator refunds it-------------------->  refund_pending

A Hive deposit is recorded only from an irreversible block, so it needs no confirmations. Each
credit is one transaction: the row lock, the ledger entry (natural key "hive-deposit:<id>"),
the rate in force stored on the row, the status change and its event commit together.
"""

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.transitions import attempt_succeeded, failed_attempt, transition
from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account
from rates.assets import Pair, amount_format
from rates.conversion import to_pegged
from rates.models import rate_in_force
from sidechains.models import HiveDeposit, HiveDepositEvent
from sons.models import SON

log = logging.getLogger(__name__)

PAIRS = {"HIVE": Pair.HIVE_PHIVE, "HBD": Pair.HBD_PHBD}


class HiveDepositError(Exception):
    """The deposit is not in a state that allows the step; the message says why."""


def hive_deposit_transition(pk: int, old: str, new: str, note: str, **fields: Any) -> bool:
    note = note[:200]
    return transition(
        HiveDeposit,
        pk,
        old,
        new,
        event=HiveDepositEvent,
        owner="deposit",
        event_note=note,
        note=note,
        **fields,
    )


def federation_quorum() -> tuple[int, int, int]:
    """(active SONs, federation size, SONs needed): m = n - floor(n/3). One query."""
    counts = SON.objects.aggregate(
        active=Count("pk", filter=Q(status=SON.Status.ACTIVE)),
        total=Count("pk", filter=Q(status__in=SON.FEDERATION_STATUSES)),
    )
    active, total = counts["active"], counts["total"]
    return active, total, (total - total // 3) if total else 1


@transaction.atomic
def hive_deposit_credit(
    *, deposit_id: int, user: User | None = None, quorum: tuple[int, int, int] | None = None
) -> HiveDeposit:
    """Credit a received deposit (or a held one, to `user`, by an administrator) in pHIVE or
    pHBD at the rate in force, or set it aside for a refund when too few SONs are active.
    A deposit already moved on is returned unchanged. quorum: federation_quorum() as a pass
    over many deposits read it at its start."""
    deposit = (
        HiveDeposit.objects.select_for_update(of=("self",))
        .select_related("user")
        .get(pk=deposit_id)
    )
    old = deposit.status
    if old == HiveDeposit.Status.HELD:
        if user is None or deposit.asset not in PAIRS:
            raise HiveDepositError("A held deposit of HIVE or HBD is credited to a named user.")
        deposit.user = user
    elif old != HiveDeposit.Status.RECEIVED:
        return deposit  # a retry, or a second worker that waited for our lock
    active, total, needed = quorum or federation_quorum()
    if active < needed:
        note = f"{active} of {total} SONs active, {needed} needed to credit: refund pending"
        hive_deposit_transition(deposit.pk, old, HiveDeposit.Status.REFUND_PENDING, note)
    else:
        _credit(deposit, old, note=f"{active} of {total} SONs active")
    deposit.refresh_from_db()
    return deposit


def _credit(deposit: HiveDeposit, old: str, *, note: str) -> None:
    if deposit.user is None:
        raise HiveDepositError(f"Hive deposit {deposit.pk} names no user to credit.")
    now = timezone.now()
    pair = PAIRS[deposit.asset]
    rate = rate_in_force(pair, now).rate
    credited = to_pegged(deposit.amount, rate, pair)
    if credited > 0:
        ledger_transfer(
            source=system_account(LedgerAccount.System.ISSUANCE),
            destination=ledger_account_for(deposit.user),
            asset=pair.pegged_asset,
            amount=credited,
            reason=Entry.Reason.DEPOSIT,
            reference=f"hive-deposit:{deposit.pk}",
        )
    text = f"{amount_format(credited, pair.pegged_asset)} at {rate} {pair.value}; {note}"
    moved = hive_deposit_transition(
        deposit.pk,
        old,
        HiveDeposit.Status.CREDITED,
        text,
        user=deposit.user,
        rate=rate,
        credited_amount=credited,
        credited_at=now,
    )
    if not moved:  # cannot happen under our row lock; never keep a credit without its status
        raise HiveDepositError(f"Hive deposit {deposit.pk} changed while it was credited.")


@transaction.atomic
def hive_deposit_refund(*, deposit_id: int) -> HiveDeposit:
    """An administrator's "refund to sender" of a held deposit: refund_pending. Only HIVE and
    HBD: a Hive transfer carries nothing else (hived refuses VESTS; tokens are not on the
    chain), so an asset the portal could not read stays held for a person, not ordered as a
    refund the signers would refuse (BAD_ASSET)."""
    deposit = HiveDeposit.objects.select_for_update().get(pk=deposit_id)
    if deposit.status != HiveDeposit.Status.HELD:
        raise HiveDepositError(f"Hive deposit {deposit.pk} is {deposit.status}, not held.")
    if deposit.asset not in PAIRS:
        raise HiveDepositError(
            f"Hive deposit {deposit.pk} is {deposit.asset[:16]}, neither HIVE nor HBD: the signers"
            " cannot pay it back. It stays held; see docs/hive.md."
        )
    note = f"refund to @{deposit.sender} ordered by an administrator"
    hive_deposit_transition(deposit.pk, deposit.status, HiveDeposit.Status.REFUND_PENDING, note)
    deposit.refresh_from_db()
    return deposit


def hive_deposits_process() -> int:
    """Credit (or set aside) every received deposit, one transaction each; returns how many
    moved. A failure is noted on its row and retried later, never blocking the others."""
    now = timezone.now()
    moved = 0
    due = HiveDeposit.objects.creditable().exclude(retry_at__gt=now).order_by("pk")
    quorum = federation_quorum()  # the pass credits as of its start (bench/hive: a query each)
    for deposit_id in due.values_list("pk", flat=True):
        try:
            hive_deposit_credit(deposit_id=deposit_id, quorum=quorum)
        except Exception as e:
            log.exception("Crediting Hive deposit %s failed", deposit_id)
            failed_attempt(
                HiveDeposit, deposit_id, e, now=now, field="note", prefix="credit failed: "
            )
            continue
        attempt_succeeded(HiveDeposit, deposit_id)
        moved += 1
    return moved


@transaction.atomic
def hive_refund_order(*, deposit_id: int, proposal_id: int) -> HiveDeposit:
    """A passed refund proposal: refund_pending -> refunding; the next Hive transaction pays
    the amount back to the sender (sidechains/hive/withdrawals/transactions.py)."""
    deposit = HiveDeposit.objects.select_for_update().get(pk=deposit_id)
    if deposit.asset not in PAIRS:
        raise HiveDepositError(f"Hive deposit {deposit.pk} is not HIVE or HBD: refund it by hand.")
    note = f"refund to @{deposit.sender} ordered by proposal #{proposal_id}"
    if not hive_deposit_transition(
        deposit.pk, HiveDeposit.Status.REFUND_PENDING, HiveDeposit.Status.REFUNDING, note
    ):
        raise HiveDepositError(
            f"Hive deposit {deposit.pk} is {deposit.status}, not refund_pending."
        )
    deposit.refresh_from_db()
    return deposit
