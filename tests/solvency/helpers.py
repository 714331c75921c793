"""Balances for the solvency tests, through the ledger (one user) or in bulk (thousands)."""

from django.contrib.auth import get_user_model

from ledger.models import Balance, Entry, LedgerAccount
from ledger.services import ledger_account_for, ledger_transfer, system_account

User = get_user_model()


def credit(user, asset: str, amount: int, label: str = "test") -> None:
    """Pegged tokens for a user straight from issuance (the deposit flow has its own tests)."""
    ledger_transfer(
        source=system_account(LedgerAccount.System.ISSUANCE),
        destination=ledger_account_for(user),
        asset=asset,
        amount=amount,
        reason=Entry.Reason.DEPOSIT,
        reference=f"deposit:{label}:{user.pk}:{asset}",
    )


def many_users(n: int, amount_of) -> list[LedgerAccount]:
    """n users with ledger accounts and balances amount_of(i) -> {asset: amount}, inserted in
    bulk (thousands of deposits one by one would take minutes); issuance balances them."""
    users = User.objects.bulk_create(
        [User(username=f"holder_{i}", password="!") for i in range(n)], batch_size=2000
    )
    accounts = LedgerAccount.objects.bulk_create(
        [LedgerAccount(user=u) for u in users], batch_size=2000
    )
    balances, supply = [], {}
    for i, account in enumerate(accounts):
        for asset, amount in amount_of(i).items():
            balances.append(Balance(account=account, asset=asset, amount=amount))
            supply[asset] = supply.get(asset, 0) + amount
    Balance.objects.bulk_create(balances, batch_size=5000)
    issuance = system_account(LedgerAccount.System.ISSUANCE)
    Balance.objects.bulk_create(
        [
            Balance(account=issuance, asset=asset, amount=-total, may_go_negative=True)
            for asset, total in supply.items()
        ]
    )
    return accounts
