"""The one transition function of each of the pipelines' state machines (docs/architecture.md).

Each is a conditional UPDATE with a row-count check that also writes the audit row (DepositEvent,
WithdrawalEvent, CoinEvent, SidechainTransactionEvent); call them inside a transaction.
"""

from typing import Any

from core.transitions import transition
from sidechains.models import (
    Coin,
    CoinEvent,
    Deposit,
    DepositEvent,
    SidechainTransaction,
    SidechainTransactionEvent,
    Withdrawal,
    WithdrawalEvent,
)


def deposit_transition(pk: int, old: str, new: str, note: str, **fields: Any) -> bool:
    """A deposit's status change; the note is kept on the row too (why it stands there)."""
    note = note[:200]
    return transition(
        Deposit,
        pk,
        old,
        new,
        event=DepositEvent,
        owner="deposit",
        event_note=note,
        note=note,
        **fields,
    )


def withdrawal_transition(pk: int, old: str, new: str, event_note: str = "", **fields: Any) -> bool:
    return transition(
        Withdrawal,
        pk,
        old,
        new,
        event=WithdrawalEvent,
        owner="withdrawal",
        event_note=event_note,
        **fields,
    )


def coin_transition(pk: int, old: str, new: str, event_note: str = "", **fields: Any) -> bool:
    return transition(
        Coin, pk, old, new, event=CoinEvent, owner="coin", event_note=event_note, **fields
    )


def sidechain_tx_transition(
    pk: int, old: str, new: str, event_note: str = "", **fields: Any
) -> bool:
    return transition(
        SidechainTransaction,
        pk,
        old,
        new,
        event=SidechainTransactionEvent,
        owner="sidechain_tx",
        event_note=event_note,
        **fields,
    )


def coin_created(coin: Coin, note: str) -> Coin:
    """The audit row of a coin's first status."""
    CoinEvent.objects.create(coin=coin, new_status=coin.status, note=note[:200])
    return coin


def sidechain_tx_created(stx: SidechainTransaction, note: str) -> SidechainTransaction:
    """The audit row of a transaction's first status (built, awaiting signatures)."""
    SidechainTransactionEvent.objects.create(sidechain_tx=stx, new_status=stx.status, note=note)
    return stx
