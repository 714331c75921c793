from sidechains.models.deposits import Alert, ChainCursor, Deposit, DepositEvent, Refund, RescanJob
from sidechains.models.withdrawals import (
    Coin,
    SidechainTransaction,
    SignerRefusal,
    TxInput,
    TxSignature,
    Withdrawal,
    WithdrawalEvent,
)

__all__ = [
    "Alert",
    "ChainCursor",
    "Coin",
    "Deposit",
    "DepositEvent",
    "Refund",
    "RescanJob",
    "SidechainTransaction",
    "SignerRefusal",
    "TxInput",
    "TxSignature",
    "Withdrawal",
    "WithdrawalEvent",
]
