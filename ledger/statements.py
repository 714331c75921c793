"""A user's statement: every ledger entry that moved their tokens, oldest first, with the
running balance of its asset after it (docs/ledger.md has the entries' reasons)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import connection
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


# The latest lines of an account, newest first, and its balance of each asset in one statement
# (one snapshot, so the balances match the entries read): the balance after the newest line is
# the account's balance now, and each older one is the next one's less its change.
LATEST_SQL = """
    SELECT m.id, m.created_at, m.asset, m.reason, m.reference, m.change, b.amount
    FROM (
        (SELECT id, created_at, asset, reason, reference, -amount AS change
         FROM ledger_entry WHERE source_id = %(account)s ORDER BY id DESC LIMIT %(count)s)
        UNION ALL
        (SELECT id, created_at, asset, reason, reference, amount AS change
         FROM ledger_entry WHERE destination_id = %(account)s ORDER BY id DESC LIMIT %(count)s)
        ORDER BY id DESC LIMIT %(count)s
    ) m
    LEFT JOIN ledger_balance b ON b.account_id = %(account)s AND b.asset = m.asset
    ORDER BY m.id DESC
"""


def statement_latest(user: User, count: int) -> list[StatementLine]:
    """The user's `count` latest lines, newest first, with the same balances statement_of
    gives them, read without going through the older entries."""
    account = LedgerAccount.objects.filter(user=user).values_list("pk", flat=True).first()
    if account is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(LATEST_SQL, {"account": account, "count": count})
        rows = cursor.fetchall()
    after: dict[str, int] = {}
    lines = []
    for pk, at, asset, reason, reference, change, balance in rows:
        running = after.get(asset, balance or 0)
        label = Entry.Reason(reason).label
        lines.append(StatementLine(pk, at, asset, label, reference, change, running))
        after[asset] = running - change
    return lines
