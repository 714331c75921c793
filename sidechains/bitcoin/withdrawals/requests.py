"""A user's withdrawal request: every rule in one place (the preview, the API and the request
share withdrawal_quote), the escrow, and the ways a request ends without being paid: failed
(escrow returned) or held for review."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.second_factor import has_second_factor
from audit.services import audit_record, audit_target
from chains.bitcoin.addresses import AddressError
from chains.bitcoin.fees import DUST_LIMIT
from ledger.models import Entry, LedgerAccount
from ledger.services import (
    balances_of,
    ledger_account_for,
    ledger_lock,
    ledger_transfer,
    system_account,
)
from mappings.destinations import withdraw_destination
from mappings.models import SidechainAddress
from rates.assets import Asset, Pair, amount_format, max_amount
from rates.conversion import to_sidechain
from rates.models import ExchangeRate, rate_in_force
from sidechains.bitcoin.withdrawals.errors import (
    SecondFactorRequired,
    WithdrawalAddressError,
    WithdrawalError,
)
from sidechains.bitcoin.withdrawals.fees import FeeQuote, fee_quote_read
from sidechains.models import Deposit, Withdrawal, WithdrawalEvent
from sidechains.transitions import withdrawal_transition
from sons.models import Sidechain

log = logging.getLogger(__name__)


def withdrawal_mapping(user: User) -> SidechainAddress | None:
    """The row withdrawals pay: the active one, or the previous one while a change cools down."""
    rows = SidechainAddress.objects.for_user(user).for_chain(Sidechain.BITCOIN)
    return rows.withdrawal_target(timezone.now())


@dataclass(frozen=True)
class WithdrawalQuote:
    """What a withdrawal of amount_pegged pBTC would be, by every rule a request checks."""

    amount_pegged: int
    rate: Decimal
    amount: int  # satoshi, before the fee
    address: str
    balance: int  # the user's pBTC


def withdrawal_quote(
    *, user: User, amount_pegged: int, balance: int | None = None
) -> WithdrawalQuote:
    """Every rule of a withdrawal request, in one place (the preview, the API and
    withdrawal_request call it); WithdrawalError with a message for the user. `balance` is the
    user's pBTC as read under the ledger's lock; by default it is read now."""
    _check_amount(amount_pegged)
    address = _destination(user)
    rate = _rate()
    amount = to_sidechain(amount_pegged, rate, Pair.BTC_PBTC)
    _check_value(amount_pegged, amount)
    if balance is None:
        balance = balances_of(user)[Asset.PBTC]
    _check_balance(user, amount_pegged, balance)
    return WithdrawalQuote(amount_pegged, rate, amount, address, balance)


def _check_balance(user: User, amount_pegged: int, balance: int) -> None:
    """Enough pBTC, and none of it owed back or in doubt after a reorg."""
    if balance < 0:
        raise WithdrawalError(
            f"Your pBTC balance is negative ({amount_format(balance, Asset.PBTC)}): a credited "
            "deposit was clawed back (see Deposits). Withdrawals are refused until your balance "
            "is above zero again."
        )
    if Deposit.objects.for_user(user).filter(status=Deposit.Status.REORGED).exists():
        raise WithdrawalError(
            "A credited deposit of yours left the best chain (see Deposits): withdrawals wait "
            "until it is mined again or its credit is clawed back."
        )
    if amount_pegged > balance:
        raise WithdrawalError(
            f"Your balance, {amount_format(balance, Asset.PBTC)}, is less than "
            f"{amount_format(amount_pegged, Asset.PBTC)}."
        )


def _check_amount(amount_pegged: int) -> None:
    if isinstance(amount_pegged, bool) or not isinstance(amount_pegged, int) or amount_pegged <= 0:
        raise WithdrawalError("Enter an amount greater than zero.")
    if amount_pegged > max_amount(Asset.PBTC):
        largest = amount_format(max_amount(Asset.PBTC), Asset.PBTC)
        raise WithdrawalError(f"The largest withdrawal is {largest}.")


def _destination(user: User) -> str:
    """The user's registered withdraw address, if today's rules let the portal pay it."""
    mapping = withdrawal_mapping(user)
    if mapping is None:
        raise WithdrawalAddressError("Register a Bitcoin withdraw address (Addresses) first.")
    try:
        withdraw_destination(mapping.withdraw_address)
    except AddressError as e:
        raise WithdrawalAddressError(
            f"Your withdraw address cannot be paid: {e} Register another one (Addresses)."
        ) from None
    return mapping.withdraw_address


def _check_value(amount_pegged: int, amount: int) -> None:
    minimum = settings.BITCOIN_WITHDRAWAL_MINIMUM
    if amount < minimum:
        raise WithdrawalError(
            f"The minimum withdrawal is {amount_format(minimum, Asset.BTC)}; "
            f"{amount_format(amount_pegged, Asset.PBTC)} is worth "
            f"{amount_format(amount, Asset.BTC)}."
        )
    if amount > max_amount(Asset.BTC):  # a tiny rate: more than a bigint should ever hold
        raise WithdrawalError(
            f"{amount_format(amount_pegged, Asset.PBTC)} is worth more than "
            f"{amount_format(max_amount(Asset.BTC), Asset.BTC)}."
        )


NEEDS_SECOND_FACTOR = (
    "Withdrawing needs a second factor: add one under Account settings, Two-factor "
    "authentication, then come back."
)


def withdrawal_request(
    *, user: User, amount_pegged: int, request_id: str, quote: str | None = None
) -> Withdrawal:
    """Escrow `amount_pegged` pBTC of the user's and record a withdrawal to their registered
    withdraw address, charged the fee of `quote` (a token of fee_quote_make; without one, the
    share of its batch's fee). The user must have a second factor, whoever calls. Every rule
    (withdrawal_quote) passes before any row is written, the balance under the ledger's lock.
    A request_id seen before returns that first withdrawal."""
    earlier = _earlier(user, request_id)
    if earlier is not None:
        return earlier
    if not has_second_factor(user):
        raise SecondFactorRequired(NEEDS_SECOND_FACTOR)
    fee = None if quote is None else fee_quote_read(user=user, token=quote)
    return _request(user, amount_pegged, request_id, fee)


def withdrawal_request_again(*, withdrawal: Withdrawal, request_id: str) -> Withdrawal:
    """The portal requests a failed withdrawal again for its user (a transaction no node ever
    held, docs/withdrawals.md): the same amount and the same fee charged, on the user's
    original authority (their second factor and quote were checked then)."""
    earlier = _earlier(withdrawal.user, request_id)
    if earlier is not None:
        return earlier
    fee = None
    if withdrawal.fee_quote_expires_at is not None:
        fee = FeeQuote(withdrawal.fee_share, withdrawal.fee_quote_expires_at, "")
    return _request(withdrawal.user, withdrawal.amount_pegged, request_id, fee)


def _request(user: User, amount_pegged: int, request_id: str, fee: FeeQuote | None) -> Withdrawal:
    # Refuse what is refused anyway before taking the escrow account's lock, which every
    # request shares.
    _check_fee(withdrawal_quote(user=user, amount_pegged=amount_pegged), fee)
    try:
        return _escrow(user, amount_pegged, request_id, fee)
    except IntegrityError:
        earlier = _earlier(user, request_id)
        if earlier is None:
            raise
        return earlier  # a concurrent replay committed first


def _check_fee(quote: WithdrawalQuote, fee: FeeQuote | None) -> None:
    if fee is not None and quote.amount - fee.fee < DUST_LIMIT:
        raise WithdrawalError(
            f"This amount is too small to pay its fee ({amount_format(fee.fee, Asset.BTC)})."
        )


def _earlier(user: User, request_id: str) -> Withdrawal | None:
    return Withdrawal.objects.filter(user=user, request_id=request_id).first()


def _rate() -> Decimal:
    try:
        return rate_in_force(Pair.BTC_PBTC).rate
    except ExchangeRate.DoesNotExist:
        raise WithdrawalError("There is no BTC/pBTC rate yet.") from None


@transaction.atomic
def _escrow(user: User, amount_pegged: int, request_id: str, fee: FeeQuote | None) -> Withdrawal:
    source = ledger_account_for(user)
    escrow = system_account(LedgerAccount.System.SON_ACCOUNT)
    held = ledger_lock(accounts=[source, escrow], asset=Asset.PBTC)
    earlier = _earlier(user, request_id)  # committed while this request waited for the lock
    if earlier is not None:
        return earlier
    quote = withdrawal_quote(user=user, amount_pegged=amount_pegged, balance=held[source.pk])
    _check_fee(quote, fee)
    withdrawal = Withdrawal.objects.create(
        user=user,
        amount_pegged=amount_pegged,
        rate=quote.rate,
        amount=quote.amount,
        address=quote.address,
        request_id=request_id,
        fee_share=0 if fee is None else fee.fee,
        fee_quote_expires_at=None if fee is None else fee.expires_at,
    )
    ledger_transfer(
        source=source,
        destination=escrow,
        asset=Asset.PBTC,
        amount=amount_pegged,
        reason=Entry.Reason.WITHDRAWAL_ESCROW,
        reference=f"withdrawal:{withdrawal.pk}",
    )
    WithdrawalEvent.objects.create(
        withdrawal=withdrawal, new_status=Withdrawal.Status.REQUESTED, note="escrowed"
    )
    return withdrawal


@transaction.atomic
def withdrawal_fail(
    *, withdrawal: Withdrawal, reason: str, by: User | AnonymousUser | None = None
) -> Withdrawal:
    """requested or held -> failed, returning the escrow to the user. A withdrawal already in
    a transaction cannot fail this way (the signers' journals hold its payout). `by`: the
    person who failed it (None: the portal); the audit log records who and why."""
    reason = reason[:200]
    moved = False
    for old in (Withdrawal.Status.REQUESTED, Withdrawal.Status.HELD):
        if withdrawal_transition(
            withdrawal.pk,
            old,
            Withdrawal.Status.FAILED,
            reason,
            failure_reason=reason,
            failed_at=timezone.now(),
        ):
            moved = True
            break
    withdrawal.refresh_from_db()
    if not moved:
        if withdrawal.status == Withdrawal.Status.FAILED:
            return withdrawal
        raise WithdrawalError(f"Withdrawal {withdrawal.pk} is {withdrawal.status}: it cannot fail.")
    withdrawal_return_escrow(withdrawal)
    audit_record(
        actor=by, action="withdrawal.failed", target=audit_target(withdrawal), reason=reason
    )
    return withdrawal


def withdrawal_hold(*, withdrawal: Withdrawal, reason: str) -> bool:
    """requested -> held for review, with the reason as its note: it is not paid, and keeps
    its escrow until an operator fails it (withdrawal_fail). False if it was not requested."""
    note = reason[:200]
    held = withdrawal_transition(
        withdrawal.pk, Withdrawal.Status.REQUESTED, Withdrawal.Status.HELD, note, note=note
    )
    if held:
        log.warning("withdrawal %s held for review: %s", withdrawal.pk, reason)
    return held


def withdrawal_return_escrow(withdrawal: Withdrawal) -> None:
    """The escrow back to the user (a failed withdrawal; the caller's transaction)."""
    ledger_transfer(
        source=system_account(LedgerAccount.System.SON_ACCOUNT),
        destination=ledger_account_for(withdrawal.user),
        asset=Asset.PBTC,
        amount=withdrawal.amount_pegged,
        reason=Entry.Reason.WITHDRAWAL_RETURN,
        reference=f"withdrawal:{withdrawal.pk}",
    )
