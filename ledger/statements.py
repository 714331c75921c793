"""A user's statement: every ledger entry that moved their tokens, oldest first, with the
running balance of its asset after it (docs/ledger.md has the entries' reasons)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Q

from ledger.models import Entry, LedgerAccount


@dataclass(frozen=True)
class StatementLine:
    entry_id: int
    at: datetime
    asset: str
    reason: str
    reference: str
    change: int  # base units: positive in, negative out
    balance: int  # the asset's balance after this entry


def statement_of(
    user: User,
    *,
    asset: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StatementLine]:
    """The lines in [since, until) of `asset` (every asset if empty). Balances run over all the
    user's entries, so a filtered line still shows the true balance after it."""
    account = LedgerAccount.objects.filter(user=user).first()
    if account is None:
        return []
    entries = (
        Entry.objects.filter(Q(source=account) | Q(destination=account))
        .order_by("id")
        .values_list("id", "created_at", "asset", "reason", "reference", "amount", "source_id")
    )
    running: dict[str, int] = defaultdict(int)
    lines = []
    for pk, at, entry_asset, reason, reference, amount, source_id in entries.iterator():
        change = -amount if source_id == account.pk else amount
        running[entry_asset] += change
        wanted = (not asset or entry_asset == asset) and (since is None or at >= since)
        if wanted and (until is None or at < until):
            label = Entry.Reason(reason).label
            lines.append(
                StatementLine(pk, at, entry_asset, label, reference, change, running[entry_asset])
            )
    return lines
