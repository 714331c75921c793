"""What the deposits page shows of Hive deposits (read from the database, never the node)."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from chains.hive.transfers import memo_for
from rates.assets import amount_format
from sidechains.hive.deposits import PAIRS
from sidechains.models import HiveDeposit

PAGE_ROWS = 50


@dataclass(frozen=True)
class HiveDepositRow:
    deposit: HiveDeposit
    amount: str
    credited: str


def _row(deposit: HiveDeposit) -> HiveDepositRow:
    pair = PAIRS.get(deposit.asset)
    if pair is None:
        return HiveDepositRow(deposit, f"{deposit.amount} units of {deposit.asset}", "")
    credited = deposit.credited_amount
    return HiveDepositRow(
        deposit=deposit,
        amount=amount_format(deposit.amount, pair.sidechain_asset),
        credited="" if credited is None else amount_format(credited, pair.pegged_asset),
    )


def hive_deposits_context(user: User) -> dict[str, Any]:
    mine = HiveDeposit.objects.for_user(user)[:PAGE_ROWS]
    return {
        "hive_rows": [_row(deposit) for deposit in mine],
        "hive_memo": memo_for(user.get_username()),
        "hive_federation_account": settings.HIVE_FEDERATION_ACCOUNT,
    }
