"""A user's pHIVE / pHBD withdrawal request: the rules, the escrow, failure (escrow returned).

The destination is the user's verified Hive account (the active Hive mapping, which exists only
after proof of control). Hive transfers carry no fee, so the user receives the whole amount at
the rate in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.second_factor import has_second_factor
from ledger.models import Entry, LedgerAccount
from ledger.services import balances_of, ledger_account_for, ledger_lock, ledger_transfer
from ledger.services import system_account as ledger_system_account
from mappings.models import SidechainAddress
from rates.assets import Asset, Pair, amount_format, max_amount
from rates.conversion import to_sidechain
from rates.models import ExchangeRate, rate_in_force
from sidechains.models import Withdrawal, WithdrawalEvent
from sidechains.transitions import withdrawal_transition
from sons.models import Sidechain

# The pegged token withdrawn -> the pair, and the Hive asset paid.
PEGGED = {Asset.PHIVE: Pair.HIVE_PHIVE, Asset.PHBD: Pair.HBD_PHBD}


class HiveWithdrawalError(Exception):
    """A request the rules refuse; str() is a message for the user."""


@dataclass(frozen=True)
class HiveQuote:
    pegged: Asset
    amount_pegged: int
    rate: Decimal
    amount: int  # 0.001 units of HIVE or HBD paid
    account: str
    fee: int  # always 0: Hive transfers have no fee


def hive_withdrawal_quote(
    *, user: User, pegged: str, amount_pegged: int, balance: int | None = None
) -> HiveQuote:
    if pegged not in PEGGED:
        raise HiveWithdrawalError("Choose pHIVE or pHBD.")
    asset, pair = Asset(pegged), PEGGED[Asset(pegged)]
    if isinstance(amount_pegged, bool) or not isinstance(amount_pegged, int) or amount_pegged <= 0:
        raise HiveWithdrawalError("Enter an amount greater than zero.")
    if amount_pegged > max_amount(asset):
        raise HiveWithdrawalError(
            f"The largest withdrawal is {amount_format(max_amount(asset), asset)}."
        )
    # While a confirmed change of account cools down, withdrawals pay the account before it.
    mapping = (
        SidechainAddress.objects.for_user(user)
        .for_chain(Sidechain.HIVE)
        .withdrawal_target(timezone.now())
    )
    if mapping is None:
        raise HiveWithdrawalError("Register and verify your Hive account first.")
    try:
        rate = rate_in_force(pair).rate
    except ExchangeRate.DoesNotExist:
        raise HiveWithdrawalError(f"There is no {pair.value} rate yet.") from None
    amount = to_sidechain(amount_pegged, rate, pair)
    if amount < settings.HIVE_WITHDRAWAL_MINIMUM:
        least = amount_format(settings.HIVE_WITHDRAWAL_MINIMUM, pair.sidechain_asset)
        raise HiveWithdrawalError(f"The smallest withdrawal pays {least}.")
    held = balances_of(user).get(asset, 0) if balance is None else balance
    if amount_pegged > held:
        raise HiveWithdrawalError(
            f"Your balance, {amount_format(held, asset)}, is less than "
            f"{amount_format(amount_pegged, asset)}."
        )
    return HiveQuote(asset, amount_pegged, rate, amount, mapping.hive_account, 0)


def hive_withdrawal_request(
    *, user: User, pegged: str, amount_pegged: int, request_id: str
) -> Withdrawal:
    """Escrow the amount and record the withdrawal; a request_id seen before returns the first
    withdrawal. Every rule passes before a row is written (the balance under the ledger lock)."""
    earlier = Withdrawal.objects.filter(user=user, request_id=request_id).first()
    if earlier is not None:
        return earlier
    if not has_second_factor(user):  # checked here, so that no caller can skip it
        raise HiveWithdrawalError(
            "Withdrawing needs a second factor: add one under Account settings, Two-factor "
            "authentication, then come back."
        )
    hive_withdrawal_quote(user=user, pegged=pegged, amount_pegged=amount_pegged)
    try:
        return _escrow(user, pegged, amount_pegged, request_id)
    except IntegrityError:
        earlier = Withdrawal.objects.filter(user=user, request_id=request_id).first()
        if earlier is None:
            raise
        return earlier


@transaction.atomic
def _escrow(user: User, pegged: str, amount_pegged: int, request_id: str) -> Withdrawal:
    source = ledger_account_for(user)
    escrow = ledger_system_account(LedgerAccount.System.SON_ACCOUNT)
    held = ledger_lock(accounts=[source, escrow], asset=pegged)
    earlier = Withdrawal.objects.filter(user=user, request_id=request_id).first()
    if earlier is not None:
        return earlier
    quote = hive_withdrawal_quote(
        user=user, pegged=pegged, amount_pegged=amount_pegged, balance=held[source.pk]
    )
    withdrawal = Withdrawal.objects.create(
        user=user,
        chain=Sidechain.HIVE,
        asset=PEGGED[quote.pegged].sidechain_asset,
        amount_pegged=amount_pegged,
        rate=quote.rate,
        amount=quote.amount,
        address=quote.account,
        request_id=request_id,
    )
    ledger_transfer(
        source=source,
        destination=escrow,
        asset=pegged,
        amount=amount_pegged,
        reason=Entry.Reason.WITHDRAWAL_ESCROW,
        reference=f"withdrawal:{withdrawal.pk}",
    )
    WithdrawalEvent.objects.create(
        withdrawal=withdrawal, new_status=Withdrawal.Status.REQUESTED, note="escrowed"
    )
    return withdrawal


def pegged_of(withdrawal: Withdrawal) -> Asset:
    return Asset.PHIVE if withdrawal.asset == Asset.HIVE else Asset.PHBD


def hive_withdrawal_fail(*, withdrawal: Withdrawal, old: str, reason: str) -> bool:
    """old -> failed with the escrow back to the user (the caller's transaction)."""
    moved = withdrawal_transition(
        withdrawal.pk,
        old,
        Withdrawal.Status.FAILED,
        reason[:200],
        failure_reason=reason[:200],
        failed_at=timezone.now(),
    )
    if moved:
        ledger_transfer(
            source=ledger_system_account(LedgerAccount.System.SON_ACCOUNT),
            destination=ledger_account_for(withdrawal.user),
            asset=pegged_of(withdrawal),
            amount=withdrawal.amount_pegged,
            reason=Entry.Reason.WITHDRAWAL_RETURN,
            reference=f"withdrawal:{withdrawal.pk}",
        )
    return moved


def hive_withdrawal_settle(*, withdrawal: Withdrawal, note: str) -> bool:
    """broadcast -> settled, burning the escrow (the caller's transaction)."""
    moved = withdrawal_transition(
        withdrawal.pk,
        Withdrawal.Status.BROADCAST,
        Withdrawal.Status.SETTLED,
        note,
        settled_at=timezone.now(),
    )
    if moved:
        ledger_transfer(
            source=ledger_system_account(LedgerAccount.System.SON_ACCOUNT),
            destination=ledger_system_account(LedgerAccount.System.ISSUANCE),
            asset=pegged_of(withdrawal),
            amount=withdrawal.amount_pegged,
            reason=Entry.Reason.WITHDRAWAL_BURN,
            reference=f"withdrawal:{withdrawal.pk}",
        )
    return moved
