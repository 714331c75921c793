"""Moving pegged tokens on the double-entry ledger (DESIGN.md, "Money").

Every movement is one Entry and two Balance changes in one transaction. The two Balance rows are
locked in the order of their ids, so two transfers touching the same accounts never deadlock,
and a balance is read and written only under its lock. An entry's natural key (reason,
reference, asset) makes a retried movement collide: the retry gets the first entry back.
"""

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Sum

from ledger.models import Balance, Entry, LedgerAccount
from rates.assets import Asset, amount_format

# The tokens the ledger issues; the sidechain assets themselves live on their chains.
LEDGER_ASSETS = (Asset.PBTC, Asset.PHIVE, Asset.PHBD)


class LedgerError(Exception):
    """A movement the ledger refuses; nothing was written."""


class InsufficientFunds(LedgerError):
    pass


class EntryConflict(LedgerError):
    """The movement's (reason, reference, asset) is already recorded with different details."""


def ledger_account_for(user: User) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(user=user)
    return account


def system_account(name: str) -> LedgerAccount:
    """The system account `name` (LedgerAccount.System), created on first use.

    get_or_create inserts in a savepoint and reads the row again when a concurrent insert won
    the unique constraint, so racing callers all get the one account.
    """
    if name not in LedgerAccount.System.values:
        raise LedgerError(f"Unknown system account {name!r}.")
    account, _ = LedgerAccount.objects.get_or_create(system=name)
    return account


@transaction.atomic
def ledger_transfer(
    *,
    source: LedgerAccount,
    destination: LedgerAccount,
    asset: str,
    amount: int,
    reason: str,
    reference: str,
    allow_negative: bool = False,
) -> Entry:
    """Move `amount` base units of `asset` from source to destination; returns the Entry.

    Raises InsufficientFunds if a balance other than issuance's would go below zero, and
    EntryConflict if (reason, reference, asset) was recorded for a different movement. A repeat
    of a recorded movement changes nothing and returns its entry. `allow_negative` (clawbacks
    only) lets the source's balance go below zero: a receivable, marked on its Balance row.
    """
    _check_request(source, destination, asset, amount, reason)
    if allow_negative and reason != Entry.Reason.CLAWBACK:
        raise LedgerError("Only a clawback may take a balance below zero.")
    balances = _lock_balances([source, destination], asset)
    # Read after the locks: a concurrent retry that committed first is visible now.
    earlier = Entry.objects.filter(reason=reason, reference=reference, asset=asset).first()
    if earlier is not None:
        return _replay(earlier, source, destination, amount)
    debited = balances[source.pk]
    if debited.amount < amount and allow_negative and not debited.may_go_negative:
        Balance.objects.filter(pk=debited.pk).update(may_go_negative=True)
    elif debited.amount < amount and not source.may_go_negative:
        raise InsufficientFunds(
            f"{source} holds {amount_format(debited.amount, asset)}, "
            f"not {amount_format(amount, asset)}."
        )
    entry = _insert_entry(source, destination, asset, amount, reason, reference)
    Balance.objects.filter(pk=debited.pk).update(amount=F("amount") - amount)
    Balance.objects.filter(pk=balances[destination.pk].pk).update(amount=F("amount") + amount)
    return entry


def ledger_lock(*, accounts: list[LedgerAccount], asset: str) -> dict[int, int]:
    """Lock the accounts' balances of `asset` (in the order ledger_transfer locks them) until
    the caller's transaction ends; their amounts by account id. A caller that checks a balance
    before it writes anything, then transfers, sees no other transfer in between."""
    if not transaction.get_connection().in_atomic_block:
        raise LedgerError("ledger_lock() holds its locks for the caller's transaction: open one.")
    return {pk: balance.amount for pk, balance in _lock_balances(accounts, asset).items()}


def _check_request(
    source: LedgerAccount, destination: LedgerAccount, asset: str, amount: int, reason: str
) -> None:
    if asset not in LEDGER_ASSETS:
        raise LedgerError(f"The ledger holds {', '.join(LEDGER_ASSETS)}, not {asset!r}.")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise LedgerError(f"The amount must be a positive int of base units, not {amount!r}.")
    if source.pk == destination.pk:
        raise LedgerError("A transfer needs two different accounts.")
    if reason not in Entry.Reason.values:
        raise LedgerError(f"Unknown reason {reason!r}.")


def _lock_balances(accounts: list[LedgerAccount], asset: str) -> dict[int, Balance]:
    """The accounts' Balance rows for `asset`, created if missing, locked in id order."""
    ids = []
    for account in sorted(accounts, key=lambda a: a.pk):
        balance, _ = Balance.objects.get_or_create(
            account=account, asset=asset, defaults={"may_go_negative": account.may_go_negative}
        )
        ids.append(balance.pk)
    # PostgreSQL locks the rows as they leave the sort, so in ascending id order.
    locked = Balance.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {balance.account_id: balance for balance in locked}


