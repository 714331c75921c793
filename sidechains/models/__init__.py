from sidechains.models.deposits import Alert, ChainCursor, Deposit, DepositEvent, Refund, RescanJob
from sidechains.models.hive import (
    HiveDeposit,
    HiveDepositEvent,
    HivePayout,
    HiveSignature,
    HiveTransaction,
)
from sidechains.models.mempool import MempoolDeposit
from sidechains.models.reserves import CircuitBreaker, ReservesCheck
from sidechains.models.transactions import (
    Coin,
    CoinEvent,
    SidechainTransaction,
    SidechainTransactionEvent,
    SignerRefusal,
    TxInput,
    TxSignature,
    UnspendableKind,
)
from sidechains.models.withdrawals import Withdrawal, WithdrawalEvent

__all__ = [
    "Alert",
    "ChainCursor",
    "CircuitBreaker",
    "Coin",
    "CoinEvent",
    "Deposit",
    "DepositEvent",
    "HiveDeposit",
    "MempoolDeposit",
    "HiveDepositEvent",
    "HivePayout",
    "HiveSignature",
    "HiveTransaction",
    "Refund",
    "ReservesCheck",
    "RescanJob",
    "SidechainTransaction",
    "SidechainTransactionEvent",
    "SignerRefusal",
    "TxInput",
    "TxSignature",
    "UnspendableKind",
    "Withdrawal",
    "WithdrawalEvent",
]