def _insert_entry(
    source: LedgerAccount,
    destination: LedgerAccount,
    asset: str,
    amount: int,
    reason: str,
    reference: str,
) -> Entry:
    fields = {"reason": reason, "reference": reference, "asset": asset}
    try:
        with transaction.atomic():  # a savepoint: the collision leaves the transaction usable
            return Entry.objects.create(
                source=source, destination=destination, amount=amount, **fields
            )
    except IntegrityError:
        # A concurrent retry through other balances (so not serialised by our locks) won.
        earlier = Entry.objects.filter(**fields).first()
        if earlier is None:
            raise
        return _replay(earlier, source, destination, amount)


def _replay(
    earlier: Entry, source: LedgerAccount, destination: LedgerAccount, amount: int
) -> Entry:
    same = (earlier.source_id, earlier.destination_id, earlier.amount) == (
        source.pk,
        destination.pk,
        amount,
    )
    if not same:
        raise EntryConflict(
            f"{earlier.reason} {earlier.reference} {earlier.asset} is already recorded as "
            f"{earlier.source} -> {earlier.destination} {earlier.amount}."
        )
    return earlier


def balances_of(user: User) -> dict[str, int]:
    """The user's balance of every ledger asset in base units (0 where they never had any)."""
    held = dict(
        Balance.objects.filter(account__user=user).values_list("asset", "amount").order_by()
    )
    return {asset: held.get(asset, 0) for asset in LEDGER_ASSETS}


def ledger_supply() -> dict[str, int]:
    """Pegged tokens in circulation per asset: minus the issuance account's balance."""
    issued = dict(
        Balance.objects.filter(account__system=LedgerAccount.System.ISSUANCE)
        .values_list("asset", "amount")
        .order_by()
    )
    return {asset: -issued.get(asset, 0) for asset in LEDGER_ASSETS}


def ledger_liabilities() -> dict[str, int]:
    """Per asset, what the users hold: the sum of positive user balances only. A negative
    balance (a clawback's receivable) is never netted against the others."""
    held = (
        Balance.objects.filter(account__user__isnull=False, amount__gt=0)
        .values("asset")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals = {row["asset"]: row["total"] for row in held}
    return {asset: totals.get(asset, 0) for asset in LEDGER_ASSETS}


def ledger_receivables() -> dict[str, int]:
    """Per asset, what users owe after clawbacks: minus the sum of negative user balances."""
    owed = (
        Balance.objects.filter(account__user__isnull=False, amount__lt=0)
        .values("asset")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals = {row["asset"]: -row["total"] for row in owed}
    return {asset: totals.get(asset, 0) for asset in LEDGER_ASSETS}


def ledger_check() -> list[str]:
    """Every broken ledger invariant, as a sentence; empty when the ledger is sound.

    Each check is one SQL statement, so it reads one consistent snapshot even while transfers
    commit around it.
    """
    return _unbalanced_assets() + _balances_off_their_entries() + _negative_balances()


def _unbalanced_assets() -> list[str]:
    totals = (
        Balance.objects.values("asset").annotate(total=Sum("amount")).exclude(total=0).order_by()
    )
    return [f"{row['asset']} balances sum to {row['total']}, not 0" for row in totals]


# Per (account, asset): the stored balance against credits - debits of its entries, listing
# only the pairs that differ (a pair with entries but no Balance row counts as balance 0).
_BALANCES_OFF_ENTRIES = """
WITH flows AS (
    SELECT destination_id AS account_id, asset, amount FROM {entry}
    UNION ALL
    SELECT source_id, asset, -amount FROM {entry}
), sums AS (
    SELECT account_id, asset, SUM(amount) AS total FROM flows GROUP BY account_id, asset
)
SELECT COALESCE(b.account_id, s.account_id), COALESCE(b.asset, s.asset),
       COALESCE(b.amount, 0), COALESCE(s.total, 0)
FROM {balance} b FULL OUTER JOIN sums s ON b.account_id = s.account_id AND b.asset = s.asset
WHERE COALESCE(b.amount, 0) <> COALESCE(s.total, 0)
ORDER BY 1, 2
"""


def _balances_off_their_entries() -> list[str]:
    sql = _BALANCES_OFF_ENTRIES.format(
        entry=connection.ops.quote_name(Entry._meta.db_table),
        balance=connection.ops.quote_name(Balance._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    return [
        f"account {account_id} {asset} balance {balance} != entries {total}"
        for account_id, asset, balance, total in rows
    ]


def _negative_balances() -> list[str]:
    # A user's balance a clawback took below zero is a receivable (ledger_receivables).
    clawed_back = Entry.objects.filter(
        source=OuterRef("account"), asset=OuterRef("asset"), reason=Entry.Reason.CLAWBACK
    )
    negative = (
        Balance.objects.filter(amount__lt=0)
        .exclude(account__system__in=[LedgerAccount.System.ISSUANCE, LedgerAccount.System.FEE_POOL])
        .exclude(Exists(clawed_back))
        .select_related("account")
    )
    return [f"{b.account} has a negative {b.asset} balance {b.amount}" for b in negative]


def ledger_fee_pool() -> dict[str, int]:
    """Per asset, the fee pool's balance: quoted withdrawal fees less the network fees paid
    (the federation's own money; negative when it paid more than it charged)."""
    held = dict(
        Balance.objects.filter(account__system=LedgerAccount.System.FEE_POOL)
        .values_list("asset", "amount")
        .order_by()
    )
    return {asset: held.get(asset, 0) for asset in LEDGER_ASSETS}
